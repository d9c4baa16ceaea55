// Package options holds the exporter's flags: one Options value, bound to a
// kingpin application by AddFlags, its defaults that depend on other flags
// resolved by Resolve (the demo's an explicit overlay), checked by Validate.
// The run, --check and the demo read it; nothing else holds a flag.
package options

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/rest"
	"github.com/assuresign-exporter/assuresign_exporter/internal/check"
	"github.com/assuresign-exporter/assuresign_exporter/refresh"
	"github.com/assuresign-exporter/assuresign_exporter/server"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

const (
	// DefaultListen is the main listener's address, but for the demo's.
	DefaultListen = ":9865"
	// DemoListen keeps the demo off the network unless --web.listen-address says otherwise.
	DemoListen = "127.0.0.1:9865"
	// ContextEnv holds the account's ContextIdentifier when no file is given.
	ContextEnv = "ASSURESIGN_CONTEXT_IDENTIFIER"
	// The REST API's credentials (--assuresign.api=rest): the API user, the
	// user it acts as, and its key unless --assuresign.rest.api-key-file
	// gives it.
	APIUsernameEnv     = "ASSURESIGN_API_USERNAME"
	ContextUsernameEnv = "ASSURESIGN_CONTEXT_USERNAME"
	APIKeyEnv          = "ASSURESIGN_API_KEY" //nolint:gosec // G101: a variable's name, not a key
)

// Options are the flags' values.
type Options struct {
	WatchFiles           []string
	MaxDocuments         int
	MaxEnvelopeDocuments int
	WatchPoll            time.Duration

	// API is --assuresign.api: a key of apis.
	API string
	// REST is the REST API's URLs and key file; its credentials are filled
	// in by RESTCredentials (or by the demo).
	REST RESTOptions

	Endpoint          string
	EnvelopesEndpoint string
	ContextFile       string
	BatchSize         int
	Concurrency       int
	RequestTimeout    time.Duration
	MaxRetries        int
	MaxResponseBytes  int64

	RefreshInterval, MaxInterval, TerminalInterval time.Duration

	WebhookTokenFile string
	WebhookListen    string
	WebhookWebConfig string
	ShardURLTemplate string

	// DocumentTRAK's trust: see refresh.PushConfig.
	NotifiedStatuses  string
	HealthWindow      time.Duration
	ReconcileInterval time.Duration

	TotalShards int
	Shard       string

	PersistenceFile     string
	PersistenceInterval time.Duration

	StuckAfter        time.Duration
	MetricsPath       string
	CurrentStatusOnly bool
	Check             bool
	CheckOutput       string
	Demo              bool

	// Web is the main listener's exporter-toolkit flags.
	Web *web.FlagConfig
	Log promslog.Config

	// Which defaults the user overrode: the demo's overlay and the
	// max-interval's resolution keep those.
	listenSet, refreshSet, terminalSet, maxIntervalSet, healthWindowSet, reconcileSet bool
}

