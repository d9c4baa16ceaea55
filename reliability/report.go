// Package reliability holds the exporter's reliability suite: fault injection
// against the simulator, bad watch files, HTTP abuse, load, and secret
// hygiene, run against the real binary. The tests live in the _test files;
// this file is the shared figures collector that TestMain prints at the end.
package reliability

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// FaultFigure is one injected upstream fault.
type FaultFigure struct {
	Name     string
	Outcome  string        // the exporter's assuresign_api_requests_total result label (check_status)
	Survived bool          // kept running, kept statuses, up=0 and a stale timestamp (up=1 for missing results), recovered
	Requests int           // upstream requests counted during the failure window
	Bound    int           // rounds × batches × (1+max-retries) for that window
	Window   time.Duration // fault injected to fault cleared
	Recovery time.Duration // fault cleared to up=1 with the upstream change visible
	Note     string
}

// BadInputFigure is one bad watch file (or file-system trick).
type BadInputFigure struct {
	Name     string
	Rejected bool   // clear error naming the file (and line), old list kept
	Skipped  bool   // not applicable here (Message says why)
	Message  string // the error the exporter gave
}

// LoadFigure is the load test's outcome.
type LoadFigure struct {
	Documents, Scrapers             int
	Duration                        time.Duration
	Served, Failed                  int
	P50, P99, Max                   time.Duration
	RSSBeforeMiB, RSSMidMiB         float64 // before the load, 15s in
	RSSEndMiB                       float64
	GoroutinesBefore, GoroutinesEnd int
	Rounds                          float64       // refresh rounds' worth of ok requests during the load
	StatusChanges                   int           // documents whose status changed during the load
	CatchUp                         time.Duration // load end to a full successful round
}

// Report collects every test's figures. It is safe for concurrent use.
type Report struct {
	mu        sync.Mutex
	faults    []FaultFigure
	badInputs []BadInputFigure
	load      *LoadFigure
	facts     map[string]string
	// Secret scan.
	scanned        int
	scannedBytes   int64
	secretFindings []string
}

// Figures is the suite's collector.
var Figures = &Report{facts: map[string]string{}}

// AddFault records a fault.
func (r *Report) AddFault(f FaultFigure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, f)
}

// AddBadInput records a bad input.
func (r *Report) AddBadInput(b BadInputFigure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.badInputs = append(r.badInputs, b)
}

// SetLoad records the load test.
func (r *Report) SetLoad(l LoadFigure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.load = &l
}

// Fact records a named figure (the last value wins).
func (r *Report) Fact(name, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.facts[name] = fmt.Sprintf(format, args...)
}

// Scanned counts one output scanned for secrets and what was found in it.
func (r *Report) Scanned(n int, findings []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.scanned++
	r.scannedBytes += int64(n)
	r.secretFindings = append(r.secretFindings, findings...)
}

// SecretFindings returns every finding so far.
func (r *Report) SecretFindings() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.secretFindings)
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond)) }

// Write prints the figures table.
func (r *Report) Write(w io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintln(w, "== reliability figures")

	faults := slices.Clone(r.faults)
	sort.Slice(faults, func(i, j int) bool { return faults[i].Name < faults[j].Name })
	survived := 0
	for _, f := range faults {
		if f.Survived {
			survived++
		}
	}
	fmt.Fprintf(w, "\nFaults: %d injected, %d survived (kept serving, up=0 and a stale timestamp or, for missing results, up=1; bounded retries, recovered)\n", len(faults), survived)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  fault\toutcome\tsurvived\tupstream requests\tbound\twindow\trecovery\tnote")
	for _, f := range faults {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\t%.1fs\t%.1fs\t%s\n", f.Name, f.Outcome, yes(f.Survived), f.Requests, f.Bound, f.Window.Seconds(), f.Recovery.Seconds(), f.Note)
	}
	tw.Flush()

	bad := slices.Clone(r.badInputs)
	sort.SliceStable(bad, func(i, j int) bool { return bad[i].Name < bad[j].Name })
	rejected, skipped := 0, 0
	for _, b := range bad {
		switch {
		case b.Skipped:
			skipped++
		case b.Rejected:
			rejected++
		}
	}
	fmt.Fprintf(w, "\nBad inputs: %d tried, %d handled cleanly (an error naming the file and line where one applies, old list kept; a page number clamped; a bad state file warned of), %d skipped\n",
		len(bad)-skipped, rejected, skipped)
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  input\tclean\terror")
	for _, b := range bad {
		msg := b.Message
		if len(msg) > 110 {
			msg = msg[:110] + "…"
		}
		clean := yes(b.Rejected)
		if b.Skipped {
			clean = "skipped"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", b.Name, clean, strings.ReplaceAll(msg, "\n", " "))
	}
	tw.Flush()

	fmt.Fprintln(w)
	if l := r.load; l != nil {
		fmt.Fprintf(w, "Load: %d documents, %d scrapers for %s: %d scrapes served, %d failed; latency p50 %s, p99 %s, max %s\n",
			l.Documents, l.Scrapers, l.Duration.Round(time.Second), l.Served, l.Failed, ms(l.P50), ms(l.P99), ms(l.Max))
		fmt.Fprintf(w, "      RSS %.1f MiB before, %.1f MiB 15s in, %.1f MiB at end; goroutines %d before, %d after\n",
			l.RSSBeforeMiB, l.RSSMidMiB, l.RSSEndMiB, l.GoroutinesBefore, l.GoroutinesEnd)
		fmt.Fprintf(w, "      refresh during the load: %.1f rounds' worth of requests (rounds every 2s when idle), %d status changes reached /metrics; a full round %.1fs after the load\n",
			l.Rounds, l.StatusChanges, l.CatchUp.Seconds())
	} else {
		fmt.Fprintln(w, "Load: not run")
	}

	fmt.Fprintf(w, "\nSecrets found in output: %d (%d outputs, %.1f MiB scanned: every binary's stderr, every HTTP body fetched)\n",
		len(r.secretFindings), r.scanned, float64(r.scannedBytes)/(1<<20))
	for _, f := range r.secretFindings {
		fmt.Fprintf(w, "  FOUND: %s\n", f)
	}

	if len(r.facts) > 0 {
		fmt.Fprintln(w, "\nOther figures:")
		names := make([]string, 0, len(r.facts))
		for n := range r.facts {
			names = append(names, n)
		}
		sort.Strings(names)
		tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		for _, n := range names {
			fmt.Fprintf(tw, "  %s\t%s\n", n, r.facts[n])
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "== end of reliability figures")
}
