// Command assuresign_exporter exports the status of watched AssureSign
// documents to Prometheus. It asks DocumentNOW CheckStatus in batches on a slow
// background refresh and serves every scrape from its cache.
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/persistence"
	"github.com/assuresign-exporter/assuresign_exporter/refresh"
	"github.com/assuresign-exporter/assuresign_exporter/server"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

const (
	exporterName  = "assuresign_exporter"
	defaultListen = ":9865"
	contextEnv    = "ASSURESIGN_CONTEXT_IDENTIFIER"
)

var (
	watchFiles                = kingpin.Flag("watch.file", "YAML file listing documents to watch, or a glob pattern matching such files (repeatable; they hold AuthTokens: keep them mode 0600).").Strings()
	watchMaxDocuments         = kingpin.Flag("watch.max-documents", "Most documents the watch files may list, all together; envelopes' listed documents count once per envelope listing them.").Default("10000").Int()
	watchMaxEnvelopeDocuments = kingpin.Flag("watch.max-envelope-documents", "Most documents one envelope's listing may hold; a listing with more is refused.").Default("100").Int()
	watchPoll                 = kingpin.Flag("watch.poll-interval", "How often to look for changed, new or removed watch files (follows Kubernetes' symlink swaps).").Default("10s").Duration()

	endpoint         = kingpin.Flag("assuresign.endpoint", "Full URL of the CheckStatus endpoint: pick the host of the account's region.").Default(assuresign.DefaultEndpoint).String()
	envelopesURL     = kingpin.Flag("assuresign.envelopes-endpoint", "Full URL of the Envelopes endpoint, for the watch files' envelopes (ListEnvelopeDocuments); empty: --assuresign.endpoint's scheme and host with path "+assuresign.DefaultEnvelopesPath+".").String()
	contextFile      = kingpin.Flag("assuresign.context-identifier-file", "File holding the account's ContextIdentifier; else $"+contextEnv+" is used.").String()
	batchSize        = kingpin.Flag("assuresign.batch-size", "Documents per CheckStatus request.").Default("50").Int()
	concurrency      = kingpin.Flag("assuresign.concurrency", "CheckStatus requests in flight at once.").Default("2").Int()
	requestTimeout   = kingpin.Flag("assuresign.timeout", "Time allowed for one CheckStatus request, retries included.").Default("30s").Duration()
	maxRetries       = kingpin.Flag("assuresign.max-retries", "Retries of a CheckStatus request after a transient failure (0 for none).").Default("3").Int()
	maxResponseBytes = kingpin.Flag("assuresign.max-response-bytes", "Largest CheckStatus response body read.").Default(fmt.Sprint(assuresign.DefaultMaxBodyBytes)).Int64()

	refreshIntervalSet, terminalIntervalSet, maxIntervalSet bool
	refreshInterval                                         = kingpin.Flag("refresh.interval", "Time between scheduled refresh rounds (with a little jitter). --demo makes it 10s unless set.").Default("5m").IsSetByUser(&refreshIntervalSet).Duration()
	maxInterval                                             = kingpin.Flag("refresh.max-interval", "Most time between checks of an open document that sits still: its interval doubles for each day without a change, from --refresh.interval up to this (equal to --refresh.interval: no backoff). Unless set, kept between --refresh.interval and --refresh.terminal-interval.").Default("1h").IsSetByUser(&maxIntervalSet).Duration()
	terminalInterval                                        = kingpin.Flag("refresh.terminal-interval", "Time between checks of a document in a status that cannot change (Completed, Expired, Cancelled, Declined, Staled). --demo makes it 2m unless set.").Default("24h").IsSetByUser(&terminalIntervalSet).Duration()

	webhookTokenFile = kingpin.Flag("webhook.bearer-token-file", "Enables POST /webhooks/documenttrak, guarded by the bearer token in this file.").String()
	webhookListen    = kingpin.Flag("webhook.listen-address", "Serve the webhook on its own address instead of the main one (to keep it outside the main listener's basic auth).").String()
	webhookWebConfig = kingpin.Flag("webhook.web.config.file", "exporter-toolkit web config (TLS) for --webhook.listen-address.").String()
	shardURLTemplate = kingpin.Flag("webhook.shard-url-template", "Where to forward a notification for a document another shard owns; {shard} is replaced by the owner's number. Needed with the webhook when --total-shards is above 1.").String()

	totalShards = kingpin.Flag("total-shards", "Number of shards the watch list is split into; every shard reads the whole file.").Default("1").Int()
	shard       = kingpin.Flag("shard", "This process's shard, from 0: a number, or a name ending in -N (a StatefulSet pod's name) whose N is taken.").Default("0").String()

	persistenceFile     = kingpin.Flag("persistence.file", "File to keep the documents' statuses and schedule in across restarts (empty: off). It holds no secret.").String()
	persistenceInterval = kingpin.Flag("persistence.interval", "Least time between two writes of --persistence.file; it is also written at shutdown.").Default("1m").Duration()

	stuckAfter        = kingpin.Flag("web.landing-page.stuck-after", "How long a document may sit in one signing step before the landing page lists it as stuck (the AssureSignDocumentStuck alert's threshold).").Default(server.DefaultStuckAfter.String()).Duration()
	metricsPath       = kingpin.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String()
	currentStatusOnly = kingpin.Flag("metrics.current-status-only", "Export one assuresign_document_status series per document, for its current status, instead of a state set of nine (about 8.5 series per document instead of 16.5).").Bool()
	check             = kingpin.Flag("check", checkHelp()).Bool()
	checkOutput       = kingpin.Flag("check.output", "What --check prints: table (for people; long texts cut) or json (for CI: every text in full, in the form docs/configuration.md documents).").Default(checkOutputTable).Enum(checkOutputTable, checkOutputJSON)
	demo              = kingpin.Flag("demo", "Run against a built-in AssureSign simulator with generated documents; no account needed. Listens on "+demoListen+" unless --web.listen-address is given, with the webhook on.").Bool()

	toolkitFlags = kingpinflag.AddFlags(kingpin.CommandLine, defaultListen)
	// listenAddressSet keeps --demo on loopback unless an address is given.
	listenAddressSet bool
)

