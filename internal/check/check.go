// Package check is --check: it asks AssureSign once about every watched
// document and envelope, as the exporter would, prints what it found (a
// table, or JSON) and gives the exit code.
package check

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/rest"
	"github.com/assuresign-exporter/assuresign_exporter/internal/fanout"
	"github.com/assuresign-exporter/assuresign_exporter/upstream"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// --check's exit codes.
const (
	OK          = 0 // every document got a status
	Incomplete  = 1 // a document got none, an envelope could not be listed, nothing to check, or the watch list, a flag or the ContextIdentifier is invalid
	Unreachable = 2 // AssureSign could not be reached, or refused the request, the API user or every document
)

// checkExitCodes is the exit-code table that --check's help (and the docs)
// show; a test holds each way out of --check to it.
var checkExitCodes = []struct {
	code    int
	meaning string
}{
	{OK, "every document has a status"},
	{Incomplete, "a document has none, an envelope cannot be listed, the watch files name nothing to check, or the watch list, a flag or the ContextIdentifier is invalid"},
	{Unreachable, "AssureSign could not be reached, or refused the request, the API user or every document"},
}

// Help is the --check flag's help, with the exit-code table.
func Help() string {
	codes := make([]string, len(checkExitCodes))
	for i, c := range checkExitCodes {
		codes[i] = fmt.Sprintf("%d when %s", c.code, c.meaning)
	}
	return "Ask AssureSign once about every watched document, print a table (or JSON: --check.output) and exit: " +
		strings.Join(codes, "; ") + ". Starts no server."
}

// --check.output's values.
const (
	OutputTable = "table"
	OutputJSON  = "json"
)

// checkCellWidth is the most characters a cell of --check's table shows;
// --check.output=json has the full text.
const checkCellWidth = 60

// Config is what --check needs of the flags.
type Config struct {
	WatchFiles           []string
	MaxDocuments         int
	MaxEnvelopeDocuments int
	ContextIdentifier    string
	// EnvelopesOnly reads the watch files under the REST API's rules
	// (watchlist.ParseEnvelopesOnly); OptionalContext lets entries go
	// without a ContextIdentifier when none is set exporter-wide.
	EnvelopesOnly, OptionalContext bool
	// Upstream makes the API asked, redacting secrets from what it says;
	// --check adds the watch list's to them. It is called once the watch
	// list is read: an invalid list is reported before an invalid endpoint.
	Upstream    func(secrets *assuresign.Secrets) (upstream.API, error)
	BatchSize   int
	Concurrency int
	Timeout     time.Duration
	Output      string // OutputTable (also when empty) or OutputJSON
}

// Report is what --check found. --check.output=json prints it as is: its
// form is documented (docs/configuration.md) and stable, so fields may be added
// but are never renamed or removed. Every field is always present.
type Report struct {
	Result string `json:"result"` // ok, incomplete, invalid or unreachable
	// ExitCode is the process's exit code (see checkExitCodes).
	ExitCode    int    `json:"exit_code"`
	Message     string `json:"message"`      // why it failed; empty when ok
	LikelyCause string `json:"likely_cause"` // what to look at first; may be empty
	Endpoint    string `json:"endpoint"`
	BatchSize   int    `json:"batch_size"`
	Requests    int    `json:"requests"`
	Failed      int    `json:"failed_requests"`
	WithStatus  int    `json:"documents_with_status"`
	// Documents are in watch-list order, with AssureSign's answer for each;
	// the envelopes' documents follow.
	Documents []checkedDocument `json:"documents"`
	// Envelopes are the watch files' envelopes, listed or not.
	Envelopes         []checkedEnvelope `json:"envelopes"`
	EnvelopesListed   int               `json:"envelopes_listed"`
	EnvelopesEndpoint string            `json:"envelopes_endpoint"`
	// AuthEndpoint is where the REST API's tokens come from; empty under SOAP.
	AuthEndpoint string `json:"auth_endpoint"`
}