// AddFlags binds every flag of the exporter to a new Options.
func AddFlags(app *kingpin.Application) *Options {
	o := &Options{}
	app.Flag("watch.file", "YAML file listing documents to watch, or a glob pattern matching such files (repeatable; they hold AuthTokens: keep them mode 0600).").StringsVar(&o.WatchFiles)
	app.Flag("watch.max-documents", "Most documents the watch files may list, all together; envelopes' listed documents count once per envelope listing them.").Default("10000").IntVar(&o.MaxDocuments)
	app.Flag("watch.max-envelope-documents", "Most documents one envelope's listing may hold; a listing with more is refused.").Default("100").IntVar(&o.MaxEnvelopeDocuments)
	app.Flag("watch.poll-interval", "How often to look for changed, new or removed watch files (follows Kubernetes' symlink swaps).").Default("10s").DurationVar(&o.WatchPoll)

	app.Flag("assuresign.api", "The AssureSign API to ask: soap (the DocumentNOW SOAP services: CheckStatus, ListEnvelopeDocuments) or rest (the DocumentNOW v3.7 REST API, with an API user: see docs/rest-api.md).").Default(APISOAP).EnumVar(&o.API, APINames()...)
	app.Flag("assuresign.rest.url", "With --assuresign.api=rest: the REST API's base URL; pick the host of the account's region.").Default(rest.DefaultBaseURL).StringVar(&o.REST.BaseURL)
	app.Flag("assuresign.rest.auth-url", "With --assuresign.api=rest: the URL API-user tokens come from; pick the host of the account's region.").Default(rest.DefaultAuthURL).StringVar(&o.REST.AuthURL)
	app.Flag("assuresign.rest.api-key-file", "With --assuresign.api=rest: file holding the API user's key; else $"+APIKeyEnv+" is used.").StringVar(&o.REST.APIKeyFile)
	app.Flag("assuresign.endpoint", "Full URL of the CheckStatus endpoint: pick the host of the account's region.").Default(assuresign.DefaultEndpoint).StringVar(&o.Endpoint)
	app.Flag("assuresign.envelopes-endpoint", "Full URL of the Envelopes endpoint, for the watch files' envelopes (ListEnvelopeDocuments); empty: --assuresign.endpoint's scheme and host with path "+assuresign.DefaultEnvelopesPath+".").StringVar(&o.EnvelopesEndpoint)
	app.Flag("assuresign.context-identifier-file", "File holding the account's ContextIdentifier; else $"+ContextEnv+" is used.").StringVar(&o.ContextFile)
	app.Flag("assuresign.batch-size", "Documents per CheckStatus request (the REST API asks about one envelope a request).").Default("50").IntVar(&o.BatchSize)
	app.Flag("assuresign.concurrency", "Status requests in flight at once, and as many envelope listings beside them.").Default("2").IntVar(&o.Concurrency)
	app.Flag("assuresign.timeout", "Time allowed for one request to AssureSign (a status request or an envelope listing), retries included.").Default("30s").DurationVar(&o.RequestTimeout)
	app.Flag("assuresign.max-retries", "Retries of a request to AssureSign after a transient failure (0 for none).").Default("3").IntVar(&o.MaxRetries)
	app.Flag("assuresign.max-response-bytes", "Largest response body read from AssureSign.").Default(fmt.Sprint(assuresign.DefaultMaxBodyBytes)).Int64Var(&o.MaxResponseBytes)

	app.Flag("refresh.interval", "Time between scheduled refresh rounds (with a little jitter). --demo makes it 10s unless set.").Default("5m").IsSetByUser(&o.refreshSet).DurationVar(&o.RefreshInterval)
	app.Flag("refresh.max-interval", "Most time between checks of an open document that sits still: its interval doubles for each day without a change, from --refresh.interval up to this (equal to --refresh.interval: no backoff). Unless set, kept between --refresh.interval and --refresh.terminal-interval.").Default("1h").IsSetByUser(&o.maxIntervalSet).DurationVar(&o.MaxInterval)
	app.Flag("refresh.terminal-interval", "Time between checks of a document in a status that cannot change (Completed, Expired, Cancelled, Declined, Staled). --demo makes it 2m unless set.").Default("24h").IsSetByUser(&o.terminalSet).DurationVar(&o.TerminalInterval)

	app.Flag("webhook.bearer-token-file", "Enables POST /webhooks/documenttrak, guarded by the bearer token in this file.").StringVar(&o.WebhookTokenFile)
	app.Flag("webhook.listen-address", "Serve the webhook on its own address instead of the main one (to keep it outside the main listener's basic auth).").StringVar(&o.WebhookListen)
	app.Flag("webhook.web.config.file", "exporter-toolkit web config (TLS) for --webhook.listen-address.").StringVar(&o.WebhookWebConfig)
	app.Flag("webhook.shard-url-template", "Where to forward a notification for a document another shard owns; {shard} is replaced by the owner's number. Needed with the webhook when --total-shards is above 1.").StringVar(&o.ShardURLTemplate)

	app.Flag("webhook.notified-statuses", "Comma-separated statuses whose DocumentTRAK event the account has configured: a check that finds a change into one that no notification announced counts a missed change (empty: none is judged).").Default(statusList(refresh.DefaultNotifiedStatuses)).StringVar(&o.NotifiedStatuses)
	app.Flag("webhook.health-window", "DocumentTRAK is trusted while a notification arrived within this window and no missed change was found within it. --demo makes it 2m unless set.").Default("6h").IsSetByUser(&o.healthWindowSet).DurationVar(&o.HealthWindow)
	app.Flag("webhook.reconcile-interval", "Time between checks of an open document while DocumentTRAK is trusted (at least --refresh.max-interval); otherwise the normal schedule applies. --demo makes it 1m unless set.").Default("6h").IsSetByUser(&o.reconcileSet).DurationVar(&o.ReconcileInterval)

	app.Flag("total-shards", "Number of shards the watch list is split into; every shard reads the whole file.").Default("1").IntVar(&o.TotalShards)
	app.Flag("shard", "This process's shard, from 0: a number, or a name ending in -N (a StatefulSet pod's name) whose N is taken.").Default("0").StringVar(&o.Shard)

	app.Flag("persistence.file", "File to keep the documents' statuses and schedule in across restarts (empty: off). It holds no secret.").StringVar(&o.PersistenceFile)
	app.Flag("persistence.interval", "Least time between two writes of --persistence.file; it is also written at shutdown.").Default("1m").DurationVar(&o.PersistenceInterval)

	app.Flag("web.landing-page.stuck-after", "How long a document may sit in one signing step before the landing page lists it as stuck (the AssureSignDocumentStuck alert's threshold).").Default(server.DefaultStuckAfter.String()).DurationVar(&o.StuckAfter)
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&o.MetricsPath)
	app.Flag("metrics.current-status-only", "Export one assuresign_document_status series per document, for its current status, instead of a state set of nine (about 8.5 series per document instead of 16.5).").BoolVar(&o.CurrentStatusOnly)
	app.Flag("check", check.Help()).BoolVar(&o.Check)
	app.Flag("check.output", "What --check prints: table (for people; long texts cut) or json (for CI: every text in full, in the form docs/configuration.md documents).").Default(check.OutputTable).EnumVar(&o.CheckOutput, check.OutputTable, check.OutputJSON)
	app.Flag("demo", "Run against a built-in AssureSign simulator with generated documents; no account needed. Listens on "+DemoListen+" unless --web.listen-address is given, with the webhook on.").BoolVar(&o.Demo)

	o.Web = kingpinflag.AddFlags(app, DefaultListen)
	app.GetFlag("web.listen-address").IsSetByUser(&o.listenSet)
	promslogflag.AddFlags(app, &o.Log)
	return o
}

