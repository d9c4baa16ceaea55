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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/internal/demo"
	"github.com/assuresign-exporter/assuresign_exporter/internal/options"
	"github.com/assuresign-exporter/assuresign_exporter/persistence"
	"github.com/assuresign-exporter/assuresign_exporter/refresh"
	"github.com/assuresign-exporter/assuresign_exporter/server"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// run is the exporter's life, one step a function, in the order below:
// start-up (flags, signals, the demo), build the exporter, load the watch
// list, restore the persisted state, build the servers, serve.
func run(o *options.Options, logger *slog.Logger) error {
	// Caught from the start: a SIGHUP during start-up must not end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	o.Resolve()
	if err := o.Validate(); err != nil {
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

	contextIdentifier, err := o.ContextIdentifier()
	if err != nil {
		return err
	}
	if !o.Demo { // the demo's credentials are its simulator's
		if err := o.RESTCredentials(); err != nil {
			return err
		}
	}
	if o.Demo {
		var acct demo.Account
		if acct, cleanup, err = demo.Start(ctx, &wg, o, contextIdentifier, logger); err != nil {
			return err
		}
		// The exporter is pointed at the simulator.
		contextIdentifier = acct.ContextIdentifier
		o.WatchFiles, o.Endpoint, o.WebhookTokenFile = []string{acct.WatchFile}, acct.Endpoint, acct.WebhookTokenFile
		if o.API == options.APIREST {
			o.REST = acct.REST
		}
	}

	e, err := buildExporter(o, prometheus.NewRegistry(), contextIdentifier, logger)
	if err != nil {
		return err
	}
	if err := e.loadWatchList(); err != nil {
		return err
	}
	if err := e.restore(); err != nil {
		return err
	}
	listeners, err := e.buildServers()
	if err != nil {
		return err
	}
	e.start(ctx, &wg, hup)
	return server.Serve(ctx, listeners, logger)
}

// registry is where the exporter's own metrics are registered and gathered
// from: a *prometheus.Registry, or in a test one that also records them.
type registry interface {
	prometheus.Registerer
	prometheus.Gatherer
}

// exporter holds what run builds, step by step.
type exporter struct {
	opts      *options.Options
	logger    *slog.Logger
	registry  registry
	store     *collector.Store
	refresher *refresh.Refresher
	watch     *watchlist.Files
	shard     int
	saver     *persistence.Writer    // nil without --persistence.file
	webhook   *server.WebhookHandler // nil without --webhook.bearer-token-file
	reloads   *server.Reloader
	// secrets are every secret known, which the client redacts from what
	// AssureSign says.
	secrets *assuresign.Secrets

	// runtimeRegistry holds the Go runtime's and the process's metrics.
	runtimeRegistry *prometheus.Registry
	// envelopeRegistry holds the envelopes' families, which change only
	// when the refresher publishes them.
	envelopeRegistry *prometheus.Registry
}

// buildExporter builds the store, the AssureSign client, the refresher that
// asks it and the watch files' reader, registering their metrics with reg;
// nothing runs yet.
func buildExporter(o *options.Options, reg registry, contextIdentifier string, logger *slog.Logger) (*exporter, error) {
	e := &exporter{opts: o, logger: logger, registry: reg, secrets: assuresign.NewSecrets(),
		runtimeRegistry: prometheus.NewRegistry(), envelopeRegistry: prometheus.NewRegistry()}
	// Gathered at most once a second (server.RuntimeMetricsMaxAge); the
	// exporter's own metrics, in registry, at every scrape.
	e.runtimeRegistry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	e.registry.MustRegister(versioncollector.NewCollector(exporterName))
	e.store = collector.NewStore(collector.StoreConfig{CurrentStatusOnly: o.CurrentStatusOnly})
	metrics := refresh.NewMetrics(e.registry, e.store.Len, o.RefreshInterval, o.Webhook(), o.ChosenAPI().Operations...)
	e.secrets.Set("context identifier", []string{contextIdentifier})
	api, err := o.Upstream(options.Hooks{Secrets: e.secrets, Logger: logger, ContextIdentifier: contextIdentifier,
		Observe: metrics.ObserveRequest, Dropped: metrics.DroppedItems})
	if err != nil {
		return nil, err
	}
	if t, ok := api.(interface{ TokenExpiry() time.Time }); ok {
		e.registry.MustRegister(refresh.NewTokenExpiryCollector(t.TokenExpiry))
	}
	logger.Info("calling AssureSign", "api", o.API, "endpoint", api.Endpoint(), "batch_size", o.BatchSize,
		"concurrency", o.Concurrency, "refresh_interval", o.RefreshInterval, "max_interval", o.MaxInterval)
	e.refresher = refresh.NewRefresher(refresh.Config{
		Interval:          o.RefreshInterval,
		TerminalInterval:  o.TerminalInterval,
		MaxInterval:       o.MaxInterval,
		BatchSize:         o.BatchSize,
		Concurrency:       o.Concurrency,
		Timeout:           o.RequestTimeout,
		ContextIdentifier: contextIdentifier,
		Envelopes:         refresh.EnvelopeLimits{MaxDocuments: o.MaxDocuments, MaxEnvelopeDocuments: o.MaxEnvelopeDocuments, Secrets: e.secrets},
		ByEnvelope:        o.ChosenAPI().ByEnvelope,
		Push:              o.Push(),
	}, e.store, api, metrics, logger)
	e.registry.MustRegister(refresh.NewCheckIntervalCollector(e.refresher.CheckIntervals))
	e.envelopeRegistry.MustRegister(refresh.NewEnvelopeCollector(e.refresher.Envelopes))
	e.shard, _ = o.ShardNumber() // validated by Validate
	collector.RegisterShardMetrics(e.registry, e.shard, o.TotalShards)
	chosen := o.ChosenAPI()
	e.watch = watchlist.NewFiles(o.WatchFiles, o.MaxDocuments, contextIdentifier == "" && !chosen.OptionalContext, e.registry, logger)
	if chosen.ByEnvelope {
		e.watch.EnvelopesOnly()
	}
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
	e.secrets.Set("watch list", wl.Secrets())
	total := e.opts.TotalShards
	owned := wl.Shard(e.shard, total)
	if total > 1 {
		e.logger.Info("documents of this shard", "shard", e.shard, "total_shards", total,
			"documents", len(owned.Documents), "watch_list_documents", len(wl.Documents))
	}
	return owned, err
}

// restore loads --persistence.file, if given, into the store and keeps the
// writer that keeps it. A file that cannot be used is a warning: the
// exporter starts empty. A directory it cannot write to is an error now
// rather than a loss later.
func (e *exporter) restore() error {
	path := e.opts.PersistenceFile
	if path == "" {
		return nil
	}
	if err := persistence.CheckWritable(path); err != nil {
		return fmt.Errorf("--persistence.file %s: %w", path, err)
	}
	var st collector.State
	switch err := persistence.Load(path, &st, collector.StateFileLimit(e.opts.MaxDocuments)); {
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
	e.saver = persistence.NewWriter(path, e.opts.PersistenceInterval, generation, func() (uint64, any) {
		g, st := e.store.State()
		return g, st
	}, e.registry, e.logger)
	return nil
}

// serverView is what the HTTP server asks of the exporter: the refresher's
// state, and reloads through the one reloader. (Both have a Run; the
// server calls neither.)
type serverView struct {
	*refresh.Refresher
	*server.Reloader
}

// buildServers builds the webhook, if on, the reload loop and the HTTP
// servers: the main one, and the webhook's own when it has an address.
func (e *exporter) buildServers() ([]server.Listener, error) {
	if err := e.buildWebhook(); err != nil {
		return nil, err
	}
	o := e.opts
	e.reloads = server.NewReloader(e.applyReload)
	opts := server.Options{
		MetricsPath: o.MetricsPath, Store: e.store, Gatherer: e.registry, RuntimeGatherer: e.runtimeRegistry,
		EnvelopeGatherer: e.envelopeRegistry, Exporter: serverView{e.refresher, e.reloads},
		Version: version.Version, Logger: e.logger, StuckAfter: o.StuckAfter, Demo: o.Demo,
	}
	var webhookListener *server.Listener
	if e.webhook != nil {
		if o.WebhookListen == "" {
			opts.Webhook = e.webhook
		} else {
			if o.WebhookWebConfig == "" {
				e.logger.Warn("the webhook's own listener serves plain HTTP, so its bearer token crosses the network in clear; give it TLS with --webhook.web.config.file",
					"address", o.WebhookListen)
			}
			wmux := http.NewServeMux()
			wmux.Handle(server.WebhookPath, e.webhook)
			webhookListener = &server.Listener{Server: server.NewHTTPServer(wmux), Flags: &web.FlagConfig{
				WebListenAddresses: &[]string{o.WebhookListen}, WebSystemdSocket: new(bool), WebConfigFile: &o.WebhookWebConfig,
			}}
		}
	}
	handler, err := server.New(opts)
	if err != nil {
		return nil, err
	}
	listeners := []server.Listener{{Server: server.NewHTTPServer(handler), Flags: o.Web}}
	if webhookListener != nil {
		listeners = append(listeners, *webhookListener)
	}
	return listeners, nil
}

// buildWebhook builds the DocumentTRAK webhook when --webhook.bearer-token-file
// is given, forwarding to the other shards when there are any.
func (e *exporter) buildWebhook() error {
	o := e.opts
	if !o.Webhook() {
		return nil
	}
	var err error
	if e.webhook, err = server.NewWebhookHandler(o.WebhookTokenFile, e.refresher, e.secrets, e.registry, e.logger); err != nil {
		return err
	}
	if o.TotalShards > 1 {
		if strings.HasPrefix(o.ShardURLTemplate, "http://") {
			e.logger.Warn("notifications are forwarded to other shards over plain HTTP, so the bearer token crosses the network in clear; use an https --webhook.shard-url-template")
		}
		e.webhook.ForwardTo(server.Shards{Shard: e.shard, Total: o.TotalShards, URLTemplate: o.ShardURLTemplate})
	}
	return nil
}

// applyReload re-reads the watch files and the webhook's token. The good
// files' changes apply even when another is bad.
func (e *exporter) applyReload() error {
	wl, err := e.load()
	if wl != nil {
		e.refresher.SetWatchList(wl)
	}
	if e.webhook != nil {
		err = errors.Join(err, e.webhook.Reload())
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
	reload := e.reloads.Reload
	wg.Go(func() { e.reloads.Run(ctx) })
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
	wg.Go(func() { e.watch.Watch(ctx, e.opts.WatchPoll, func() { _ = reload(ctx) }) })
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
