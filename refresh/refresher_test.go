package refresh

import (
	"context"
	"fmt"
	"html"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/internal/storetest"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/upstream"
	"github.com/assuresign-exporter/assuresign_exporter/upstream/upstreamtest"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// newFakeRefresher wires a refresher to a fake checker.
func newFakeRefresher(t *testing.T, cfg Config, c upstream.API) (*Refresher, *collector.Store, *prometheus.Registry) {
	t.Helper()
	if cfg.Interval == 0 {
		cfg.Interval = time.Hour
	}
	if cfg.TerminalInterval == 0 {
		cfg.TerminalInterval = 24 * time.Hour
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 50
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 1
	}
	reg := prometheus.NewRegistry()
	store := collector.NewStore(collector.StoreConfig{})
	return NewRefresher(cfg, store, c, NewMetrics(reg, store.Len, cfg.Interval, false), testenv.DiscardLogger()), store, reg
}

// run starts r.Run and stops it when the test ends.
func run(t *testing.T, r *Refresher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// gateChecker holds every call until a token arrives on release (or its
// context ends), and tracks how many calls are in flight.
type gateChecker struct {
	upstreamtest.Base
	release chan struct{}
	during  func() // called while a call is held, if set

	mu              sync.Mutex
	inflight, peak  int
	calls, finished int
}

func newGateChecker() *gateChecker { return &gateChecker{release: make(chan struct{})} }

func (g *gateChecker) CheckStatus(ctx context.Context, checks []assuresign.Check) ([]assuresign.Result, error) {
	g.mu.Lock()
	g.inflight++
	g.calls++
	g.peak = max(g.peak, g.inflight)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inflight--
		g.finished++
		g.mu.Unlock()
	}()
	if g.during != nil {
		g.during()
	}
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return storetest.AnswerAll(assuresign.StatusCreated, testenv.T0)(ctx, checks)
}

func (g *gateChecker) state() (inflight, peak, calls, finished int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inflight, g.peak, g.calls, g.finished
}

const (
	waitFor = 5 * time.Second
	tick    = time.Millisecond
)

func TestRoundSendsOneRequestPerBatch(t *testing.T) {
	for _, tc := range []struct {
		due, batch int
		want       []int // documents per request, sorted
	}{
		{due: 0, batch: 5, want: nil},
		{due: 1, batch: 50, want: []int{1}},
		{due: 50, batch: 50, want: []int{50}},
		{due: 51, batch: 50, want: []int{1, 50}},
		{due: 23, batch: 5, want: []int{3, 5, 5, 5, 5}},
		{due: 7, batch: 1, want: []int{1, 1, 1, 1, 1, 1, 1}},
	} {
		t.Run(fmt.Sprintf("%d due in batches of %d", tc.due, tc.batch), func(t *testing.T) {
			r := newRig(t, rigOptions{cfg: Config{BatchSize: tc.batch, Concurrency: 3}})
			ids := make([]string, tc.due)
			for i := range ids {
				ids[i] = testenv.GUID(0xD0C, i)
			}
			r.put(assuresign.StatusCreated, 0, ids...)
			r.watch(ids...)

			stats := r.round(0)
			wantRequests := (tc.due + tc.batch - 1) / tc.batch
			assert.Equal(t, roundStats{Documents: tc.due, Requests: wantRequests}, stats)
			got := r.sim.Stats()
			assert.Equal(t, wantRequests, got.Requests, "HTTP requests")
			slices.Sort(got.DocumentsPerRequest)
			assert.Equal(t, tc.want, got.DocumentsPerRequest)
			assert.Equal(t, tc.due, got.Documents)
			for _, id := range ids {
				assert.Equal(t, "Created", statusOf(t, r.store, id).Status)
			}
		})
	}
}

func TestRoundKeepsConcurrencyLimit(t *testing.T) {
	const batches, limit = 10, 3
	g := newGateChecker()
	r, store, _ := newFakeRefresher(t, Config{BatchSize: 2, Concurrency: limit}, g)
	ids := make([]string, 2*batches)
	for i := range ids {
		ids[i] = testenv.GUID(0xC0C, i)
	}
	store.SetWatchList(storetest.WatchList(ids...))

	done := make(chan roundStats, 1)
	go func() { done <- r.round(context.Background(), false) }()
	for released := range batches {
		want := min(limit, batches-released)
		require.Eventually(t, func() bool {
			inflight, _, calls, finished := g.state()
			return inflight == want && calls == released+want && finished == released
		}, waitFor, tick, "after %d released: want %d in flight", released, want)
		g.release <- struct{}{}
	}
	stats := <-done
	_, peak, calls, _ := g.state()
	assert.Equal(t, limit, peak, "at most, and at best, Concurrency requests in flight")
	assert.Equal(t, batches, calls)
	assert.Equal(t, roundStats{Documents: 2 * batches, Requests: batches}, stats)
}

func TestTerminalDocumentsWaitForTheTerminalInterval(t *testing.T) {
	const interval, terminal = 5 * time.Minute, 24 * time.Hour
	r := newRig(t, rigOptions{cfg: Config{Interval: interval, TerminalInterval: terminal}})
	open := map[string]assuresign.Status{}
	closed := map[string]assuresign.Status{}
	var all []string
	for i, st := range assuresign.Statuses {
		id := testenv.GUID(0x57A7, i)
		all = append(all, id)
		if st == assuresign.StatusUnknown {
			r.sim.Put(simulator.Document{ID: id, AuthToken: tokenFor(id), RawStatus: "Archived", StatusDate: testenv.T0})
		} else {
			r.put(st, 1, id)
		}
		if st.Terminal() {
			closed[id] = st
		} else {
			open[id] = st
		}
	}
	require.Len(t, closed, 5, "Completed, Expired, Cancelled, Declined, Staled")
	r.watch(all...)

	checkedAt := func(at time.Duration) (checked []string) {
		t.Helper()
		r.sim.ResetStats()
		stats := r.round(at)
		assert.Equal(t, r.sim.Stats().Documents, stats.Documents)
		for _, id := range all {
			if statusOf(t, r.store, id).LastCheck.Equal(testenv.T0.Add(at)) {
				checked = append(checked, id)
			}
		}
		return checked
	}
	keys := func(m map[string]assuresign.Status) []string { return slices.Sorted(maps.Keys(m)) }

	assert.Equal(t, all, checkedAt(0), "the first round checks every document")
	for id, st := range closed {
		assert.Equal(t, st.String(), statusOf(t, r.store, id).Status)
	}
	assert.Equal(t, keys(open), checkedAt(interval), "open documents come back after the interval")
	assert.Equal(t, keys(open), checkedAt(terminal-interval), "terminal ones are not due before the terminal interval")
	assert.Equal(t, all, checkedAt(terminal), "terminal documents are due after it")
}

func TestReloadedDocumentsAreCheckedWithinSeconds(t *testing.T) {
	r := newRig(t, rigOptions{cfg: Config{Interval: time.Hour, Coalesce: 10 * time.Millisecond}})
	r.put(assuresign.StatusCreated, 0, testenv.DocA, testenv.DocB, testenv.DocC)
	dir := t.TempDir()
	entry := func(id string) string {
		return fmt.Sprintf("  - id: %s\n    auth_token: %s\n", id, tokenFor(id))
	}
	path := testenv.WriteFile(t, filepath.Join(dir, "watch.yml"), "documents:\n"+entry(testenv.DocA), 0o600)
	wf := watchlist.NewFile(path, 100, false, prometheus.NewRegistry(), r.logger)
	load := func() {
		t.Helper()
		wl, err := wf.Load()
		require.NoError(t, err)
		r.refresher.SetWatchList(wl)
	}
	load()
	run(t, r.refresher)
	require.Eventually(t, func() bool { return r.refresher.Ready() }, waitFor, tick)
	assert.Equal(t, 1, r.sim.Stats().Documents, "the first round checked A")

	// A reload adding B: checked at once, not in an hour.
	testenv.WriteFile(t, filepath.Join(dir, "watch.yml"), "documents:\n"+entry(testenv.DocA)+entry(testenv.DocB), 0o600)
	load()
	require.Eventually(t, func() bool { return statusOf(t, r.store, testenv.DocB).Status == "Created" }, waitFor, tick)
	assert.Equal(t, []int{1, 2}, r.sim.Stats().DocumentsPerRequest, "one request for B, which A, open, rode along in")

	// collector.Store.SetWatchList followed by Wake does the same.
	r.watch(testenv.DocA, testenv.DocB, testenv.DocC)
	r.refresher.Wake()
	require.Eventually(t, func() bool { return statusOf(t, r.store, testenv.DocC).Status == "Created" }, waitFor, tick)
	assert.Equal(t, []int{1, 2, 3}, r.sim.Stats().DocumentsPerRequest, "one request for C, filled with A and B")
}

func TestFirstRoundStartsAtOnce(t *testing.T) {
	g := newGateChecker()
	// A coalescing wait of an hour: were the first round to wait for the
	// Wake the initial load leaves pending, it would not start in time.
	r, store, reg := newFakeRefresher(t, Config{Interval: time.Hour, Coalesce: time.Hour}, g)
	store.SetWatchList(storetest.WatchList(testenv.DocA, testenv.DocB))
	r.Wake()
	assert.False(t, r.Ready())
	run(t, r)
	require.Eventually(t, func() bool { _, _, calls, _ := g.state(); return calls == 1 }, waitFor, tick)
	assert.False(t, r.Ready(), "not ready while the first round runs")
	g.release <- struct{}{}
	require.Eventually(t, r.Ready, waitFor, tick)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP assuresign_up 1 when every request of the last scheduled refresh round got a well-formed answer from AssureSign; a document answered without a status does not lower it (see assuresign_document_check_success).
# TYPE assuresign_up gauge
assuresign_up 1
`), "assuresign_up"))
}

func TestEmptyWatchListIsUp(t *testing.T) {
	r, _, reg := newFakeRefresher(t, Config{Now: testenv.NewClock(testenv.T0).Now}, upstreamtest.CheckFunc(func(context.Context, []assuresign.Check) ([]assuresign.Result, error) {
		panic("nothing to ask")
	}))
	assert.Equal(t, roundStats{}, r.round(context.Background(), false))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP assuresign_last_refresh_success_timestamp_seconds When a scheduled refresh round last completed without any failure, in Unix seconds.
# TYPE assuresign_last_refresh_success_timestamp_seconds gauge
assuresign_last_refresh_success_timestamp_seconds 1.7092944e+09
# HELP assuresign_up 1 when every request of the last scheduled refresh round got a well-formed answer from AssureSign; a document answered without a status does not lower it (see assuresign_document_check_success).
# TYPE assuresign_up gauge
assuresign_up 1
# HELP assuresign_watched_documents Documents this exporter watches: the watch list's, or with --total-shards above 1 this shard's share of them.
# TYPE assuresign_watched_documents gauge
assuresign_watched_documents 0
`), "assuresign_up", "assuresign_last_refresh_success_timestamp_seconds", "assuresign_watched_documents"))
}