// Resolve settles the defaults that depend on other flags, so that a run
// and --check see the same values: the demo's overlay, then the max
// interval's.
func (o *Options) Resolve() {
	if o.Demo {
		o.applyDemoDefaults()
	}
	if !o.maxIntervalSet {
		// The default must not turn a valid --refresh.interval or
		// --refresh.terminal-interval into an error.
		o.MaxInterval = min(max(o.MaxInterval, o.RefreshInterval), o.TerminalInterval)
	}
	if o.Demo && !o.reconcileSet {
		o.ReconcileInterval = max(demoReconcile, o.MaxInterval)
	}
}

// The demo's DocumentTRAK trust: its missed change is found within a
// minute or two, and push is trusted again two minutes after it.
const demoReconcile, demoHealthWindow = time.Minute, 2 * time.Minute

// applyDemoDefaults makes the demo refresh fast and listen on loopback,
// unless the flags say otherwise.
func (o *Options) applyDemoDefaults() {
	if !o.listenSet && o.Web != nil {
		*o.Web.WebListenAddresses = []string{DemoListen}
	}
	if !o.refreshSet {
		o.RefreshInterval = 10 * time.Second
	}
	if !o.terminalSet {
		o.TerminalInterval = max(2*time.Minute, o.RefreshInterval)
	}
	if !o.maxIntervalSet {
		o.MaxInterval = demoReconcile // Resolve keeps it within the refresh and terminal intervals
	}
	if !o.healthWindowSet {
		o.HealthWindow = demoHealthWindow
	}
}