func main() {
	promslogConfig := &promslog.Config{}
	promslogflag.AddFlags(kingpin.CommandLine, promslogConfig)
	kingpin.Version(versionText(os.Args[1:]))
	kingpin.HelpFlag.Short('h')
	kingpin.CommandLine.GetFlag("web.listen-address").IsSetByUser(&listenAddressSet)
	kingpin.Parse()
	logger := promslog.New(promslogConfig)
	if os.Getenv("GOGC") == "" {
		// Nearly all of the heap is the cache, which lives as long as the
		// process: letting it double before each collection, Go's default,
		// would double the exporter's memory for nothing.
		debug.SetGCPercent(50)
	}

	if *check {
		os.Exit(runCheckFlags(logger))
	}
	if err := run(logger); err != nil {
		logger.Error("exiting", "err", err)
		os.Exit(1)
	}
}

// flagValues are the flags validateFlags checks.
type flagValues struct {
	watchFiles                                       []string
	metricsPath                                      string
	demo, check                                      bool
	batchSize, concurrency, maxDocuments, maxRetries int
	maxEnvelopeDocuments                             int
	refreshInterval, maxInterval, terminalInterval   time.Duration
	requestTimeout, watchPoll                        time.Duration
	webhookTokenFile, webhookListen, webhookConfig   string
	stuckAfter                                       time.Duration
	persistenceFile                                  string
	persistenceInterval                              time.Duration
	shard, shardURLTemplate                          string
	totalShards                                      int
}

// currentFlags returns the flags' values, with the defaults that depend on
// other flags resolved: a run and --check see the same values.
func currentFlags() flagValues {
	if !maxIntervalSet {
		// The default must not turn a valid --refresh.interval or
		// --refresh.terminal-interval into an error.
		*maxInterval = min(max(*maxInterval, *refreshInterval), *terminalInterval)
	}
	return flagValues{
		watchFiles: *watchFiles, metricsPath: *metricsPath, demo: *demo, check: *check,
		batchSize: *batchSize, concurrency: *concurrency, maxDocuments: *watchMaxDocuments, maxEnvelopeDocuments: *watchMaxEnvelopeDocuments, maxRetries: *maxRetries,
		refreshInterval: *refreshInterval, maxInterval: *maxInterval, terminalInterval: *terminalInterval,
		requestTimeout: *requestTimeout, watchPoll: *watchPoll,
		webhookTokenFile: *webhookTokenFile, webhookListen: *webhookListen, webhookConfig: *webhookWebConfig,
		stuckAfter: *stuckAfter, persistenceFile: *persistenceFile, persistenceInterval: *persistenceInterval,
		shard: *shard, shardURLTemplate: *shardURLTemplate, totalShards: *totalShards,
	}
}

