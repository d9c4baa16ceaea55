package reliability

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// The fault pairs' settings: 4 documents in batches of 2, so a round sends 2
// requests, each retried at most twice.
const (
	faultDocs       = 4
	faultBatch      = 2
	faultRetries    = 2
	faultInterval   = time.Second
	faultBatches    = (faultDocs + faultBatch - 1) / faultBatch
	recoveryTimeout = 20 * time.Second
)

// pair is a simulator and an exporter watching its documents.
type pair struct {
	sim  *simulatorProc
	exp  *exporter
	docs []doc
	dir  string
}

func startPair(t *testing.T, n int, flags map[string]string) *pair {
	t.Helper()
	p := &pair{docs: newDocs(n, t.Name())}
	var ctxPath string
	p.dir, ctxPath, p.sim = newAccount(t, p.docs)
	watch := p.dir + "/watch.yml"
	testenv.ReplaceFile(t, watch, watchYAML(p.docs))
	f := map[string]string{ // the bound in runFault is computed from these
		"assuresign.batch-size":     fmt.Sprint(faultBatch),
		"assuresign.concurrency":    "2",
		"assuresign.max-retries":    fmt.Sprint(faultRetries),
		"assuresign.timeout":        "2s",
		"refresh.interval":          faultInterval.String(),
		"refresh.terminal-interval": faultInterval.String(),
	}
	for k, v := range flags {
		f[k] = v
	}
	p.exp = startExporter(t, exporterOpts{watchFile: watch, endpoint: p.sim.Endpoint(), contextFile: ctxPath, flags: f})
	testenv.Eventually(t, 20*time.Second, "the first round to succeed", func() (bool, string) {
		s := p.exp.scrape()
		if s.up() != 1 {
			return false, fmt.Sprintf("up=%v", s.up())
		}
		return statusesMatch(s, p.docs)
	})
	return p
}

type faultCase struct {
	name    string
	outcome string // the exporter's result label for the failed requests
	inject  func(p *pair)
	// clear ends the fault, with changed as the upstream's documents; the
	// default clears the simulator's fault.
	clear func(p *pair, changed []doc)
	// retries allowed per batch and round (the bound's 1+max-retries); 0 means faultRetries.
	attempts int
	note     string
}

func TestFaults(t *testing.T) {
	simFault := func(kind string, retryAfter int) func(p *pair) {
		return func(p *pair) { p.sim.fault(kind, retryAfter) }
	}
	cases := []faultCase{
		{name: "timeout (latency 3s > timeout 2s)", outcome: "timeout", inject: func(p *pair) { p.sim.latency(3000) },
			clear: func(p *pair, _ []doc) { p.sim.latency(0) }},
		{name: "connection refused", outcome: "transport", inject: func(p *pair) { p.sim.stop() },
			clear: func(p *pair, changed []doc) { p.sim.restart(changed) }, note: "counted by the exporter: the simulator is down"},
		{name: "http500", outcome: "http_5xx", inject: simFault("http500", 0)},
		{name: "429 Retry-After 1s", outcome: "http_429", inject: simFault("429", 1), note: "Retry-After honoured: at most 2 attempts fit the 2s timeout"},
		{name: "soap_fault", outcome: "soap_fault", inject: simFault("soap_fault", 0), attempts: 1, note: "not retried"},
		{name: "malformed XML", outcome: "malformed", inject: simFault("malformed", 0), attempts: 1, note: "not retried"},
		{name: "truncated body", outcome: "transport", inject: simFault("truncated", 0)},
		{name: "HTML maintenance page", outcome: "content_type", inject: simFault("html", 0), attempts: 1, note: "not retried"},
		{name: "over-size body (8 MiB > 4 MiB)", outcome: "too_large", inject: simFault("oversize", 0), attempts: 1, note: "not retried"},
		{name: "slow-drip body", outcome: "timeout", inject: simFault("slow_drip", 0)},
		{name: "missing results", outcome: "missing", inject: simFault("missing_results", 0), attempts: 1, note: "answers are valid: no retry; a per-document anomaly, so up stays 1"},
		{name: "connection closed", outcome: "transport", inject: simFault("close", 0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runFault(t, tc)
		})
	}
}