// Validate rejects flag values that cannot work, before anything starts.
func (o *Options) Validate() error {
	if err := o.checkAPI(); err != nil {
		return err
	}
	switch {
	case o.Check && o.Demo:
		return errors.New("--check takes --watch.file, not --demo")
	case len(o.WatchFiles) == 0 && !o.Demo:
		return errors.New("--watch.file is required (or try --demo)")
	case o.BatchSize < 1:
		return fmt.Errorf("--assuresign.batch-size must be at least 1, not %d", o.BatchSize)
	case o.Concurrency < 1:
		return fmt.Errorf("--assuresign.concurrency must be at least 1, not %d", o.Concurrency)
	case o.MaxDocuments < 1:
		return fmt.Errorf("--watch.max-documents must be at least 1, not %d", o.MaxDocuments)
	case o.MaxEnvelopeDocuments < 1:
		return fmt.Errorf("--watch.max-envelope-documents must be at least 1, not %d", o.MaxEnvelopeDocuments)
	case o.RefreshInterval < time.Second:
		return fmt.Errorf("--refresh.interval must be at least 1s, not %s", o.RefreshInterval)
	case o.TerminalInterval < o.RefreshInterval:
		return fmt.Errorf("--refresh.terminal-interval (%s) must not be shorter than --refresh.interval (%s)", o.TerminalInterval, o.RefreshInterval)
	case o.MaxInterval < o.RefreshInterval:
		return fmt.Errorf("--refresh.max-interval (%s) must not be shorter than --refresh.interval (%s)", o.MaxInterval, o.RefreshInterval)
	case o.MaxInterval > o.TerminalInterval:
		return fmt.Errorf("--refresh.max-interval (%s) must not be longer than --refresh.terminal-interval (%s)", o.MaxInterval, o.TerminalInterval)
	case o.MaxRetries < 0:
		return fmt.Errorf("--assuresign.max-retries must not be negative, not %d", o.MaxRetries)
	case o.RequestTimeout <= 0:
		return errors.New("--assuresign.timeout must be positive")
	case o.WatchPoll <= 0:
		// time.NewTicker panics on it.
		return fmt.Errorf("--watch.poll-interval must be positive, not %s", o.WatchPoll)
	case o.WebhookListen != "" && o.WebhookTokenFile == "" && !o.Demo: // the demo makes a token
		return errors.New("--webhook.listen-address needs --webhook.bearer-token-file")
	case o.WebhookWebConfig != "" && o.WebhookListen == "":
		// Otherwise the webhook would be served on the main listener, without the TLS asked for.
		return errors.New("--webhook.web.config.file needs --webhook.listen-address")
	case o.StuckAfter <= 0:
		return fmt.Errorf("--web.landing-page.stuck-after must be positive, not %s", o.StuckAfter)
	case o.Demo && o.TotalShards > 1:
		return errors.New("--demo runs one process: it takes no --total-shards")
	case o.PersistenceFile != "" && o.PersistenceInterval <= 0:
		return fmt.Errorf("--persistence.interval must be positive, not %s", o.PersistenceInterval)
	case o.TotalShards < 1:
		return fmt.Errorf("--total-shards must be at least 1, not %d", o.TotalShards)
	}
	n, err := o.ShardNumber()
	if err != nil {
		return err
	}
	if n >= o.TotalShards {
		return fmt.Errorf("--shard %d must be less than --total-shards (%d)", n, o.TotalShards)
	}
	if o.ShardURLTemplate != "" || (o.TotalShards > 1 && o.Webhook()) {
		if err := server.CheckShardURLTemplate(o.ShardURLTemplate); err != nil {
			return err
		}
	}
	if err := o.validatePush(); err != nil {
		return err
	}
	if err := watchlist.CheckPatterns(o.WatchFiles); err != nil {
		return err
	}
	return server.CheckMetricsPath(o.MetricsPath)
}

