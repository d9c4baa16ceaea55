package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// goodFlags are the defaults with a watch file: valid.
func goodFlags() flagValues {
	return flagValues{
		watchFiles: []string{"watch.yml"}, metricsPath: "/metrics",
		batchSize: 50, concurrency: 2, maxDocuments: 10000, maxEnvelopeDocuments: 100, maxRetries: 3,
		refreshInterval: 5 * time.Minute, maxInterval: time.Hour, terminalInterval: 24 * time.Hour,
		requestTimeout: 30 * time.Second, watchPoll: 10 * time.Second,
		shard: "0", totalShards: 1, stuckAfter: 7 * 24 * time.Hour,
	}
}

func TestValidateFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(f *flagValues)
		want string // the whole error; "" for none
	}{
		{"defaults with a watch file", func(*flagValues) {}, ""},
		{"no watch file", func(f *flagValues) { f.watchFiles = nil }, "--watch.file is required (or try --demo)"},
		{"a malformed glob", func(f *flagValues) { f.watchFiles = []string{"watch.yml", "watch.d/[*.yml"} }, `--watch.file "watch.d/[*.yml": syntax error in pattern`},
		{"demo with a webhook listener makes its own token", func(f *flagValues) { f.watchFiles, f.demo, f.webhookListen = nil, true, "127.0.0.1:9866" }, ""},
		{"--check with --demo", func(f *flagValues) { f.check, f.demo = true, true }, "--check takes --watch.file, not --demo"},
		{"webhook TLS config without its own listener", func(f *flagValues) { f.webhookTokenFile, f.webhookConfig = "token", "webhook-web.yml" },
			"--webhook.web.config.file needs --webhook.listen-address"},
		{"webhook TLS config with its own listener", func(f *flagValues) {
			f.webhookTokenFile, f.webhookConfig, f.webhookListen = "token", "webhook-web.yml", ":9866"
		}, ""},
		{"stuck-after 0", func(f *flagValues) { f.stuckAfter = 0 }, "--web.landing-page.stuck-after must be positive, not 0s"},
		{"demo with shards", func(f *flagValues) { f.watchFiles, f.demo, f.totalShards = nil, true, 2 }, "--demo runs one process: it takes no --total-shards"},
		{"no watch file with --demo", func(f *flagValues) { f.watchFiles, f.demo = nil, true }, ""},
		{"batch size 0", func(f *flagValues) { f.batchSize = 0 }, "--assuresign.batch-size must be at least 1, not 0"},
		{"concurrency 0", func(f *flagValues) { f.concurrency = 0 }, "--assuresign.concurrency must be at least 1, not 0"},
		{"max documents 0", func(f *flagValues) { f.maxDocuments = 0 }, "--watch.max-documents must be at least 1, not 0"},
		{"max envelope documents 0", func(f *flagValues) { f.maxEnvelopeDocuments = 0 }, "--watch.max-envelope-documents must be at least 1, not 0"},
		{"refresh interval under 1s", func(f *flagValues) { f.refreshInterval = 999 * time.Millisecond }, "--refresh.interval must be at least 1s, not 999ms"},
		{"refresh interval 1s", func(f *flagValues) { f.refreshInterval = time.Second }, ""},
		{"terminal interval shorter than the refresh interval", func(f *flagValues) { f.terminalInterval = time.Minute },
			"--refresh.terminal-interval (1m0s) must not be shorter than --refresh.interval (5m0s)"},
		{"terminal interval equal to the refresh interval", func(f *flagValues) { f.terminalInterval, f.maxInterval = f.refreshInterval, f.refreshInterval }, ""},
		{"max interval shorter than the refresh interval", func(f *flagValues) { f.maxInterval = time.Minute },
			"--refresh.max-interval (1m0s) must not be shorter than --refresh.interval (5m0s)"},
		{"max interval equal to the refresh interval: no backoff", func(f *flagValues) { f.maxInterval = f.refreshInterval }, ""},
		{"max interval longer than the terminal interval", func(f *flagValues) { f.maxInterval = 25 * time.Hour },
			"--refresh.max-interval (25h0m0s) must not be longer than --refresh.terminal-interval (24h0m0s)"},
		{"max interval equal to the terminal interval", func(f *flagValues) { f.maxInterval = f.terminalInterval }, ""},
		{"negative retries", func(f *flagValues) { f.maxRetries = -1 }, "--assuresign.max-retries must not be negative, not -1"},
		{"no retries", func(f *flagValues) { f.maxRetries = 0 }, ""},
		{"timeout 0", func(f *flagValues) { f.requestTimeout = 0 }, "--assuresign.timeout must be positive"},
		{"negative timeout", func(f *flagValues) { f.requestTimeout = -time.Second }, "--assuresign.timeout must be positive"},
		{"poll interval 0", func(f *flagValues) { f.watchPoll = 0 }, "--watch.poll-interval must be positive, not 0s"},
		{"negative poll interval", func(f *flagValues) { f.watchPoll = -time.Second }, "--watch.poll-interval must be positive, not -1s"},
		{"webhook listener without a token", func(f *flagValues) { f.webhookListen = "127.0.0.1:9866" }, "--webhook.listen-address needs --webhook.bearer-token-file"},
		{"webhook listener with a token", func(f *flagValues) { f.webhookListen, f.webhookTokenFile = "127.0.0.1:9866", "token" }, ""},
		{"webhook token alone", func(f *flagValues) { f.webhookTokenFile = "token" }, ""},
		{"persistence interval 0", func(f *flagValues) { f.persistenceFile, f.persistenceInterval = "state", 0 }, "--persistence.interval must be positive, not 0s"},
		{"persistence with its interval", func(f *flagValues) { f.persistenceFile, f.persistenceInterval = "state", time.Minute }, ""},
		// A bad telemetry path panicked at start-up (ServeMux.Handle) before it was checked.
		{"telemetry path /", func(f *flagValues) { f.metricsPath = "/" }, `--web.telemetry-path "/" is taken by another endpoint`},
		{"telemetry path /-/healthy", func(f *flagValues) { f.metricsPath = "/-/healthy" }, `--web.telemetry-path "/-/healthy" is taken by another endpoint`},
		{"telemetry path /-/ready", func(f *flagValues) { f.metricsPath = "/-/ready" }, `--web.telemetry-path "/-/ready" is taken by another endpoint`},
		{"telemetry path /-/reload", func(f *flagValues) { f.metricsPath = "/-/reload" }, `--web.telemetry-path "/-/reload" is taken by another endpoint`},
		{"telemetry path of the webhook", func(f *flagValues) { f.metricsPath = "/webhooks/documenttrak" },
			`--web.telemetry-path "/webhooks/documenttrak" is taken by another endpoint`},
		{"telemetry path metrics", func(f *flagValues) { f.metricsPath = "metrics" }, `--web.telemetry-path "metrics" must start with /`},
		{"empty telemetry path", func(f *flagValues) { f.metricsPath = "" }, `--web.telemetry-path "" must start with /`},
		{"telemetry path with a wildcard", func(f *flagValues) { f.metricsPath = "/{x}" }, `--web.telemetry-path "/{x}" must not hold braces or white space`},
		{"telemetry path with a space", func(f *flagValues) { f.metricsPath = "/a b" }, `--web.telemetry-path "/a b" must not hold braces or white space`},
		{"another telemetry path", func(f *flagValues) { f.metricsPath = "/exporter/metrics" }, ""},
		{"total shards 0", func(f *flagValues) { f.totalShards = 0 }, "--total-shards must be at least 1, not 0"},
		{"shard 2 of 3", func(f *flagValues) { f.shard, f.totalShards = "2", 3 }, ""},
		{"shard 3 of 3", func(f *flagValues) { f.shard, f.totalShards = "3", 3 }, "--shard 3 must be less than --total-shards (3)"},
		{"shard 1 of the default 1", func(f *flagValues) { f.shard = "1" }, "--shard 1 must be less than --total-shards (1)"},
		{"shard from a pod name", func(f *flagValues) { f.shard, f.totalShards = "assuresign-exporter-2", 3 }, ""},
		{"shard from a pod name past the total", func(f *flagValues) { f.shard, f.totalShards = "assuresign-exporter-3", 3 },
			"--shard 3 must be less than --total-shards (3)"},
		{"negative shard", func(f *flagValues) { f.shard = "-1" }, `--shard "-1" is neither a shard number nor a name ending in -N`},
		{"shard from a name without an ordinal", func(f *flagValues) { f.shard = "assuresign-exporter" },
			`--shard "assuresign-exporter" is neither a shard number nor a name ending in -N`},
		{"shard from a name ending in -", func(f *flagValues) { f.shard = "exporter-" }, `--shard "exporter-" is neither a shard number nor a name ending in -N`},
		{"shard with a sign", func(f *flagValues) { f.shard = "exporter-+1" }, `--shard "exporter-+1" is neither a shard number nor a name ending in -N`},
		{"empty shard", func(f *flagValues) { f.shard = "" }, `--shard "" is neither a shard number nor a name ending in -N`},
		{"shards with the webhook and no template", func(f *flagValues) { f.totalShards, f.webhookTokenFile = 3, "token" },
			`--webhook.shard-url-template "" must contain {shard} (needed with the webhook and more than one shard)`},
		{"shards with the webhook and a template", func(f *flagValues) {
			f.totalShards, f.webhookTokenFile, f.shardURLTemplate = 3, "token", "http://exporter-{shard}.shards:9865/webhooks/documenttrak"
		}, ""},
		{"shards without the webhook need no template", func(f *flagValues) { f.totalShards = 3 }, ""},
		{"template without {shard}", func(f *flagValues) {
			f.totalShards, f.webhookTokenFile, f.shardURLTemplate = 3, "token", "http://exporter-0.shards:9865/webhooks/documenttrak"
		}, `--webhook.shard-url-template "http://exporter-0.shards:9865/webhooks/documenttrak" must contain {shard} (needed with the webhook and more than one shard)`},
		{"template not a URL", func(f *flagValues) {
			f.totalShards, f.webhookTokenFile, f.shardURLTemplate = 3, "token", "exporter-{shard}:9865"
		},
			`--webhook.shard-url-template "exporter-{shard}:9865" is not an http or https URL`},
		// The first problem is reported.
		{"two problems", func(f *flagValues) { f.batchSize, f.concurrency = 0, 0 }, "--assuresign.batch-size must be at least 1, not 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := goodFlags()
			tc.edit(&f)
			err := validateFlags(f)
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
func TestCurrentFlagsResolvesTheMaxIntervalDefault(t *testing.T) {
	saved := []time.Duration{*refreshInterval, *maxInterval, *terminalInterval}
	t.Cleanup(func() { *refreshInterval, *maxInterval, *terminalInterval = saved[0], saved[1], saved[2] })
	for _, tc := range []struct{ refresh, terminal, want time.Duration }{
		{2 * time.Hour, 24 * time.Hour, 2 * time.Hour},
		{5 * time.Minute, 30 * time.Minute, 30 * time.Minute},
		{5 * time.Minute, 24 * time.Hour, time.Hour},
	} {
		*refreshInterval, *maxInterval, *terminalInterval = tc.refresh, time.Hour, tc.terminal
		f := currentFlags()
		assert.Equal(t, tc.want, f.maxInterval, "refresh %s, terminal %s", tc.refresh, tc.terminal)
	}
}
