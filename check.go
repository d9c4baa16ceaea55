package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// --check's exit codes.
const (
	checkOK          = 0 // every document got a status
	checkIncomplete  = 1 // a document got none, or the watch list is invalid
	checkUnreachable = 2 // AssureSign could not be reached, or refused the request or every document
)

// checkConfig is what --check needs of the flags.
type checkConfig struct {
	watchFiles        []string
	maxDocuments      int
	contextIdentifier string
	client            assuresign.Config
	batchSize         int
	concurrency       int
	timeout           time.Duration
}

// runCheck asks AssureSign once about every watched document, in batches as
// the exporter would, prints a table and a summary to out, and returns the
// exit code. It prints no secret: the client's errors and the server's texts
// are redacted, and the table shows ids and labels only.
func runCheck(ctx context.Context, out io.Writer, cfg checkConfig, logger *slog.Logger) int {
	wl, err := watchlist.NewFiles(cfg.watchFiles, cfg.maxDocuments, cfg.contextIdentifier == "", prometheus.NewRegistry(), logger).Load()
	if err != nil {
		fmt.Fprintf(out, "watch list invalid: %v\n", err)
		return checkIncomplete
	}
	client, err := assuresign.NewClient(cfg.client)
	if err != nil {
		fmt.Fprintln(out, err)
		return checkUnreachable
	}
	var envelopesFailed int
	wl.Documents, envelopesFailed = checkEnvelopes(ctx, out, client, wl, cfg)
	checks := make([]assuresign.Check, len(wl.Documents))
	for i, d := range wl.Documents {
		checks[i] = assuresign.Check{ID: d.ID, AuthToken: d.AuthToken, ContextIdentifier: cmp.Or(d.ContextIdentifier, cfg.contextIdentifier)}
	}
	results, batchErrs := checkAll(ctx, client, checks, cfg)

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DOCUMENT ID\tLABELS\tSTATUS\tSTEP\tSTATUS DATE\tEXCEPTIONS\tERROR")
	withStatus, refused := 0, 0
	for i, d := range wl.Documents {
		r := results[i]
		row := []string{d.ID, formatLabels(d.Labels), "-", "", "", formatExceptions(r.Exceptions), ""}
		switch {
		case r.Err != nil && batchErrs[i/cfg.batchSize] != nil:
			row[6] = "request failed (see below)"
		case r.Err != nil:
			row[6] = r.Err.Error()
		case r.HasStatus():
			withStatus++
			row[2] = r.RawStatus
			if r.Step > 0 {
				row[3] = strconv.Itoa(r.Step)
			}
			if !r.StatusDate.IsZero() {
				row[4] = r.StatusDate.UTC().Format(time.RFC3339)
			}
		default:
			refused++
			row[6] = "no status in the answer"
		}
		for j := range row {
			row[j] = printable(row[j])
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	_ = tw.Flush()

	var failed []error
	for _, err := range batchErrs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	n := len(wl.Documents)
	fmt.Fprintf(out, "\n%d of %d documents have a status; requests to %s: %d (up to %d documents each), failed: %d\n",
		withStatus, n, client.Endpoint(), len(batchErrs), cfg.batchSize, len(failed))
	switch {
	case len(failed) > 0:
		fmt.Fprintf(out, "FAILED: %v\n", failed[0])
		fmt.Fprintf(out, "likely cause: %s\n", likelyCause(failed[0], client.Endpoint()))
		return checkUnreachable
	case n > 0 && refused == n:
		fmt.Fprintln(out, "FAILED: AssureSign answered, but with no status for any document")
		fmt.Fprintln(out, "likely cause: a wrong ContextIdentifier, or documents of another account or region (the region host in --assuresign.endpoint)")
		return checkUnreachable
	case withStatus < n:
		fmt.Fprintf(out, "FAILED: documents without a status: %d (see their exceptions and errors: a wrong AuthToken or id, or a document deleted in AssureSign)\n", n-withStatus)
		return checkIncomplete
	case envelopesFailed > 0:
		fmt.Fprintf(out, "FAILED: envelopes not listed: %d (a wrong envelope id or AuthToken, or see --assuresign.envelopes-endpoint)\n", envelopesFailed)
		return checkIncomplete
	}
	fmt.Fprintln(out, "OK")
	return checkOK
}

// checkAll sends the checks in batches, at most cfg.concurrency at once. It
// returns one result per check (Err set when its batch failed) and each
// batch's error.
func checkAll(ctx context.Context, client *assuresign.Client, checks []assuresign.Check, cfg checkConfig) ([]assuresign.Result, []error) {
	results := make([]assuresign.Result, len(checks))
	errs := make([]error, (len(checks)+cfg.batchSize-1)/cfg.batchSize)
	sem := make(chan struct{}, cfg.concurrency)
	var wg sync.WaitGroup
	for b := range errs {
		lo, hi := b*cfg.batchSize, min((b+1)*cfg.batchSize, len(checks))
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			reqCtx, cancel := context.WithTimeout(ctx, cfg.timeout)
			defer cancel()
			res, err := client.CheckStatus(reqCtx, checks[lo:hi])
			if err != nil {
				errs[b] = err
				for i := lo; i < hi; i++ {
					results[i] = assuresign.Result{ID: checks[i].ID, Err: err}
				}
				return
			}
			copy(results[lo:hi], res)
		})
	}
	wg.Wait()
	return results, errs
}