// ShardNumber reads --shard: a number, or a name ending in "-N" such as a
// StatefulSet pod's, so that --shard=$(POD_NAME) needs no per-pod manifest.
func (o *Options) ShardNumber() (int, error) {
	s := o.Shard
	i := strings.LastIndexByte(s, '-')
	digits := s[i+1:]
	n, err := strconv.Atoi(digits)
	if err != nil || i == 0 || digits != strconv.Itoa(n) {
		return 0, fmt.Errorf("--shard %q is neither a shard number nor a name ending in -N", s)
	}
	return n, nil
}

// ContextIdentifier takes the account's ContextIdentifier from
// --assuresign.context-identifier-file or the environment, never from a flag
// value (it would show in ps).
func (o *Options) ContextIdentifier() (string, error) {
	v, source := os.Getenv(ContextEnv), "$"+ContextEnv
	if o.ContextFile != "" {
		data, err := os.ReadFile(o.ContextFile)
		if err != nil {
			return "", fmt.Errorf("reading --assuresign.context-identifier-file: %w", err)
		}
		v, source = string(data), o.ContextFile
	}
	v = strings.TrimSpace(v)
	if v != "" && !assuresign.IsGUID(v) {
		return "", fmt.Errorf("the ContextIdentifier from %s is not a GUID", source)
	}
	return v, nil
}

// clientRetries is --assuresign.max-retries as the clients take it: the
// flag's 0 for none is their negative.
func (o *Options) clientRetries() int {
	if o.MaxRetries <= 0 {
		return -1
	}
	return o.MaxRetries
}

// Push is the refresher's view of DocumentTRAK from the flags.
func (o *Options) Push() refresh.PushConfig {
	statuses, _ := o.notifiedStatuses() // Validate has rejected a bad list
	return refresh.PushConfig{Enabled: o.Webhook(), NotifiedStatuses: statuses, HealthWindow: o.HealthWindow, ReconcileInterval: o.ReconcileInterval}
}

// Webhook says whether the DocumentTRAK webhook is on.
func (o *Options) Webhook() bool { return o.WebhookTokenFile != "" }

// validatePush checks the flags of DocumentTRAK's trust, which only the
// webhook reads.
func (o *Options) validatePush() error {
	if o.WebhookTokenFile == "" && !o.Demo {
		return nil
	}
	switch {
	case o.HealthWindow <= 0:
		return fmt.Errorf("--webhook.health-window must be positive, not %s", o.HealthWindow)
	case o.ReconcileInterval < o.MaxInterval:
		return fmt.Errorf("--webhook.reconcile-interval (%s) must not be shorter than --refresh.max-interval (%s)", o.ReconcileInterval, o.MaxInterval)
	}
	_, err := o.notifiedStatuses()
	return err
}

// notifiedStatuses reads --webhook.notified-statuses.
func (o *Options) notifiedStatuses() ([]assuresign.Status, error) {
	var out []assuresign.Status
	for name := range strings.SplitSeq(o.NotifiedStatuses, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		s := assuresign.ParseStatus(name)
		if s == assuresign.StatusUnknown {
			return nil, fmt.Errorf("--webhook.notified-statuses: %q is not a status (%s)", assuresign.Truncate(name, 64), statusList(assuresign.Statuses[:len(assuresign.Statuses)-1]))
		}
		out = append(out, s)
	}
	return out, nil
}

// statusList joins statuses with commas.
func statusList(statuses []assuresign.Status) string {
	names := make([]string, len(statuses))
	for i, s := range statuses {
		names[i] = s.String()
	}
	return strings.Join(names, ",")
}