func TestRoundsNeverOverlap(t *testing.T) {
	g := newGateChecker()
	r, store, _ := newFakeRefresher(t, Config{Interval: time.Hour, Coalesce: time.Millisecond, Concurrency: 1}, g)
	store.SetWatchList(storetest.WatchList(testenv.DocA))
	// Wakes and notifications while a round is held, from inside and out.
	g.during = func() {
		for range 100 {
			r.CheckNow(testenv.DocA, time.Now())
			r.Wake()
		}
	}
	stop := make(chan struct{})
	spammed := make(chan struct{})
	go func() {
		defer close(spammed)
		for {
			select {
			case <-stop:
				return
			default:
				r.CheckNow(testenv.DocA, time.Now())
				r.Wake()
				runtime.Gosched()
			}
		}
	}()
	run(t, r)
	const rounds = 6
	for i := range rounds {
		require.Eventually(t, func() bool { _, _, calls, _ := g.state(); return calls == i+1 }, waitFor, tick)
		inflight, _, _, _ := g.state()
		require.Equal(t, 1, inflight)
		g.release <- struct{}{}
	}
	close(stop)
	<-spammed
	_, peak, calls, _ := g.state()
	assert.Equal(t, 1, peak, "one round (of one request) at a time")
	assert.GreaterOrEqual(t, calls, rounds)
}