type checkedDocument struct {
	ID         string            `json:"id"`
	Labels     map[string]string `json:"labels"`
	Status     string            `json:"status"`      // StatusType as sent; empty without a status
	Step       int               `json:"step"`        // 0 when none
	StatusDate string            `json:"status_date"` // RFC 3339 in UTC; empty when none
	Exceptions []checkException  `json:"exceptions"`
	Error      string            `json:"error"` // why there is no status, if known
	// requestFailed: Error is the failed request's, which the table prints once, below.
	requestFailed bool
}

type checkException struct {
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

// Failure is the report of a --check that could not start: a flag, the
// ContextIdentifier or the watch list is invalid.
func Failure(msg string) Report {
	return Report{Result: "invalid", ExitCode: Incomplete, Message: msg, Documents: []checkedDocument{}, Envelopes: []checkedEnvelope{}}
}

// Run asks AssureSign once about every watched document, in batches as
// the exporter would, prints the outcome to out (a table, or JSON), and
// returns the exit code. It prints no secret: the client's errors and the
// server's texts are redacted, and the report holds ids and labels only.
func Run(ctx context.Context, out io.Writer, cfg Config, logger *slog.Logger) int {
	rep := checkDocuments(ctx, cfg, logger)
	WriteReport(out, cfg.Output, rep)
	return rep.ExitCode
}

// WriteReport prints rep as output asks.
func WriteReport(out io.Writer, output string, rep Report) {
	if output == OutputJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // AssureSign's texts as sent: `<`, not \u003c
		_ = enc.Encode(rep)
		return
	}
	if rep.Result == "invalid" {
		fmt.Fprintln(out, rep.Message)
		return
	}
	header := []string{"DOCUMENT ID", "LABELS", "STATUS", "STEP", "STATUS DATE", "EXCEPTIONS", "ERROR"}
	rows := make([][]string, len(rep.Documents))
	for i, d := range rep.Documents {
		step := ""
		if d.Step > 0 {
			step = strconv.Itoa(d.Step)
		}
		errText := d.Error
		if d.requestFailed {
			errText = "request failed (see below)"
		}
		rows[i] = []string{d.ID, formatLabels(d.Labels), cmp.Or(d.Status, "-"), step, d.StatusDate, formatExceptions(d.Exceptions), errText}
	}
	envelopesCut := writeEnvelopes(out, rep)
	if writeTable(out, header, rows, checkCellWidth, -1) || envelopesCut {
		fmt.Fprintf(out, "(longer texts are cut to %d characters; --check.output=json has them in full)\n", checkCellWidth)
	}
	fmt.Fprintf(out, "\n%d of %d documents have a status; requests to %s: %d (up to %d documents each), failed: %d\n",
		rep.WithStatus, len(rep.Documents), rep.Endpoint, rep.Requests, rep.BatchSize, rep.Failed)
	if rep.AuthEndpoint != "" {
		fmt.Fprintf(out, "tokens from %s\n", rep.AuthEndpoint)
	}
	if rep.Result == "ok" {
		fmt.Fprintln(out, "OK")
		return
	}
	fmt.Fprintf(out, "FAILED: %s\n", rep.Message)
	if rep.LikelyCause != "" {
		fmt.Fprintf(out, "likely cause: %s\n", rep.LikelyCause)
	}
}

