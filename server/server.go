// Package server is the exporter's HTTP surface: /metrics, the landing page,
// the health, readiness and reload endpoints and the DocumentTRAK webhook,
// built by New over an Exporter; the Reloader every reload goes through, and
// Serve, which runs the listeners.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/refresh"
)

// WebhookPath is where DocumentTRAK notifications are received.
const WebhookPath = "/webhooks/documenttrak"

// Options configure the handler New returns.
type Options struct {
	MetricsPath string              // where /metrics is served
	Store       *collector.Store    // the documents, for /metrics and the landing page
	Gatherer    prometheus.Gatherer // the exporter's own metrics, served after the documents', gathered every scrape
	// RuntimeGatherer, when set, gives the Go runtime's and the process's
	// metrics, served before the exporter's own and gathered at most once per
	// RuntimeMetricsMaxAge.
	RuntimeGatherer prometheus.Gatherer
	// EnvelopeGatherer, when set, gives the envelopes' families, served
	// before the exporter's own and encoded again only when
	// EnvelopesGeneration changes: a scrape must not do work that grows
	// with the envelopes' documents.
	EnvelopeGatherer prometheus.Gatherer
	// Exporter is what the handler asks of the exporter behind it.
	Exporter Exporter
	// Webhook, when set, is served at WebhookPath and linked from the landing page.
	Webhook http.Handler
	Version string
	Logger  *slog.Logger
	// StuckAfter is how long a document may sit in one step before the
	// landing page lists it as stuck; DefaultStuckAfter when 0.
	StuckAfter time.Duration
	Now        func() time.Time // the landing page's clock and the runtime metrics'; time.Now when nil
	// Demo marks the landing page as the demo's: its documents are made up.
	Demo bool
}

// Exporter is what the handler asks of the exporter: the refresher's state,
// and reloads.
type Exporter interface {
	// Ready is whether /-/ready answers 200: the first round is done.
	Ready() bool
	// CheckIntervals counts the documents on each check interval, for the landing page.
	CheckIntervals() []refresh.CheckInterval
	// Envelopes are the watched envelopes, for the landing page.
	Envelopes() []refresh.EnvelopeView
	// EnvelopesGeneration changes whenever the envelopes' families do:
	// EnvelopeGatherer is encoded again only then.
	EnvelopesGeneration() uint64
	// Upstream is AssureSign's health, for the landing page.
	Upstream() refresh.Upstream
	// Reload reloads the configuration; it gives up when ctx ends.
	Reload(ctx context.Context) error
}

// DefaultStuckAfter matches the AssureSignDocumentStuck alert's threshold.
const DefaultStuckAfter = 7 * 24 * time.Hour

// reservedPaths are served by New whatever the metrics path.
var reservedPaths = []string{"/", "/-/healthy", "/-/ready", "/-/reload", WebhookPath}

// CheckMetricsPath rejects a metrics path that cannot be served: one that is
// not absolute, holds pattern syntax, or is taken by another endpoint.
func CheckMetricsPath(path string) error {
	switch {
	case !strings.HasPrefix(path, "/"):
		return fmt.Errorf("--web.telemetry-path %q must start with /", path)
	case strings.ContainsAny(path, "{} \t\n"):
		return fmt.Errorf("--web.telemetry-path %q must not hold braces or white space", path)
	}
	for _, p := range reservedPaths {
		if path == p {
			return fmt.Errorf("--web.telemetry-path %q is taken by another endpoint", path)
		}
	}
	return nil
}

// New returns the exporter's HTTP handler.
func New(o Options) (http.Handler, error) {
	if err := CheckMetricsPath(o.MetricsPath); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.StuckAfter <= 0 {
		o.StuckAfter = DefaultStuckAfter
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	mux := http.NewServeMux()
	tail := &tailMetrics{runtime: o.RuntimeGatherer, own: o.Gatherer, now: o.Now,
		envelopes: o.EnvelopeGatherer, envelopesGen: o.Exporter.EnvelopesGeneration}
	mux.Handle(o.MetricsPath, newMetricsHandler(o.Store, tail, o.Logger))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Healthy") })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !o.Exporter.Ready() {
			http.Error(w, "waiting for the first refresh round", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST to reload", http.StatusMethodNotAllowed)
			return
		}
		if err := o.Exporter.Reload(r.Context()); err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				http.Error(w, "reload not finished: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
			http.Error(w, "reload failed: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "Reloaded")
	})
	links := []link{{Address: o.MetricsPath, Text: "Metrics"}, {Address: "/-/healthy", Text: "Health"}, {Address: "/-/ready", Text: "Readiness"}}
	if o.Webhook != nil {
		mux.Handle(WebhookPath, o.Webhook)
		links = append(links, link{Address: WebhookPath, Text: "DocumentTRAK webhook (POST)"})
	}
	mux.Handle("/", &landingPage{
		version: o.Version, links: links, store: o.Store, exporter: o.Exporter,
		now: o.Now, stuckAfter: o.StuckAfter, logger: o.Logger, demo: o.Demo,
	})
	return mux, nil
}