// validateFlags rejects flag values that cannot work, before anything starts.
func validateFlags(f flagValues) error {
	switch {
	case f.check && f.demo:
		return errors.New("--check takes --watch.file, not --demo")
	case len(f.watchFiles) == 0 && !f.demo:
		return errors.New("--watch.file is required (or try --demo)")
	case f.batchSize < 1:
		return fmt.Errorf("--assuresign.batch-size must be at least 1, not %d", f.batchSize)
	case f.concurrency < 1:
		return fmt.Errorf("--assuresign.concurrency must be at least 1, not %d", f.concurrency)
	case f.maxDocuments < 1:
		return fmt.Errorf("--watch.max-documents must be at least 1, not %d", f.maxDocuments)
	case f.maxEnvelopeDocuments < 1:
		return fmt.Errorf("--watch.max-envelope-documents must be at least 1, not %d", f.maxEnvelopeDocuments)
	case f.refreshInterval < time.Second:
		return fmt.Errorf("--refresh.interval must be at least 1s, not %s", f.refreshInterval)
	case f.terminalInterval < f.refreshInterval:
		return fmt.Errorf("--refresh.terminal-interval (%s) must not be shorter than --refresh.interval (%s)", f.terminalInterval, f.refreshInterval)
	case f.maxInterval < f.refreshInterval:
		return fmt.Errorf("--refresh.max-interval (%s) must not be shorter than --refresh.interval (%s)", f.maxInterval, f.refreshInterval)
	case f.maxInterval > f.terminalInterval:
		return fmt.Errorf("--refresh.max-interval (%s) must not be longer than --refresh.terminal-interval (%s)", f.maxInterval, f.terminalInterval)
	case f.maxRetries < 0:
		return fmt.Errorf("--assuresign.max-retries must not be negative, not %d", f.maxRetries)
	case f.requestTimeout <= 0:
		return errors.New("--assuresign.timeout must be positive")
	case f.watchPoll <= 0:
		// time.NewTicker panics on it.
		return fmt.Errorf("--watch.poll-interval must be positive, not %s", f.watchPoll)
	case f.webhookListen != "" && f.webhookTokenFile == "" && !f.demo: // the demo makes a token
		return errors.New("--webhook.listen-address needs --webhook.bearer-token-file")
	case f.webhookConfig != "" && f.webhookListen == "":
		// Otherwise the webhook would be served on the main listener, without the TLS asked for.
		return errors.New("--webhook.web.config.file needs --webhook.listen-address")
	case f.stuckAfter <= 0:
		return fmt.Errorf("--web.landing-page.stuck-after must be positive, not %s", f.stuckAfter)
	case f.demo && f.totalShards > 1:
		return errors.New("--demo runs one process: it takes no --total-shards")
	case f.persistenceFile != "" && f.persistenceInterval <= 0:
		return fmt.Errorf("--persistence.interval must be positive, not %s", f.persistenceInterval)
	case f.totalShards < 1:
		return fmt.Errorf("--total-shards must be at least 1, not %d", f.totalShards)
	}
	n, err := parseShard(f.shard)
	if err != nil {
		return err
	}
	if n >= f.totalShards {
		return fmt.Errorf("--shard %d must be less than --total-shards (%d)", n, f.totalShards)
	}
	if f.shardURLTemplate != "" || (f.totalShards > 1 && f.webhookTokenFile != "") {
		if err := server.CheckShardURLTemplate(f.shardURLTemplate); err != nil {
			return err
		}
	}
	if err := watchlist.CheckPatterns(f.watchFiles); err != nil {
		return err
	}
	return server.CheckMetricsPath(f.metricsPath)
}