func runFault(t *testing.T, tc faultCase) {
	fig := FaultFigure{Name: tc.name, Outcome: tc.outcome, Note: tc.note}
	defer func() {
		fig.Survived = !t.Failed()
		Figures.AddFault(fig)
	}()
	attempts := tc.attempts
	if attempts == 0 {
		attempts = 1 + faultRetries
	}
	p := startPair(t, faultDocs, nil)
	refused := tc.name == "connection refused"
	// indicator counts failed requests (or, for missing results, missing documents).
	indicator := func(s *scrape) float64 {
		if tc.outcome == "missing" {
			return s.value(`assuresign_document_results_total{result="missing"}`)
		}
		return s.requests(tc.outcome)
	}
	upstreamCount := func(s *scrape) int {
		if refused {
			return int(s.requests("transport"))
		}
		return p.sim.requests()
	}

	before := p.exp.scrape()
	count0 := upstreamCount(before)
	t0 := time.Now()
	tc.inject(p)

	// A document missing from a valid answer is that document's anomaly, not
	// an outage: up stays 1 and the last success keeps moving.
	perDocument := tc.outcome == "missing"
	wantUp := 0.0
	if perDocument {
		wantUp = 1
	}
	var down *scrape
	testenv.Eventually(t, 15*time.Second, "the fault to show", func() (bool, string) {
		down = p.exp.scrape()
		if perDocument {
			return indicator(down) > indicator(before), fmt.Sprintf("missing=%v", indicator(down))
		}
		return down.up() == 0, fmt.Sprintf("up=%v", down.up())
	})
	stale := down.lastSuccess()

	// Change a document upstream while the fault lasts.
	changed := slices.Clone(p.docs)
	changed[0].Status, changed[0].Step = "Completed", 0
	if !refused {
		p.sim.put(changed[0])
	}

	// Two more failed rounds' worth of requests: meanwhile every scrape must
	// show the last known statuses, up=0 and the stale success timestamp.
	ind0 := indicator(down)
	scrapes := 0
	testenv.Eventually(t, 30*time.Second, "more failed rounds", func() (bool, string) {
		if !p.exp.Alive() {
			t.Fatalf("the exporter exited:\n%s", p.exp.Output)
		}
		s := p.exp.scrape()
		scrapes++
		if s.up() != wantUp {
			t.Fatalf("assuresign_up=%v during the fault, want %v", s.up(), wantUp)
		}
		if got := s.lastSuccess(); got != stale && !perDocument {
			t.Fatalf("last success timestamp moved during the fault: %v → %v", stale, got)
		}
		for i, d := range p.docs {
			got := s.statuses[d.ID]
			if got != d.Status && (i != 0 || got != changed[0].Status) {
				// Only missing results may deliver the change early (its answered half is valid).
				t.Fatalf("document %s shows %q during the fault, want the last known %q", d.ID, got, d.Status)
			}
		}
		if code, _, err := p.exp.get("/-/healthy"); err != nil || code != 200 {
			t.Fatalf("/-/healthy: %d %v", code, err)
		}
		return indicator(s) >= ind0+2*faultBatches, fmt.Sprintf("%s: %v → %v", tc.outcome, ind0, indicator(s))
	})
	atEnd := p.exp.scrape()
	if perDocument && atEnd.lastSuccess() <= stale {
		t.Errorf("last success timestamp stopped at %v during a per-document fault", stale)
	}
	age := float64(time.Now().UnixNano())/1e9 - atEnd.lastSuccess()
	fig.Requests = upstreamCount(atEnd) - count0
	t1 := time.Now()

	// Clear the fault.
	if tc.clear != nil {
		tc.clear(p, changed)
	} else {
		p.sim.clearFault()
	}
	fig.Window = t1.Sub(t0)
	rounds := 2 + int(math.Floor(fig.Window.Seconds()/(0.95*faultInterval.Seconds())))
	fig.Bound = rounds * faultBatches * attempts
	if fig.Requests > fig.Bound {
		t.Errorf("%d upstream requests in %s, more than the bound %d (%d rounds × %d batches × %d attempts)",
			fig.Requests, fig.Window, fig.Bound, rounds, faultBatches, attempts)
	}
	if fig.Requests < 2*faultBatches {
		t.Errorf("only %d upstream requests in the window", fig.Requests)
	}

	fig.Recovery = testenv.Eventually(t, recoveryTimeout, "recovery with the upstream change", func() (bool, string) {
		s := p.exp.scrape()
		if s.up() != 1 {
			return false, fmt.Sprintf("up=%v", s.up())
		}
		if s.lastSuccess() <= stale && !perDocument {
			return false, "last success timestamp not advanced"
		}
		return statusesMatch(s, changed)
	})
	fig.Note = fmt.Sprintf("%s; data age %.1fs at clear; %d scrapes ok during fault", fig.Note, age, scrapes)
	if fig.Note[0] == ';' {
		fig.Note = fig.Note[2:]
	}
	if !p.exp.Alive() {
		t.Fatalf("the exporter exited")
	}
}