// selfMetrics is the expected text of the metrics the refresh rounds set.
func selfMetrics(up int, lastSuccess time.Time, requests map[string]int) string {
	var b strings.Builder
	b.WriteString("# HELP assuresign_api_requests_total HTTP requests sent to AssureSign, retries included, by operation and outcome.\n# TYPE assuresign_api_requests_total counter\n")
	for _, op := range []string{assuresign.OpCheckStatus, assuresign.OpListEnvelopeDocuments} {
		for _, o := range slices.Sorted(slices.Values(assuresign.Outcomes)) {
			n := requests[o]
			if op != assuresign.OpCheckStatus {
				n = 0 // these tests watch no envelope
			}
			fmt.Fprintf(&b, "assuresign_api_requests_total{operation=%q,result=%q} %d\n", op, o, n)
		}
	}
	b.WriteString("# HELP assuresign_last_refresh_success_timestamp_seconds When a scheduled refresh round last completed without any failure, in Unix seconds.\n# TYPE assuresign_last_refresh_success_timestamp_seconds gauge\n")
	ts := "0"
	if !lastSuccess.IsZero() {
		ts = fmt.Sprint(lastSuccess.Unix())
	}
	fmt.Fprintf(&b, "assuresign_last_refresh_success_timestamp_seconds %s\n", ts)
	fmt.Fprintf(&b, "# HELP assuresign_up 1 when every request of the last scheduled refresh round got a well-formed answer from AssureSign; a document answered without a status does not lower it (see assuresign_document_check_success).\n# TYPE assuresign_up gauge\nassuresign_up %d\n", up)
	return b.String()
}

var roundMetricNames = []string{"assuresign_up", "assuresign_last_refresh_success_timestamp_seconds", "assuresign_api_requests_total"}