// parseShard reads --shard: a number, or a name ending in "-N" such as a
// StatefulSet pod's, so that --shard=$(POD_NAME) needs no per-pod manifest.
func parseShard(s string) (int, error) {
	i := strings.LastIndexByte(s, '-')
	digits := s[i+1:]
	n, err := strconv.Atoi(digits)
	if err != nil || i == 0 || digits != strconv.Itoa(n) {
		return 0, fmt.Errorf("--shard %q is neither a shard number nor a name ending in -N", s)
	}
	return n, nil
}

// readContextIdentifier takes the account's ContextIdentifier from a file or the
// environment, never from a flag value (it would show in ps).
func readContextIdentifier() (string, error) {
	v, source := os.Getenv(contextEnv), "$"+contextEnv
	if *contextFile != "" {
		data, err := os.ReadFile(*contextFile)
		if err != nil {
			return "", fmt.Errorf("reading --assuresign.context-identifier-file: %w", err)
		}
		v, source = string(data), *contextFile
	}
	v = strings.TrimSpace(v)
	if v != "" && !assuresign.IsGUID(v) {
		return "", fmt.Errorf("the ContextIdentifier from %s is not a GUID", source)
	}
	return v, nil
}

// runCheckFlags runs --check with the flags' values and returns its exit code.
func runCheckFlags(logger *slog.Logger) int {
	contextIdentifier, err := readContextIdentifier()
	if err == nil {
		err = validateFlags(currentFlags())
	}
	if err != nil {
		if *checkOutput == checkOutputJSON {
			writeCheckReport(os.Stdout, *checkOutput, checkFailure(err.Error()))
		} else {
			fmt.Fprintln(os.Stderr, err)
		}
		return checkIncomplete
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runCheck(ctx, os.Stdout, checkConfig{
		watchFiles: *watchFiles, maxDocuments: *watchMaxDocuments, maxEnvelopeDocuments: *watchMaxEnvelopeDocuments, contextIdentifier: contextIdentifier,
		client: assuresign.Config{
			Endpoint: *endpoint, EnvelopesEndpoint: *envelopesURL, MaxBodyBytes: *maxResponseBytes, MaxRetries: retries(*maxRetries), Logger: logger,
		},
		batchSize: *batchSize, concurrency: *concurrency, timeout: *requestTimeout, output: *checkOutput,
	}, logger)
}

// run is the exporter's life, one step a function, in the order below:
// start-up (flags, signals, the demo), build the collector, load the watch
// list, restore the persisted state, build the servers, serve.
func run(logger *slog.Logger) error {
	// Caught from the start: a SIGHUP during start-up must not end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if *demo {
		applyDemoDefaults()
	}
	if err := validateFlags(currentFlags()); err != nil {
		return err
	}
	logger.Info("starting "+exporterName, "version", version.Info(), "build_context", version.BuildContext())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Every goroutine started here is joined before run returns, and only
	// then is the demo's directory removed.
	var wg sync.WaitGroup
	var cleanup func()
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		wg.Wait()
		if cleanup != nil {
			cleanup()
		}
	}()

	contextIdentifier, err := readContextIdentifier()
	if err != nil {
		return err
	}
	if *demo {
		var demoWatch string
		if contextIdentifier, demoWatch, cleanup, err = startDemo(ctx, &wg, contextIdentifier, logger); err != nil {
			return err
		}
		*watchFiles = []string{demoWatch}
	}

	e, err := buildCollector(prometheus.NewRegistry(), contextIdentifier, logger)
	if err != nil {
		return err
	}
	if err := e.loadWatchList(); err != nil {
		return err
	}
	if err := e.restore(); err != nil {
		return err
	}
	servers, err := e.buildServers()
	if err != nil {
		return err
	}
	e.start(ctx, &wg, hup)
	return serve(ctx, servers, logger)
}

// registry is where the exporter's own metrics are registered and gathered
// from: a *prometheus.Registry, or in a test one that also records them.
type registry interface {
	prometheus.Registerer
	prometheus.Gatherer
}