// likelyCause turns a failed request into what to look at first.
func likelyCause(err error, endpoint string) string {
	host := endpoint
	if u, perr := url.Parse(endpoint); perr == nil {
		host = u.Host
	}
	const regions = "www.assuresign.net is US West, na1. US East, ca1. Canada, sb. the sandbox"
	var dnsErr *net.DNSError
	var e *assuresign.Error
	switch {
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("the host %s does not resolve: check the region host in --assuresign.endpoint: %s", host, regions)
	case !errors.As(err, &e):
		return "an unexpected failure"
	}
	switch e.Kind {
	case assuresign.KindTransport:
		return fmt.Sprintf("%s could not be reached: check the region host in --assuresign.endpoint (%s), and any proxy or firewall", host, regions)
	case assuresign.KindTimeout:
		return fmt.Sprintf("%s did not answer within --assuresign.timeout: a wrong host, a firewall dropping packets, or AssureSign is slow", host)
	case assuresign.KindSOAPFault:
		return "AssureSign refused the request: a wrong ContextIdentifier, or an endpoint of another DocumentNOW operation"
	case assuresign.KindHTTPStatus:
		switch {
		case e.StatusCode == 404 || e.StatusCode == 405:
			return "the endpoint path is likely wrong: CheckStatus is expected at /Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text (a sandbox may need /Documents before /Services)"
		case e.StatusCode == 401 || e.StatusCode == 403:
			return "refused by the server or a proxy in front of it: a wrong ContextIdentifier, or a network that may not call AssureSign"
		case e.StatusCode == 429:
			return "AssureSign asks to slow down: try again later, with fewer requests (a larger --assuresign.batch-size)"
		case e.StatusCode >= 500:
			return "AssureSign (or a proxy) is failing: try again later; if it lasts, check the endpoint path"
		}
	case assuresign.KindContentType, assuresign.KindMalformed:
		return "the endpoint did not answer as CheckStatus does (an HTML page, say): a wrong path or host, a proxy, or maintenance"
	case assuresign.KindTooLarge:
		return "the answer is larger than --assuresign.max-response-bytes: lower --assuresign.batch-size or raise the limit"
	}
	return "see the error above"
}

func formatLabels(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for _, name := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, name+"="+labels[name])
	}
	return strings.Join(parts, ",")
}

func formatExceptions(ex []assuresign.Exception) string {
	parts := make([]string, len(ex))
	for i, e := range ex {
		parts[i] = e.Severity.String() + ": " + e.Message
	}
	return strings.Join(parts, "; ")
}

// printable quotes text holding control characters, which would break the
// table's columns or a terminal.
func printable(s string) string {
	if strings.ContainsFunc(s, unicode.IsControl) {
		return strconv.Quote(s)
	}
	return s
}