func TestFailedBatchKeepsTheLastKnownStatus(t *testing.T) {
	for _, tc := range []struct {
		fault   simulator.Fault
		outcome string
		timeout time.Duration
	}{
		{simulator.Fault{Kind: simulator.FaultHTTP500}, "http_5xx", 0},
		{simulator.Fault{Kind: simulator.FaultTooManyRequests}, "http_429", 0},
		{simulator.Fault{Kind: simulator.FaultSOAPFault}, "soap_fault", 0},
		{simulator.Fault{Kind: simulator.FaultMalformedXML}, "malformed", 0},
		{simulator.Fault{Kind: simulator.FaultHTMLMaintenance}, "content_type", 0},
		{simulator.Fault{Kind: simulator.FaultTruncatedBody}, "transport", 0},
		{simulator.Fault{Kind: simulator.FaultCloseConnection}, "transport", 0},
		{simulator.Fault{Kind: simulator.FaultSlowDrip}, "timeout", 300 * time.Millisecond},
	} {
		t.Run(tc.fault.Kind.String(), func(t *testing.T) {
			r := newRig(t, rigOptions{cfg: Config{Interval: 5 * time.Minute, Timeout: tc.timeout}})
			r.put(assuresign.StatusCreated, 0, testenv.DocA, testenv.DocB)
			r.watch(testenv.DocA, testenv.DocB)

			r.round(0)
			require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(selfMetrics(1, testenv.T0, map[string]int{"ok": 1})), roundMetricNames...))
			before := storetest.Scrape(t, r.store, false)

			r.sim.Update(testenv.DocA, func(d *simulator.Document) {
				d.Status, d.Step, d.StatusDate = assuresign.StatusSigningStepInProgress, 1, testenv.T0.Add(time.Minute)
			})
			r.sim.SetFault(tc.fault)
			stats := r.round(5 * time.Minute)
			assert.Equal(t, 1, stats.Failed)
			assert.Equal(t, before, storetest.Scrape(t, r.store, false), "the exposition keeps the last known statuses")
			require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(selfMetrics(0, testenv.T0, map[string]int{"ok": 1, tc.outcome: 1})), roundMetricNames...),
				"down, last success unchanged")
			a := statusOf(t, r.store, testenv.DocA)
			assert.Equal(t, "Created", a.Status)
			assert.Equal(t, testenv.T0, a.LastCheck)
			assert.Contains(t, a.LastError, "assuresign: ")
			assert.Contains(t, r.logs.String(), "refresh round failed; keeping the last known statuses")

			r.sim.ClearFault()
			r.round(10 * time.Minute)
			require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(selfMetrics(1, testenv.T0.Add(10*time.Minute), map[string]int{"ok": 2, tc.outcome: 1})), roundMetricNames...),
				"a later success is up")
			a = statusOf(t, r.store, testenv.DocA)
			assert.Equal(t, collector.DocumentView{ID: testenv.DocA, Status: "SigningStepInProgress", Step: 1, StatusDate: testenv.T0.Add(time.Minute), LastCheck: testenv.T0.Add(10 * time.Minute)}, a)
		})
	}
}

// A document the answer leaves out is that document's problem: AssureSign
// answered, so up stays 1 and the last success moves on; only the document's
// check_success says it.
func TestMissingResultKeepsOnlyThatDocumentsStatus(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.put(assuresign.StatusCreated, 0, testenv.DocA, testenv.DocB, testenv.DocC)
	r.watch(testenv.DocA, testenv.DocB, testenv.DocC)
	r.round(0)
	for _, id := range []string{testenv.DocA, testenv.DocB, testenv.DocC} {
		r.sim.Update(id, func(d *simulator.Document) { d.Status = assuresign.StatusCompleted })
	}
	// The simulator leaves out every second document of the request: B.
	r.sim.SetFault(simulator.Fault{Kind: simulator.FaultMissingResults, Times: 1})
	stats := r.round(5 * time.Minute)
	assert.Equal(t, roundStats{Documents: 3, Requests: 1, Changes: 2, Anomalies: 1}, stats)
	assert.Equal(t, "Completed", statusOf(t, r.store, testenv.DocA).Status)
	b := statusOf(t, r.store, testenv.DocB)
	assert.Equal(t, "Created", b.Status, "B keeps its status")
	assert.Equal(t, testenv.T0, b.LastCheck)
	assert.Contains(t, b.LastError, "no result for document")
	assert.Equal(t, "Completed", statusOf(t, r.store, testenv.DocC).Status)
	require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(selfMetrics(1, testenv.T0.Add(5*time.Minute), map[string]int{"ok": 2})+`
# HELP assuresign_document_results_total `+"Per-document outcomes of successful status requests (CheckStatus, or the REST API's envelope status): ok, missing (no result for a document asked about), no_status (a result with exceptions only) or unknown_status (a StatusType outside the documented eight)."+`
# TYPE assuresign_document_results_total counter
assuresign_document_results_total{result="missing"} 1
assuresign_document_results_total{result="no_status"} 0
assuresign_document_results_total{result="ok"} 5
assuresign_document_results_total{result="unknown_status"} 0
`), append(roundMetricNames, "assuresign_document_results_total")...))
	assert.Equal(t, map[string]float64{testenv.DocA: 1, testenv.DocB: 0, testenv.DocC: 1}, storetest.CheckSuccess(t, r.store))

	// B failed, so the next round asks about it again (A and C are closed).
	stats = r.round(10 * time.Minute)
	assert.Equal(t, roundStats{Documents: 1, Requests: 1, Changes: 1}, stats)
	assert.Equal(t, "Completed", statusOf(t, r.store, testenv.DocB).Status)
	require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(selfMetrics(1, testenv.T0.Add(10*time.Minute), map[string]int{"ok": 3})), roundMetricNames...))
}