// exporter holds what run builds, step by step.
type exporter struct {
	logger    *slog.Logger
	registry  registry
	store     *collector.Store
	refresher *refresh.Refresher
	watch     *watchlist.File
	shard     int
	saver     *persistence.Writer    // nil without --persistence.file
	webhook   *server.WebhookHandler // nil without --webhook.bearer-token-file
	reloads   *reloader
	// secrets are every secret known, which the client redacts from what
	// AssureSign says.
	secrets *assuresign.Secrets

	// runtimeRegistry holds the Go runtime's and the process's metrics.
	runtimeRegistry *prometheus.Registry
	// envelopeRegistry holds the envelopes' families, which change only
	// when the refresher publishes them.
	envelopeRegistry *prometheus.Registry
}

// buildCollector builds the store, the AssureSign client, the refresher that
// asks it and the watch files' reader, registering their metrics with reg;
// nothing runs yet.
func buildCollector(reg registry, contextIdentifier string, logger *slog.Logger) (*exporter, error) {
	e := &exporter{logger: logger, registry: reg, runtimeRegistry: prometheus.NewRegistry(), envelopeRegistry: prometheus.NewRegistry()}
	// Gathered at most once a second (server.RuntimeMetricsMaxAge); the
	// exporter's own metrics, in registry, at every scrape.
	e.runtimeRegistry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	e.registry.MustRegister(versioncollector.NewCollector(exporterName))
	e.store = collector.NewStore(collector.StoreConfig{CurrentStatusOnly: *currentStatusOnly})
	metrics := refresh.NewMetrics(e.registry, e.store.Len, *refreshInterval, *webhookTokenFile != "")
	client, err := assuresign.NewClient(assuresign.Config{
		Endpoint:          *endpoint,
		EnvelopesEndpoint: *envelopesURL,
		MaxBodyBytes:      *maxResponseBytes,
		MaxRetries:        retries(*maxRetries),
		Logger:            logger,
		Observe:           metrics.ObserveRequest,
		Dropped:           metrics.DroppedItems,
	})
	if err != nil {
		return nil, err
	}
	e.secrets = client.Secrets()
	e.secrets.Set("context identifier", []string{contextIdentifier})
	logger.Info("calling AssureSign CheckStatus", "endpoint", client.Endpoint(), "batch_size", *batchSize,
		"concurrency", *concurrency, "refresh_interval", *refreshInterval, "max_interval", *maxInterval)
	e.refresher = refresh.NewRefresher(refresh.Config{
		Interval:             *refreshInterval,
		TerminalInterval:     *terminalInterval,
		MaxInterval:          *maxInterval,
		BatchSize:            *batchSize,
		Concurrency:          *concurrency,
		Timeout:              *requestTimeout,
		ContextIdentifier:    contextIdentifier,
		MaxDocuments:         *watchMaxDocuments,
		MaxEnvelopeDocuments: *watchMaxEnvelopeDocuments,
	}, e.store, client, metrics, logger)
	e.registry.MustRegister(refresh.NewCheckIntervalCollector(e.refresher.CheckIntervals))
	e.envelopeRegistry.MustRegister(refresh.NewEnvelopeCollector(e.refresher.Envelopes))
	e.shard, _ = parseShard(*shard) // validated by validateFlags
	collector.RegisterShardMetrics(e.registry, e.shard, *totalShards)
	e.watch = watchlist.NewFiles(*watchFiles, *watchMaxDocuments, contextIdentifier == "", e.registry, logger)
	return e, nil
}

// loadWatchList reads the watch files for the first time: an error in any
// of them stops the start-up.
func (e *exporter) loadWatchList() error {
	wl, err := e.load()
	if err != nil {
		return err
	}
	e.refresher.SetWatchList(wl)
	return nil
}

// load reads every watch file and keeps this shard's documents. A file
// that fails keeps its last good version, so a list comes with the error.
func (e *exporter) load() (*watchlist.List, error) {
	wl, err := e.watch.Load()
	if wl == nil {
		return nil, err
	}
	e.secrets.Set("watch list", watchListSecrets(wl))
	owned := wl.Shard(e.shard, *totalShards)
	if *totalShards > 1 {
		e.logger.Info("documents of this shard", "shard", e.shard, "total_shards", *totalShards,
			"documents", len(owned.Documents), "watch_list_documents", len(wl.Documents))
	}
	return owned, err
}

