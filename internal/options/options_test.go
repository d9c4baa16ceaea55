package options

import (
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goodFlags are the defaults, as AddFlags gives them, with a watch file: valid.
func goodFlags(t *testing.T) Options {
	return *parse(t, "--watch.file=watch.yml")
}

func TestValidateFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(f *Options)
		want string // the whole error; "" for none
	}{
		{"defaults with a watch file", func(*Options) {}, ""},
		{"no watch file", func(f *Options) { f.WatchFiles = nil }, "--watch.file is required (or try --demo)"},
		{"a malformed glob", func(f *Options) { f.WatchFiles = []string{"watch.yml", "watch.d/[*.yml"} }, `--watch.file "watch.d/[*.yml": syntax error in pattern`},
		{"demo with a webhook listener makes its own token", func(f *Options) { f.WatchFiles, f.Demo, f.WebhookListen = nil, true, "127.0.0.1:9866" }, ""},
		{"--check with --demo", func(f *Options) { f.Check, f.Demo = true, true }, "--check takes --watch.file, not --demo"},
		{"an API not in the table", func(f *Options) { f.API = "graphql" }, `--assuresign.api must be one of rest, soap, not "graphql"`},
		{"webhook TLS config without its own listener", func(f *Options) { f.WebhookTokenFile, f.WebhookWebConfig = "token", "webhook-web.yml" },
			"--webhook.web.config.file needs --webhook.listen-address"},
		{"webhook TLS config with its own listener", func(f *Options) {
			f.WebhookTokenFile, f.WebhookWebConfig, f.WebhookListen = "token", "webhook-web.yml", ":9866"
		}, ""},
		{"unknown notified status", func(f *Options) { f.WebhookTokenFile, f.NotifiedStatuses = "token", "Completed, Signed" },
			`--webhook.notified-statuses: "Signed" is not a status (Created,SigningStepInProgress,Completed,Expired,Declined,Cancelled,Staled,SignerAuthenticationFailed)`},
		{"no notified status", func(f *Options) { f.WebhookTokenFile, f.NotifiedStatuses = "token", "" }, ""},
		{"unknown notified status without the webhook is not read", func(f *Options) { f.NotifiedStatuses = "Signed" }, ""},
		{"health window 0", func(f *Options) { f.WebhookTokenFile, f.HealthWindow = "token", 0 }, "--webhook.health-window must be positive, not 0s"},
		{"reconcile interval under the max interval", func(f *Options) { f.WebhookTokenFile, f.ReconcileInterval = "token", 30*time.Minute },
			"--webhook.reconcile-interval (30m0s) must not be shorter than --refresh.max-interval (1h0m0s)"},
		{"stuck-after 0", func(f *Options) { f.StuckAfter = 0 }, "--web.landing-page.stuck-after must be positive, not 0s"},
		{"demo with shards", func(f *Options) { f.WatchFiles, f.Demo, f.TotalShards = nil, true, 2 }, "--demo runs one process: it takes no --total-shards"},
		{"no watch file with --demo", func(f *Options) { f.WatchFiles, f.Demo = nil, true }, ""},
		{"batch size 0", func(f *Options) { f.BatchSize = 0 }, "--assuresign.batch-size must be at least 1, not 0"},
		{"concurrency 0", func(f *Options) { f.Concurrency = 0 }, "--assuresign.concurrency must be at least 1, not 0"},
		{"max documents 0", func(f *Options) { f.MaxDocuments = 0 }, "--watch.max-documents must be at least 1, not 0"},
		{"max envelope documents 0", func(f *Options) { f.MaxEnvelopeDocuments = 0 }, "--watch.max-envelope-documents must be at least 1, not 0"},
		{"refresh interval under 1s", func(f *Options) { f.RefreshInterval = 999 * time.Millisecond }, "--refresh.interval must be at least 1s, not 999ms"},
		{"refresh interval 1s", func(f *Options) { f.RefreshInterval = time.Second }, ""},
		{"terminal interval shorter than the refresh interval", func(f *Options) { f.TerminalInterval = time.Minute },
			"--refresh.terminal-interval (1m0s) must not be shorter than --refresh.interval (5m0s)"},
		{"terminal interval equal to the refresh interval", func(f *Options) { f.TerminalInterval, f.MaxInterval = f.RefreshInterval, f.RefreshInterval }, ""},
		{"max interval shorter than the refresh interval", func(f *Options) { f.MaxInterval = time.Minute },
			"--refresh.max-interval (1m0s) must not be shorter than --refresh.interval (5m0s)"},
		{"max interval equal to the refresh interval: no backoff", func(f *Options) { f.MaxInterval = f.RefreshInterval }, ""},
		{"max interval longer than the terminal interval", func(f *Options) { f.MaxInterval = 25 * time.Hour },
			"--refresh.max-interval (25h0m0s) must not be longer than --refresh.terminal-interval (24h0m0s)"},
		{"max interval equal to the terminal interval", func(f *Options) { f.MaxInterval = f.TerminalInterval }, ""},
		{"negative retries", func(f *Options) { f.MaxRetries = -1 }, "--assuresign.max-retries must not be negative, not -1"},
		{"no retries", func(f *Options) { f.MaxRetries = 0 }, ""},
		{"timeout 0", func(f *Options) { f.RequestTimeout = 0 }, "--assuresign.timeout must be positive"},
		{"negative timeout", func(f *Options) { f.RequestTimeout = -time.Second }, "--assuresign.timeout must be positive"},
		{"poll interval 0", func(f *Options) { f.WatchPoll = 0 }, "--watch.poll-interval must be positive, not 0s"},
		{"negative poll interval", func(f *Options) { f.WatchPoll = -time.Second }, "--watch.poll-interval must be positive, not -1s"},
		{"webhook listener without a token", func(f *Options) { f.WebhookListen = "127.0.0.1:9866" }, "--webhook.listen-address needs --webhook.bearer-token-file"},
		{"webhook listener with a token", func(f *Options) { f.WebhookListen, f.WebhookTokenFile = "127.0.0.1:9866", "token" }, ""},
		{"webhook token alone", func(f *Options) { f.WebhookTokenFile = "token" }, ""},
		{"persistence interval 0", func(f *Options) { f.PersistenceFile, f.PersistenceInterval = "state", 0 }, "--persistence.interval must be positive, not 0s"},
		{"persistence with its interval", func(f *Options) { f.PersistenceFile, f.PersistenceInterval = "state", time.Minute }, ""},
		// A bad telemetry path panicked at start-up (ServeMux.Handle) before it was checked.
		{"telemetry path /", func(f *Options) { f.MetricsPath = "/" }, `--web.telemetry-path "/" is taken by another endpoint`},
		{"telemetry path /-/healthy", func(f *Options) { f.MetricsPath = "/-/healthy" }, `--web.telemetry-path "/-/healthy" is taken by another endpoint`},
		{"telemetry path /-/ready", func(f *Options) { f.MetricsPath = "/-/ready" }, `--web.telemetry-path "/-/ready" is taken by another endpoint`},
		{"telemetry path /-/reload", func(f *Options) { f.MetricsPath = "/-/reload" }, `--web.telemetry-path "/-/reload" is taken by another endpoint`},
		{"telemetry path of the webhook", func(f *Options) { f.MetricsPath = "/webhooks/documenttrak" },
			`--web.telemetry-path "/webhooks/documenttrak" is taken by another endpoint`},
		{"telemetry path metrics", func(f *Options) { f.MetricsPath = "metrics" }, `--web.telemetry-path "metrics" must start with /`},
		{"empty telemetry path", func(f *Options) { f.MetricsPath = "" }, `--web.telemetry-path "" must start with /`},
		{"telemetry path with a wildcard", func(f *Options) { f.MetricsPath = "/{x}" }, `--web.telemetry-path "/{x}" must not hold braces or white space`},
		{"telemetry path with a space", func(f *Options) { f.MetricsPath = "/a b" }, `--web.telemetry-path "/a b" must not hold braces or white space`},
		{"another telemetry path", func(f *Options) { f.MetricsPath = "/exporter/metrics" }, ""},
		{"total shards 0", func(f *Options) { f.TotalShards = 0 }, "--total-shards must be at least 1, not 0"},
		{"shard 2 of 3", func(f *Options) { f.Shard, f.TotalShards = "2", 3 }, ""},
		{"shard 3 of 3", func(f *Options) { f.Shard, f.TotalShards = "3", 3 }, "--shard 3 must be less than --total-shards (3)"},
		{"shard 1 of the default 1", func(f *Options) { f.Shard = "1" }, "--shard 1 must be less than --total-shards (1)"},
		{"shard from a pod name", func(f *Options) { f.Shard, f.TotalShards = "assuresign-exporter-2", 3 }, ""},
		{"shard from a pod name past the total", func(f *Options) { f.Shard, f.TotalShards = "assuresign-exporter-3", 3 },
			"--shard 3 must be less than --total-shards (3)"},
		{"negative shard", func(f *Options) { f.Shard = "-1" }, `--shard "-1" is neither a shard number nor a name ending in -N`},
		{"shard from a name without an ordinal", func(f *Options) { f.Shard = "assuresign-exporter" },
			`--shard "assuresign-exporter" is neither a shard number nor a name ending in -N`},
		{"shard from a name ending in -", func(f *Options) { f.Shard = "exporter-" }, `--shard "exporter-" is neither a shard number nor a name ending in -N`},
		{"shard with a sign", func(f *Options) { f.Shard = "exporter-+1" }, `--shard "exporter-+1" is neither a shard number nor a name ending in -N`},
		{"empty shard", func(f *Options) { f.Shard = "" }, `--shard "" is neither a shard number nor a name ending in -N`},
		{"shards with the webhook and no template", func(f *Options) { f.TotalShards, f.WebhookTokenFile = 3, "token" },
			`--webhook.shard-url-template "" must contain {shard} (needed with the webhook and more than one shard)`},
		{"shards with the webhook and a template", func(f *Options) {
			f.TotalShards, f.WebhookTokenFile, f.ShardURLTemplate = 3, "token", "http://exporter-{shard}.shards:9865/webhooks/documenttrak"
		}, ""},
		{"shards without the webhook need no template", func(f *Options) { f.TotalShards = 3 }, ""},
		{"template without {shard}", func(f *Options) {
			f.TotalShards, f.WebhookTokenFile, f.ShardURLTemplate = 3, "token", "http://exporter-0.shards:9865/webhooks/documenttrak"
		}, `--webhook.shard-url-template "http://exporter-0.shards:9865/webhooks/documenttrak" must contain {shard} (needed with the webhook and more than one shard)`},
		{"template not a URL", func(f *Options) {
			f.TotalShards, f.WebhookTokenFile, f.ShardURLTemplate = 3, "token", "exporter-{shard}:9865"
		},
			`--webhook.shard-url-template "exporter-{shard}:9865" is not an http or https URL`},
		// The first problem is reported.
		{"two problems", func(f *Options) { f.BatchSize, f.Concurrency = 0, 0 }, "--assuresign.batch-size must be at least 1, not 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := goodFlags(t)
			tc.edit(&f)
			err := f.Validate()
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tc.want)
		})
	}
}