// One nil result (which the WSDL allows) and one document AssureSign does not
// know do not make AssureSign down: up stays 1, and the two documents, and only
// they, report check_success 0.
func TestPerDocumentAnomaliesKeepUp(t *testing.T) {
	nilB := regexp.MustCompile(`<DocumentStatusCheckResult[^>]*Id="` + testenv.DocB + `"[^>]*?(/>|>.*?</DocumentStatusCheckResult>)`)
	r := newRig(t, rigOptions{wrap: func(sim http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, req)
			body := nilB.ReplaceAll(rec.Body.Bytes(), []byte(`<DocumentStatusCheckResult xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:nil="true"/>`))
			maps.Copy(w.Header(), rec.Header())
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body)
		})
	}})
	r.put(assuresign.StatusCreated, 0, testenv.DocA, testenv.DocB, testenv.DocD) // C is not in the account
	r.watch(testenv.DocA, testenv.DocB, testenv.DocC, testenv.DocD)
	stats := r.round(0)
	assert.Equal(t, roundStats{Documents: 4, Requests: 1, Anomalies: 2}, stats)
	require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(selfMetrics(1, testenv.T0, map[string]int{"ok": 1})), roundMetricNames...))
	assert.Equal(t, map[string]float64{testenv.DocA: 1, testenv.DocB: 0, testenv.DocC: 0, testenv.DocD: 1}, storetest.CheckSuccess(t, r.store))
	assert.Contains(t, statusOf(t, r.store, testenv.DocB).LastError, "no result for document")
	assert.Contains(t, statusOf(t, r.store, testenv.DocC).LastError, "Error: ")
}

func TestExceptionsOnlyResultKeepsTheStatus(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.put(assuresign.StatusSigningStepInProgress, 2, testenv.DocA)
	r.sim.Put(simulator.Document{ID: testenv.DocB, AuthToken: tokenFor(testenv.DocB), RawStatus: "Archived", StatusDate: testenv.T0})
	r.watch(testenv.DocA, testenv.DocB)
	r.round(0)
	assert.Equal(t, "SigningStepInProgress", statusOf(t, r.store, testenv.DocA).Status)
	assert.Equal(t, "Unknown (Archived)", statusOf(t, r.store, testenv.DocB).Status)
	assert.Contains(t, r.logs.String(), "undocumented StatusType")

	// The watch file now has a wrong AuthToken for A: AssureSign answers
	// with an exception and no StatusType.
	r.sim.Update(testenv.DocA, func(d *simulator.Document) { d.Status = assuresign.StatusCompleted })
	r.store.SetWatchList(&watchlist.List{Documents: []watchlist.Entry{{ID: testenv.DocA, AuthToken: testenv.SecretTokenWrong}, {ID: testenv.DocB, AuthToken: tokenFor(testenv.DocB)}}})
	stats := r.round(5 * time.Minute)
	assert.Zero(t, stats.Failed)
	a := statusOf(t, r.store, testenv.DocA)
	assert.Equal(t, "SigningStepInProgress", a.Status, "an answer without StatusType keeps the status")
	assert.Equal(t, 2, a.Step)
	assert.Equal(t, testenv.T0.Add(5*time.Minute), a.LastCheck)
	assert.Equal(t, "Error: The AuthToken is not valid for this document.", a.LastError)

	require.NoError(t, testutil.GatherAndCompare(storetest.Documents(r.store, r.reg), strings.NewReader(fmt.Sprintf(`
# HELP assuresign_document_exceptions_total StatusCheckException items received for the document, by severity.%[1]s
# TYPE assuresign_document_exceptions_total counter
assuresign_document_exceptions_total{document_id=%[2]q,severity="Error"} 1
assuresign_document_exceptions_total{document_id=%[2]q,severity="Fatal"} 0
assuresign_document_exceptions_total{document_id=%[2]q,severity="Warning"} 0
assuresign_document_exceptions_total{document_id=%[3]q,severity="Error"} 0
assuresign_document_exceptions_total{document_id=%[3]q,severity="Fatal"} 0
assuresign_document_exceptions_total{document_id=%[3]q,severity="Warning"} 0
# HELP assuresign_document_signing_step Signing step number while the document is SigningStepInProgress.%[1]s
# TYPE assuresign_document_signing_step gauge
assuresign_document_signing_step{document_id=%[2]q} 2
# HELP assuresign_document_results_total Per-document outcomes of successful status requests (CheckStatus, or the REST API's envelope status): ok, missing (no result for a document asked about), no_status (a result with exceptions only) or unknown_status (a StatusType outside the documented eight).
# TYPE assuresign_document_results_total counter
assuresign_document_results_total{result="missing"} 0
assuresign_document_results_total{result="no_status"} 1
assuresign_document_results_total{result="ok"} 1
assuresign_document_results_total{result="unknown_status"} 2
# HELP assuresign_up 1 when every request of the last scheduled refresh round got a well-formed answer from AssureSign; a document answered without a status does not lower it (see assuresign_document_check_success).
# TYPE assuresign_up gauge
assuresign_up 1
`, collector.CachedHelp, testenv.DocA, testenv.DocB)), "assuresign_document_exceptions_total", "assuresign_document_signing_step", "assuresign_document_results_total", "assuresign_up"))
	assert.Contains(t, r.logs.String(), `msg="CheckStatus exception" document_id=`+testenv.DocA+` severity=Error`)
}