// restore loads --persistence.file, if given, into the store and keeps the
// writer that keeps it. A file that cannot be used is a warning: the
// exporter starts empty. A directory it cannot write to is an error now
// rather than a loss later.
func (e *exporter) restore() error {
	path := *persistenceFile
	if path == "" {
		return nil
	}
	if err := persistence.CheckWritable(path); err != nil {
		return fmt.Errorf("--persistence.file %s: %w", path, err)
	}
	var st collector.State
	switch err := persistence.Load(path, &st, collector.StateFileLimit(*watchMaxDocuments)); {
	case errors.Is(err, fs.ErrNotExist):
		e.logger.Info("no persistence file yet; starting empty", "file", path)
	case err != nil:
		e.logger.Warn("cannot use the persistence file; starting empty", "file", path, "reason", err)
	default:
		restored, dropped, clamped := e.refresher.Restore(st)
		e.logger.Info("restored the persisted state", "file", path, "documents", restored)
		if clamped > 0 {
			e.logger.Warn("persisted check times lay in the future (a wrong clock, or an edited file); moved them to what the schedule allows",
				"file", path, "documents", clamped)
		}
		if dropped > 0 {
			e.logger.Info("dropped persisted documents no longer on the watch list", "file", path, "dropped", dropped)
		}
	}
	generation, _ := e.store.State()
	e.saver = persistence.NewWriter(path, *persistenceInterval, generation, func() (uint64, any) {
		g, st := e.store.State()
		return g, st
	}, e.registry, e.logger)
	return nil
}

// buildServers builds the webhook, if on, the reload loop and the HTTP
// servers: the main one, and the webhook's own when it has an address.
func (e *exporter) buildServers() ([]*serverSpec, error) {
	if err := e.buildWebhook(); err != nil {
		return nil, err
	}
	e.reloads = newReloader(e.applyReload)
	opts := server.Options{
		MetricsPath: *metricsPath, Store: e.store, Gatherer: e.registry, RuntimeGatherer: e.runtimeRegistry,
		EnvelopeGatherer: e.envelopeRegistry, EnvelopesGeneration: e.refresher.EnvelopesGeneration, Envelopes: e.refresher.Envelopes,
		Ready: e.refresher.Ready, CheckIntervals: e.refresher.CheckIntervals,
		Reload: e.reloads.reload, Version: version.Version, Logger: e.logger,
		Upstream: e.refresher.Upstream, StuckAfter: *stuckAfter, Demo: *demo,
	}
	var webhookServer *serverSpec
	if e.webhook != nil {
		if *webhookListen == "" {
			opts.Webhook = e.webhook
		} else {
			if *webhookWebConfig == "" {
				e.logger.Warn("the webhook's own listener serves plain HTTP, so its bearer token crosses the network in clear; give it TLS with --webhook.web.config.file",
					"address", *webhookListen)
			}
			wmux := http.NewServeMux()
			wmux.Handle(server.WebhookPath, e.webhook)
			webhookServer = &serverSpec{srv: newServer(wmux), flags: &web.FlagConfig{
				WebListenAddresses: &[]string{*webhookListen}, WebSystemdSocket: new(bool), WebConfigFile: webhookWebConfig,
			}}
		}
	}
	handler, err := server.New(opts)
	if err != nil {
		return nil, err
	}
	servers := []*serverSpec{{srv: newServer(handler), flags: toolkitFlags}}
	if webhookServer != nil {
		servers = append(servers, webhookServer)
	}
	return servers, nil
}

// buildWebhook builds the DocumentTRAK webhook when --webhook.bearer-token-file
// is given, forwarding to the other shards when there are any.
func (e *exporter) buildWebhook() error {
	if *webhookTokenFile == "" {
		return nil
	}
	var err error
	if e.webhook, err = server.NewWebhookHandler(*webhookTokenFile, e.refresher, e.registry, e.logger); err != nil {
		return err
	}
	e.knowWebhookToken()
	if *totalShards > 1 {
		if strings.HasPrefix(*shardURLTemplate, "http://") {
			e.logger.Warn("notifications are forwarded to other shards over plain HTTP, so the bearer token crosses the network in clear; use an https --webhook.shard-url-template")
		}
		e.webhook.ForwardTo(server.Shards{Shard: e.shard, Total: *totalShards, URLTemplate: *shardURLTemplate})
	}
	return nil
}