// writeTable prints a table whose every column is as wide as its widest cell,
// two spaces apart, with no trailing blanks. Cells are made printable and cut
// to maxCell characters, but for column whole (-1: none); it reports whether
// any was cut.
func writeTable(out io.Writer, header []string, rows [][]string, maxCell, whole int) (cut bool) {
	all := append([][]string{header}, rows...)
	widths := make([]int, len(header))
	for _, row := range all {
		for j := range row {
			c := printable(row[j])
			if n := utf8.RuneCountInString(c); n > maxCell && j != whole {
				c = string([]rune(c)[:maxCell-1]) + "…"
				cut = true
			}
			row[j] = c
			widths[j] = max(widths[j], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, row := range all {
		b.Reset()
		for j, c := range row {
			b.WriteString(c)
			if j < len(row)-1 {
				b.WriteString(strings.Repeat(" ", widths[j]-utf8.RuneCountInString(c)+2))
			}
		}
		fmt.Fprintln(out, strings.TrimRight(b.String(), " "))
	}
	return cut
}

// checkDocuments runs the check and reports what it found.
func checkDocuments(ctx context.Context, cfg Config, logger *slog.Logger) Report {
	files := watchlist.NewFiles(cfg.WatchFiles, cfg.MaxDocuments, cfg.ContextIdentifier == "" && !cfg.OptionalContext, prometheus.NewRegistry(), logger)
	if cfg.EnvelopesOnly {
		files.EnvelopesOnly()
	}
	wl, err := files.Load()
	if err != nil {
		return Failure(fmt.Sprintf("watch list invalid: %v", err))
	}
	// "0 of 0 documents ... OK" would pass a typo in a glob.
	if len(wl.Documents) == 0 && len(wl.Envelopes) == 0 {
		quoted := make([]string, len(cfg.WatchFiles))
		for i, p := range cfg.WatchFiles {
			quoted[i] = strconv.Quote(p)
		}
		return Failure("nothing to check: --watch.file " + strings.Join(quoted, ", ") + " names no document or envelope (a glob that matches no file, or empty files)")
	}
	secrets := assuresign.NewSecrets()
	secrets.Set("watch list", append(wl.Secrets(), cfg.ContextIdentifier))
	client, err := cfg.Upstream(secrets)
	if err != nil {
		rep := Failure(err.Error())
		rep.Result, rep.ExitCode = "unreachable", Unreachable
		return rep
	}
	docs, envelopes, answered, answeringListings, envelopesFailed, overLimit := checkEnvelopes(ctx, client, secrets, wl, cfg)
	wl.Documents = docs
	// As the refresher: a document its envelope's listing answered (REST)
	// needs no check of its own; only the others are checked.
	results := make([]assuresign.Result, len(wl.Documents))
	requestFailed := make([]bool, len(wl.Documents))
	var checks []assuresign.Check
	var checked []int // the index in wl.Documents of each check
	for i, d := range wl.Documents {
		if r, ok := answered[d.ID]; ok {
			results[i] = r
			continue
		}
		checks = append(checks, assuresign.Check{ID: d.ID, AuthToken: d.AuthToken, ContextIdentifier: d.ContextIdentifierOr(cfg.ContextIdentifier), EnvelopeID: d.Envelope})
		checked = append(checked, i)
	}
	checkResults, batchErrs := checkAll(ctx, client, checks, cfg)
	for j, i := range checked {
		results[i], requestFailed[i] = checkResults[j], batchErrs[j/cfg.BatchSize] != nil
	}

	rep := Report{Endpoint: client.Endpoint(), BatchSize: cfg.BatchSize, Requests: len(batchErrs) + answeringListings, Documents: make([]checkedDocument, len(wl.Documents)),
		Envelopes: envelopes, EnvelopesListed: len(envelopes) - envelopesFailed, EnvelopesEndpoint: client.EnvelopesEndpoint()}
	if a, ok := client.(interface{ AuthURL() string }); ok {
		rep.AuthEndpoint = a.AuthURL()
	}
	refused := 0
	for i, d := range wl.Documents {
		r := results[i]
		doc := checkedDocument{ID: d.ID, Labels: d.Labels, Exceptions: make([]checkException, len(r.Exceptions))}
		if doc.Labels == nil {
			doc.Labels = map[string]string{}
		}
		for j, e := range r.Exceptions {
			doc.Exceptions[j] = checkException{Severity: e.Severity.String(), Message: e.Message}
		}
		switch {
		case r.Err != nil:
			doc.Error, doc.requestFailed = r.Err.Error(), requestFailed[i]
		case r.HasStatus():
			rep.WithStatus++
			doc.Status, doc.Step = r.RawStatus, r.Step
			if !r.StatusDate.IsZero() {
				doc.StatusDate = r.StatusDate.UTC().Format(time.RFC3339)
			}
		default:
			refused++
			doc.Error = "no status in the answer"
		}
		rep.Documents[i] = doc
	}

	var failed []error
	for _, err := range batchErrs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	rep.Failed = len(failed)
	// A refused API user (REST) fails every listing, as a wrong
	// ContextIdentifier fails every SOAP check: the set-up's problem.
	var refusedUser error
	for _, e := range envelopes {
		if errors.Is(e.err, rest.ErrCredentialsRefused) {
			refusedUser = e.err
			break
		}
	}
	n := len(wl.Documents)
	switch {
	case len(failed) > 0:
		rep.Result, rep.ExitCode = "unreachable", Unreachable
		rep.Message, rep.LikelyCause = failed[0].Error(), client.Hint(failed[0])
	case refusedUser != nil:
		rep.Result, rep.ExitCode = "unreachable", Unreachable
		rep.Message, rep.LikelyCause = refusedUser.Error(), client.Hint(refusedUser)
	case n > 0 && refused == n:
		rep.Result, rep.ExitCode = "unreachable", Unreachable
		rep.Message = "AssureSign answered, but with no status for any document"
		rep.LikelyCause = "a wrong ContextIdentifier, or documents of another account or region (the region host in --assuresign.endpoint)"
	case overLimit > 0:
		rep.Result, rep.ExitCode = "incomplete", Incomplete
		rep.Message = fmt.Sprintf("envelopes over --watch.max-documents=%d or --watch.max-envelope-documents=%d, their documents not checked: %d (see their errors)",
			cfg.MaxDocuments, cfg.MaxEnvelopeDocuments, overLimit)
	case rep.WithStatus < n:
		rep.Result, rep.ExitCode = "incomplete", Incomplete
		rep.Message = fmt.Sprintf("documents without a status: %d (see their exceptions and errors: a wrong AuthToken or id, or a document deleted in AssureSign)", n-rep.WithStatus)
	case envelopesFailed > 0:
		rep.Result, rep.ExitCode = "incomplete", Incomplete
		rep.Message = fmt.Sprintf("envelopes not listed: %d (a wrong envelope id or AuthToken, or see --assuresign.envelopes-endpoint)", envelopesFailed)
		for _, e := range envelopes {
			if errors.As(e.err, new(*assuresign.Error)) {
				rep.LikelyCause = client.Hint(e.err) // the first failure's
				break
			}
		}
	default:
		rep.Result, rep.ExitCode = "ok", OK
	}
	return rep
}

// checkAll sends the checks in batches, at most cfg.Concurrency at once. It
// returns one result per check (Err set when its batch failed) and each
// batch's error.
func checkAll(ctx context.Context, client upstream.API, checks []assuresign.Check, cfg Config) ([]assuresign.Result, []error) {
	results := make([]assuresign.Result, len(checks))
	errs := make([]error, (len(checks)+cfg.BatchSize-1)/cfg.BatchSize)
	fanout.Each(context.WithoutCancel(ctx), len(errs), cfg.Concurrency, func(_ context.Context, b int) {
		// Every batch gets a result: once ctx has ended, its error.
		lo, hi := b*cfg.BatchSize, min((b+1)*cfg.BatchSize, len(checks))
		reqCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
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
	return results, errs
}

func formatLabels(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for _, name := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, name+"="+labels[name])
	}
	return strings.Join(parts, ",")
}

func formatExceptions(ex []checkException) string {
	parts := make([]string, len(ex))
	for i, e := range ex {
		parts[i] = e.Severity + ": " + e.Message
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