// TestSecretsNeverLeak runs rounds that succeed, fail, and get exceptions
// (some echoing the request's secrets back) and searches what the store
// gives out for the secrets: the debug logs, the documents' exposition in both
// formats, its own metrics, and the documents' views (what the landing page
// shows; server's tests search the page itself).
func TestSecretsNeverLeak(t *testing.T) {
	var echo sync.Mutex // held: answer normally; echoing: see below
	echoing := false
	r := newRig(t, rigOptions{retries: 1, cfg: Config{Concurrency: 1}, wrap: func(sim http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			echo.Lock()
			on := echoing
			echo.Unlock()
			if !on {
				sim.ServeHTTP(w, req)
				return
			}
			// A hostile or broken server quoting the request back in a fault.
			b, _ := io.ReadAll(req.Body)
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>bad request: %s %s</faultstring></s:Fault></s:Body></s:Envelope>`,
				html.EscapeString(string(b)), strings.ToLower(strings.ReplaceAll(testenv.SecretTokenA, "-", "")))
		})
	}})
	// A: fine, with exceptions that echo testenv.KnownSecrets. B: its own ContextIdentifier,
	// of another account. C: a wrong AuthToken in the watch file.
	r.sim.Put(simulator.Document{ID: testenv.DocA, AuthToken: testenv.SecretTokenA, Status: assuresign.StatusCreated, StatusDate: testenv.T0, Exceptions: []assuresign.Exception{
		{Severity: assuresign.SeverityWarning, Message: "token " + testenv.SecretTokenA + " for context " + strings.ToLower(testenv.SecretContext)},
		{Severity: assuresign.SeverityError, Message: "raw " + strings.ReplaceAll(testenv.SecretTokenA, "-", "")},
	}})
	r.sim.Put(simulator.Document{ID: testenv.DocB, AuthToken: testenv.SecretTokenB, Status: assuresign.StatusCreated, StatusDate: testenv.T0})
	r.sim.Put(simulator.Document{ID: testenv.DocC, AuthToken: testenv.SecretTokenC, Status: assuresign.StatusCreated, StatusDate: testenv.T0})
	dir := t.TempDir()
	path := testenv.WriteFile(t, filepath.Join(dir, "watch.yml"), fmt.Sprintf(`documents:
  - id: %s
    auth_token: %s
    labels: {customer: acme}
  - id: %s
    auth_token: %s
    context_identifier: %s
  - id: %s
    auth_token: %s
`, testenv.DocA, testenv.SecretTokenA, testenv.DocB, testenv.SecretTokenB, testenv.SecretDocContext, testenv.DocC, testenv.SecretTokenWrong), 0o644) // world-readable: a warning
	wl, err := watchlist.NewFile(path, 100, false, prometheus.NewRegistry(), r.logger).Load()
	require.NoError(t, err)
	r.refresher.SetWatchList(wl)

	r.round(0)
	assert.Equal(t, "Created", statusOf(t, r.store, testenv.DocA).Status)
	assert.Equal(t, "Error: The ContextIdentifier is not valid for this account.", statusOf(t, r.store, testenv.DocB).LastError)
	assert.Equal(t, "Error: The AuthToken is not valid for this document.", statusOf(t, r.store, testenv.DocC).LastError)
	for i, f := range []simulator.Fault{
		{Kind: simulator.FaultHTTP500}, // retried, then failed
		{Kind: simulator.FaultSOAPFault},
		{Kind: simulator.FaultMalformedXML},
		{Kind: simulator.FaultMissingResults, Times: 1},
	} {
		r.sim.SetFault(f)
		r.round(time.Duration(i+1) * time.Hour)
	}
	r.sim.ClearFault()
	echo.Lock()
	echoing = true
	echo.Unlock()
	r.round(10 * time.Hour)
	assert.Contains(t, statusOf(t, r.store, testenv.DocA).LastError, "<secret>", "the echoed secrets were redacted")
	echo.Lock()
	echoing = false
	echo.Unlock()
	r.round(11 * time.Hour)

	// A mistyped secret in a watch file must not show in the load error.
	bad := testenv.WriteFile(t, filepath.Join(dir, "bad.yml"), fmt.Sprintf("documents:\n  - id: %s\n    auth_token: %s\n", testenv.DocA, testenv.SecretTokenA[:35]), 0o600)
	_, err = watchlist.NewFile(bad, 100, false, prometheus.NewRegistry(), r.logger).Load()
	require.Error(t, err)
	testenv.KnownSecrets.AssertNone(t, "the load error", err.Error())

	logs := r.logs.String()
	for _, want := range []string{"retrying CheckStatus", "refresh round failed", "CheckStatus exception", "readable by group or others", "refresh round finished"} {
		assert.Contains(t, logs, want, "the logs cover this path")
	}
	testenv.KnownSecrets.AssertNone(t, "the debug log", logs)

	text := storetest.Scrape(t, r.store, false)
	assert.Contains(t, text, `customer="acme"`)
	testenv.KnownSecrets.AssertNone(t, "the exposition", text)
	testenv.KnownSecrets.AssertNone(t, "the exposition as OpenMetrics", storetest.Scrape(t, r.store, true))
	mfs, err := r.reg.Gather()
	require.NoError(t, err)
	var self strings.Builder
	for _, mf := range mfs {
		_, err := expfmt.MetricFamilyToText(&self, mf)
		require.NoError(t, err)
	}
	assert.Contains(t, self.String(), "assuresign_api_requests_total")
	testenv.KnownSecrets.AssertNone(t, "the exporter's own metrics", self.String())

	views, total := r.store.Snapshot(0)
	require.Equal(t, 3, total)
	shown := fmt.Sprintf("%+v", views)
	assert.Contains(t, shown, testenv.DocC)
	assert.Contains(t, shown, "Error: The AuthToken is not valid for this document.")
	testenv.KnownSecrets.AssertNone(t, "the documents' views", shown)
}

// Only a scheduled round can set assuresign_up back to 1: an urgent check that
// succeeds says nothing of the documents a failed round left stale.
func TestUrgentRoundDoesNotRaiseUp(t *testing.T) {
	a, b := testenv.GUID(0x0B, 1), testenv.GUID(0x0B, 2)
	var failing atomic.Bool
	failing.Store(true)
	checker := upstreamtest.CheckFunc(func(_ context.Context, checks []assuresign.Check) ([]assuresign.Result, error) {
		if failing.Load() {
			return nil, &assuresign.Error{Kind: assuresign.KindHTTPStatus, StatusCode: 503}
		}
		out := make([]assuresign.Result, len(checks))
		for i, c := range checks {
			out[i] = assuresign.Result{ID: c.ID, RawStatus: "Created", Status: assuresign.StatusCreated}
		}
		return out, nil
	})
	store := collector.NewStore(collector.StoreConfig{})
	store.SetWatchList(storetest.WatchList(a, b))
	metrics := NewMetrics(prometheus.NewRegistry(), store.Len, time.Hour, false)
	r := NewRefresher(Config{Interval: time.Hour, TerminalInterval: 24 * time.Hour, BatchSize: 10, Concurrency: 1, Timeout: time.Second},
		store, checker, metrics, testenv.DiscardLogger())
	r.round(context.Background(), false)
	require.Equal(t, 0.0, testutil.ToFloat64(metrics.up))

	failing.Store(false)
	require.True(t, r.CheckNow(a, time.Now()))
	stats := r.round(context.Background(), true)
	require.Equal(t, 1, stats.Documents)
	assert.Equal(t, 0.0, testutil.ToFloat64(metrics.up), "an urgent round raised up")

	r.round(context.Background(), false)
	assert.Equal(t, 1.0, testutil.ToFloat64(metrics.up))
}

// The notification latency histogram exists only with the webhook on: nothing
// else can observe it, and an always-empty histogram would suggest a webhook
// that is not there. A notified check answered without it must not panic.
func TestNotificationLatencyOnlyWithWebhook(t *testing.T) {
	const name = "assuresign_webhook_notification_to_update_seconds"
	for _, webhook := range []bool{false, true} {
		t.Run(fmt.Sprintf("webhook=%t", webhook), func(t *testing.T) {
			reg := prometheus.NewRegistry()
			store := collector.NewStore(collector.StoreConfig{})
			store.SetWatchList(storetest.WatchList(testenv.DocA))
			clock := testenv.NewClock(testenv.T0)
			r := NewRefresher(Config{Interval: time.Hour, TerminalInterval: 24 * time.Hour, BatchSize: 10, Concurrency: 1, Timeout: time.Second, Now: clock.Now},
				store, storetest.AnswerAll(assuresign.StatusCreated, testenv.T0), NewMetrics(reg, store.Len, time.Hour, webhook), testenv.DiscardLogger())
			r.round(t.Context(), false)
			require.True(t, r.CheckNow(testenv.DocA, testenv.T0.Add(time.Minute)))
			clock.Set(testenv.T0.Add(time.Minute + 1500*time.Millisecond))
			require.Equal(t, roundStats{Documents: 1, Requests: 1}, r.round(t.Context(), true))

			n, err := testutil.GatherAndCount(reg, name)
			require.NoError(t, err)
			if !webhook {
				assert.Zero(t, n, "registered with the webhook off")
				return
			}
			require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP assuresign_webhook_notification_to_update_seconds Time from a DocumentTRAK notification to the named document's status being updated.
# TYPE assuresign_webhook_notification_to_update_seconds histogram
assuresign_webhook_notification_to_update_seconds_bucket{le="0.1"} 0
assuresign_webhook_notification_to_update_seconds_bucket{le="0.25"} 0
assuresign_webhook_notification_to_update_seconds_bucket{le="0.5"} 0
assuresign_webhook_notification_to_update_seconds_bucket{le="1"} 0
assuresign_webhook_notification_to_update_seconds_bucket{le="2.5"} 1
assuresign_webhook_notification_to_update_seconds_bucket{le="5"} 1
assuresign_webhook_notification_to_update_seconds_bucket{le="10"} 1
assuresign_webhook_notification_to_update_seconds_bucket{le="30"} 1
assuresign_webhook_notification_to_update_seconds_bucket{le="60"} 1
assuresign_webhook_notification_to_update_seconds_bucket{le="300"} 1
assuresign_webhook_notification_to_update_seconds_bucket{le="+Inf"} 1
assuresign_webhook_notification_to_update_seconds_sum 1.5
assuresign_webhook_notification_to_update_seconds_count 1
`), name))
		})
	}
}