// watchListSecrets lists the watch list's AuthTokens and ContextIdentifiers
// (with extra), for the client to redact should an answer echo them.
func watchListSecrets(wl *watchlist.List, extra ...string) []string {
	out := slices.Clone(extra)
	for _, d := range slices.Concat(wl.Documents, wl.Envelopes) {
		out = append(out, d.AuthToken)
		if d.ContextIdentifier != "" {
			out = append(out, d.ContextIdentifier)
		}
	}
	return out
}

// knowWebhookToken adds the webhook's token, just loaded by its handler
// (which keeps only a digest), to the secrets redacted.
func (e *exporter) knowWebhookToken() {
	if b, err := os.ReadFile(*webhookTokenFile); err == nil {
		e.secrets.Set("webhook token", []string{strings.TrimSpace(string(b))})
	}
}

// applyReload re-reads the watch files and the webhook's token. The good
// files' changes apply even when another is bad.
func (e *exporter) applyReload() error {
	wl, err := e.load()
	if wl != nil {
		e.refresher.SetWatchList(wl)
	}
	if e.webhook != nil {
		werr := e.webhook.Reload()
		if werr == nil {
			e.knowWebhookToken()
		}
		err = errors.Join(err, werr)
	}
	if err != nil {
		e.logger.Error("reload failed; keeping the previous configuration", "err", err)
	}
	return err
}

// start runs the background work, each joined by wg: the reload loop and
// what asks it (SIGHUP, the watch files' poller), the refresher, and the
// persistence writer.
func (e *exporter) start(ctx context.Context, wg *sync.WaitGroup, hup <-chan os.Signal) {
	reload := e.reloads.reload
	wg.Go(func() { e.reloads.run(ctx) })
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = reload(ctx)
			}
		}
	})
	wg.Go(func() { e.watch.Watch(ctx, *watchPoll, func() { _ = reload(ctx) }) })
	refreshed := make(chan struct{})
	wg.Go(func() {
		defer close(refreshed)
		e.refresher.Run(ctx)
	})
	if e.saver != nil {
		// Its last write, at shutdown, waits for the refresher to stop.
		wg.Go(func() { e.saver.Run(ctx, refreshed) })
	}
}

type serverSpec struct {
	srv   *http.Server
	flags *web.FlagConfig
}

// newServer bounds every phase of a request so slow clients cannot pin
// connections; the write timeout leaves room for a large scrape.
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// serve runs the servers until ctx ends or one fails, then shuts all down.
func serve(ctx context.Context, servers []*serverSpec, logger *slog.Logger) error {
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errc <- web.ListenAndServe(s.srv, s.flags, logger) }()
	}
	var err error
	running := len(servers)
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err = <-errc:
		running--
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.srv.Shutdown(shutdownCtx)
	}
	// Join every server's goroutine: once shut down, each returns ErrServerClosed.
	for range running {
		if e := <-errc; err == nil {
			err = e
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// reloader applies every reload in one goroutine, whatever asked for it
// (SIGHUP, the file watcher, POST /-/reload).
type reloader struct {
	apply    func() error
	requests chan chan error
	stopped  chan struct{} // closed when run returns
}

func newReloader(apply func() error) *reloader {
	return &reloader{apply: apply, requests: make(chan chan error), stopped: make(chan struct{})}
}

// run applies reloads until ctx ends.
func (r *reloader) run(ctx context.Context) {
	defer close(r.stopped)
	for {
		select {
		case <-ctx.Done():
			return
		case done := <-r.requests:
			done <- r.apply()
		}
	}
}

// reload asks for a reload and waits for its outcome; it gives up when ctx
// ends (a caller that went away) or run has stopped.
func (r *reloader) reload(ctx context.Context) error {
	done := make(chan error, 1) // run never waits on a caller that gave up
	select {
	case r.requests <- done:
	case <-ctx.Done():
		return ctx.Err()
	case <-r.stopped:
		return errShuttingDown
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-r.stopped:
		return errShuttingDown
	}
}

// errShuttingDown is a context error, so /-/reload answers it with 503.
var errShuttingDown = fmt.Errorf("shutting down: %w", context.Canceled)

// retries maps the flag (0 for none) onto the client's setting (negative for none).
func retries(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}
