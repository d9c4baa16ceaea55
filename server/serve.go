package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
)

// Listener is one HTTP server and the exporter-toolkit flags (addresses,
// TLS and basic auth) it listens with.
type Listener struct {
	Server *http.Server
	Flags  *web.FlagConfig
}

// NewHTTPServer bounds every phase of a request so slow clients cannot pin
// connections; the write timeout leaves room for a large scrape.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// Serve runs the listeners until ctx ends or one fails, then shuts all down.
func Serve(ctx context.Context, listeners []Listener, logger *slog.Logger) error {
	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		go func() { errc <- web.ListenAndServe(l.Server, l.Flags, logger) }()
	}
	var err error
	running := len(listeners)
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err = <-errc:
		running--
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, l := range listeners {
		_ = l.Server.Shutdown(shutdownCtx)
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

// Reloader applies every reload in one goroutine, whatever asked for it
// (SIGHUP, the file watcher, POST /-/reload).
type Reloader struct {
	apply    func() error
	requests chan chan error
	stopped  chan struct{} // closed when Run returns
}

// NewReloader returns a Reloader that reloads with apply.
func NewReloader(apply func() error) *Reloader {
	return &Reloader{apply: apply, requests: make(chan chan error), stopped: make(chan struct{})}
}

// Run applies reloads until ctx ends.
func (r *Reloader) Run(ctx context.Context) {
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

// Reload asks for a reload and waits for its outcome; it gives up when ctx
// ends (a caller that went away) or Run has stopped.
func (r *Reloader) Reload(ctx context.Context) error {
	done := make(chan error, 1) // Run never waits on a caller that gave up
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