// A watch list that adds documents, or changes one's credentials, wakes the
// refresher for an urgent round; one that only drops documents, relabels them
// or changes nothing does not.
func TestSetWatchListWakesOnlyForDocumentsToCheck(t *testing.T) {
	r, store, _ := newFakeRefresher(t, Config{Now: testenv.NewClock(testenv.T0).Now}, storetest.AnswerAll(assuresign.StatusCreated, testenv.T0))
	woken := func() bool {
		select {
		case <-r.wake:
			return true
		default:
			return false
		}
	}
	r.SetWatchList(storetest.WatchList(testenv.DocA, testenv.DocB))
	assert.True(t, woken(), "new documents")
	r.round(t.Context(), false)
	require.Empty(t, storetest.DueChecks(store.Due(testenv.T0, 0, true, 1, "")))

	r.SetWatchList(storetest.WatchList(testenv.DocA, testenv.DocB))
	assert.False(t, woken(), "the same list")
	relabelled := storetest.WatchList(testenv.DocA)
	relabelled.Documents[0].Labels = map[string]string{"team": "legal"}
	r.SetWatchList(relabelled)
	assert.False(t, woken(), "B dropped, A relabelled")
	assert.Equal(t, map[string]string{"team": "legal"}, statusOf(t, store, testenv.DocA).Labels)

	fixed := storetest.WatchList(testenv.DocA)
	fixed.Documents[0].AuthToken = "11111111-2222-4333-8444-555555555555"
	r.SetWatchList(fixed)
	assert.True(t, woken(), "a changed AuthToken")
	assert.Equal(t, []string{testenv.DocA}, storetest.DueIDs(store.Due(testenv.T0, 0, true, 1, "")))

	added := storetest.WatchList(testenv.DocA, testenv.DocC)
	added.Documents[0].AuthToken = fixed.Documents[0].AuthToken
	r.round(t.Context(), true)
	r.SetWatchList(added)
	assert.True(t, woken(), "C added")
	assert.Equal(t, []string{testenv.DocC}, storetest.DueIDs(store.Due(testenv.T0, 0, true, 1, "")))
}

// A round publishes what it learnt: scrapes see it without anyone else
// publishing (the exposition helpers publish by themselves, so this reads
// the published exposition directly).
func TestRoundPublishes(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.put(assuresign.StatusDeclined, 0, testenv.DocA)
	r.watch(testenv.DocA)
	published := func() string {
		var b strings.Builder
		require.NoError(t, r.store.Metrics().Write(&b, false, false, storetest.TailOf("")))
		return b.String()
	}
	require.Contains(t, published(), `assuresign_document_status{document_id="`+testenv.DocA+`",status="Unknown"} 1`)
	r.round(0)
	assert.Contains(t, published(), `assuresign_document_status{document_id="`+testenv.DocA+`",status="Declined"} 1`)
}