// A Retry-After longer than a request may wait is not retried within the
// request, and the exporter sends nothing at all until it has passed, however
// often its rounds come; then the next round recovers.
func TestRetryAfterBeyondTheDeadline(t *testing.T) {
	const retryAfter = 6 * time.Second
	fig := FaultFigure{Name: "429 Retry-After 6s", Outcome: "http_429"}
	defer func() {
		fig.Survived = !t.Failed()
		Figures.AddFault(fig)
	}()
	p := startPair(t, faultDocs, nil)
	count0 := p.sim.requests()
	t0 := time.Now()
	p.sim.fault("429", int(retryAfter/time.Second))

	var down *scrape
	testenv.Eventually(t, 15*time.Second, "assuresign_up to drop to 0", func() (bool, string) {
		down = p.exp.scrape()
		return down.up() == 0, fmt.Sprintf("up=%v", down.up())
	})
	afterFirst := p.sim.requests()
	changed := slices.Clone(p.docs)
	changed[0].Status, changed[0].Step = "Completed", 0
	p.sim.put(changed[0])
	p.sim.clearFault() // the upstream is fine again, but asked for quiet

	// Rounds come every second; none may reach the upstream while Retry-After lasts.
	quietEnd := t0.Add(retryAfter - time.Second)
	for time.Now().Before(quietEnd) {
		s := p.exp.scrape()
		require.Equal(t, 0.0, s.up(), "up during the quiet period")
		require.Equal(t, afterFirst, p.sim.requests(), "an upstream request during Retry-After")
		time.Sleep(200 * time.Millisecond)
	}
	fig.Requests = afterFirst - count0
	fig.Bound = faultBatches // one round's batches at most: the first answer stops the rest
	fig.Window = time.Since(t0)
	if fig.Requests > fig.Bound {
		t.Errorf("%d upstream requests during Retry-After, want at most %d", fig.Requests, fig.Bound)
	}
	t1 := time.Now()
	testenv.Eventually(t, recoveryTimeout, "recovery with the upstream change", func() (bool, string) {
		s := p.exp.scrape()
		if s.up() != 1 {
			return false, fmt.Sprintf("up=%v", s.up())
		}
		return statusesMatch(s, changed)
	})
	fig.Recovery = time.Since(t1)
	fig.Note = fmt.Sprintf("no request for the %s asked; rounds every %s", retryAfter, faultInterval)
}