// The max-interval default follows the other intervals for every path that
// reads the flags (a run and --check alike), so a valid --refresh.interval
// of 2h or --refresh.terminal-interval of 30m is not refused.
func TestResolveSetsTheMaxIntervalDefault(t *testing.T) {
	for _, tc := range []struct{ refresh, terminal, want time.Duration }{
		{2 * time.Hour, 24 * time.Hour, 2 * time.Hour},
		{5 * time.Minute, 30 * time.Minute, 30 * time.Minute},
		{5 * time.Minute, 24 * time.Hour, time.Hour},
	} {
		o := parse(t, "--refresh.interval="+tc.refresh.String(), "--refresh.terminal-interval="+tc.terminal.String())
		assert.Equal(t, tc.want, o.MaxInterval, "refresh %s, terminal %s", tc.refresh, tc.terminal)
	}
}

// parse binds the flags to a new application, parses args and resolves
// the defaults, as a run does.
func parse(t *testing.T, args ...string) *Options {
	t.Helper()
	app := kingpin.New("assuresign_exporter", "")
	o := AddFlags(app)
	_, err := app.Parse(args)
	require.NoError(t, err)
	o.Resolve()
	return o
}

// The demo's overlay: a fast refresh and the loopback listener, unless the
// flags say otherwise; without --demo the defaults stay.
func TestResolveOverlaysTheDemoDefaults(t *testing.T) {
	o := parse(t, "--demo")
	assert.Equal(t, []string{DemoListen}, *o.Web.WebListenAddresses)
	assert.Equal(t, 10*time.Second, o.RefreshInterval)
	assert.Equal(t, 2*time.Minute, o.TerminalInterval)
	assert.Equal(t, time.Minute, o.MaxInterval, "the demo's reconciliation interval")
	assert.Equal(t, time.Minute, o.ReconcileInterval, "the demo's missed change is found within a minute or two")
	assert.Equal(t, 2*time.Minute, o.HealthWindow)
	require.NoError(t, o.Validate())

	o = parse(t, "--demo", "--web.listen-address=:9999", "--refresh.interval=5m")
	assert.Equal(t, []string{":9999"}, *o.Web.WebListenAddresses)
	assert.Equal(t, 5*time.Minute, o.RefreshInterval)
	assert.Equal(t, 5*time.Minute, o.TerminalInterval, "never shorter than the refresh interval")
	assert.Equal(t, 5*time.Minute, o.ReconcileInterval, "never shorter than the max interval")
	require.NoError(t, o.Validate())

	o = parse(t, "--demo", "--webhook.reconcile-interval=3h", "--webhook.health-window=1h", "--refresh.max-interval=2m")
	assert.Equal(t, 3*time.Hour, o.ReconcileInterval)
	assert.Equal(t, time.Hour, o.HealthWindow)
	assert.Equal(t, 2*time.Minute, o.MaxInterval)

	o = parse(t)
	assert.Equal(t, []string{DefaultListen}, *o.Web.WebListenAddresses)
	assert.Equal(t, 5*time.Minute, o.RefreshInterval)
	assert.Equal(t, 24*time.Hour, o.TerminalInterval)
	assert.Equal(t, 6*time.Hour, o.ReconcileInterval)
	assert.Equal(t, 6*time.Hour, o.HealthWindow)
}
