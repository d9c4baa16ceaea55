// Command assuresign_exporter exports the status of watched AssureSign
// documents and envelopes to Prometheus. It asks AssureSign in batches on a
// slow background refresh and serves every scrape from its cache.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/internal/check"
	"github.com/assuresign-exporter/assuresign_exporter/internal/options"
	"github.com/assuresign-exporter/assuresign_exporter/upstream"
)

const exporterName = "assuresign_exporter"

func main() {
	o := options.AddFlags(kingpin.CommandLine)
	kingpin.Version(versionText(os.Args[1:]))
	kingpin.HelpFlag.Short('h')
	kingpin.Parse()
	logger := promslog.New(&o.Log)
	if os.Getenv("GOGC") == "" {
		// Nearly all of the heap is the cache, which lives as long as the
		// process: letting it double before each collection, Go's default,
		// would double the exporter's memory for nothing.
		debug.SetGCPercent(50)
	}

	if o.Check {
		os.Exit(runCheck(o, logger))
	}
	if err := run(o, logger); err != nil {
		logger.Error("exiting", "err", err)
		os.Exit(1)
	}
}

// runCheck runs --check with the flags' values and returns its exit code.
func runCheck(o *options.Options, logger *slog.Logger) int {
	o.Resolve()
	contextIdentifier, err := o.ContextIdentifier()
	if err == nil {
		err = o.Validate()
	}
	if err == nil {
		err = o.RESTCredentials()
	}
	if err != nil {
		if o.CheckOutput == check.OutputJSON {
			check.WriteReport(os.Stdout, o.CheckOutput, check.Failure(err.Error()))
		} else {
			fmt.Fprintln(os.Stderr, err)
		}
		return check.Incomplete
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return check.Run(ctx, os.Stdout, check.Config{
		WatchFiles: o.WatchFiles, MaxDocuments: o.MaxDocuments, MaxEnvelopeDocuments: o.MaxEnvelopeDocuments,
		ContextIdentifier: contextIdentifier,
		EnvelopesOnly:     o.ChosenAPI().ByEnvelope, OptionalContext: o.ChosenAPI().OptionalContext,
		Upstream: func(secrets *assuresign.Secrets) (upstream.API, error) {
			return o.Upstream(options.Hooks{Secrets: secrets, Logger: logger, ContextIdentifier: contextIdentifier})
		},
		BatchSize: o.BatchSize, Concurrency: o.Concurrency, Timeout: o.RequestTimeout, Output: o.CheckOutput,
	}, logger)
}
