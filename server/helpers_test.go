package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/refresh"
	"github.com/assuresign-exporter/assuresign_exporter/upstream"
	"github.com/assuresign-exporter/assuresign_exporter/upstream/upstreamtest"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// answer is how fakeAssureSign answers the check of one document.
type answer struct {
	result assuresign.Result // its ID is filled in
	err    error             // when set, the whole request fails with it
	at     time.Time         // when set, the fake clock reads this when the answer arrives
}

// fakeAssureSign is an upstream.API whose status checks answer from a table; a document
// without an answer is left out of the answer, so the store keeps what it had.
// Answers can set the refresher's fake clock, so each document's last check
// lands at a chosen instant.
type fakeAssureSign struct {
	upstreamtest.Base
	clock *testenv.Clock

	mu      sync.Mutex
	answers map[string]answer
}

// set replaces the table.
func (f *fakeAssureSign) set(answers map[string]answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers = answers
}

func (f *fakeAssureSign) CheckStatus(_ context.Context, checks []assuresign.Check) ([]assuresign.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []assuresign.Result
	for _, c := range checks {
		a, ok := f.answers[c.ID]
		if !ok {
			continue
		}
		if a.err != nil {
			return nil, a.err
		}
		if !a.at.IsZero() {
			f.clock.Set(a.at)
		}
		r := a.result
		r.ID = c.ID
		out = append(out, r)
	}
	return out, nil
}

// fixedDocs are three documents:
//   - A with labels that need escaping;
//   - B;
//   - C with its own ContextIdentifier.
func fixedDocs() *watchlist.List {
	return &watchlist.List{Documents: []watchlist.Entry{
		{ID: testenv.DocA, AuthToken: testenv.SecretTokenA, Labels: map[string]string{"customer": "acme", "note": "say \"hi\" \\ C:\\dir\nline 2"}},
		{ID: testenv.DocB, AuthToken: testenv.SecretTokenB},
		{ID: testenv.DocC, AuthToken: testenv.SecretTokenC, ContextIdentifier: testenv.SecretDocContext},
	}, LabelNames: []string{"customer", "note"}}
}

var (
	docBStatusDate = time.Date(2024, 2, 29, 8, 30, 0, 500_000_000, time.FixedZone("EST", -5*3600)).In(time.UTC)
	docBExceptions = []assuresign.Exception{
		{Severity: assuresign.SeverityError, Message: "e"},
		{Severity: assuresign.SeverityFatal, Message: "f"},
		{Severity: assuresign.SeverityFatal, Message: "f"},
		{Severity: assuresign.SeverityUnknown, Message: "u"},
	}
)

// fixedAnswers leave fixedDocs in known states after the first round:
//   - A: at signing step 2, with a warning, checked at 12:00:30.25;
//   - B: Completed, with exceptions of every severity but Warning (the last,
//     Unknown, is its last error), checked at testenv.T0;
//   - C: never checked (left out of every answer).
func fixedAnswers() map[string]answer {
	return map[string]answer{
		testenv.DocA: {at: time.Date(2024, 3, 1, 12, 0, 30, 250_000_000, time.UTC), result: assuresign.Result{
			RawStatus: "SigningStepInProgress", Status: assuresign.StatusSigningStepInProgress, Step: 2,
			StatusDate: time.Date(2024, 3, 1, 11, 0, 0, 0, time.UTC),
			Exceptions: []assuresign.Exception{{Severity: assuresign.SeverityWarning, Message: "reminder not delivered"}},
		}},
		testenv.DocB: {at: testenv.T0, result: assuresign.Result{RawStatus: "Completed", Status: assuresign.StatusCompleted, StatusDate: docBStatusDate, Exceptions: docBExceptions}},
	}
}

// fullAnswers leave fixedDocs as fixedAnswers would and then a scheduled
// round an hour later answering Created (status date testenv.T0) for the documents
// due then, A and C: the round ends at testenv.T0+1h with every answer valid.
func fullAnswers() map[string]answer {
	created := assuresign.Result{RawStatus: "Created", Status: assuresign.StatusCreated, StatusDate: testenv.T0}
	a := created
	a.Exceptions = []assuresign.Exception{{Severity: assuresign.SeverityWarning, Message: "reminder not delivered"}}
	return map[string]answer{
		testenv.DocA: {at: testenv.T0.Add(time.Hour), result: a},
		testenv.DocB: {at: testenv.T0, result: assuresign.Result{RawStatus: "Completed", Status: assuresign.StatusCompleted, StatusDate: docBStatusDate, Exceptions: docBExceptions}},
		testenv.DocC: {at: testenv.T0.Add(time.Hour), result: created},
	}
}

// fixture is the exporter's handler from server.New over a store that a
// running refresher filled, as main wires them: the refresher's first round
// has finished when newFixture returns.
type fixture struct {
	store     *collector.Store
	reg       *prometheus.Registry // the exporter's own metrics
	metrics   *refresh.Metrics
	refresher *refresh.Refresher
	upstream  *fakeAssureSign // when no checker was given
	clock     *testenv.Clock
	logs      *testenv.SyncBuffer
	handler   http.Handler
}

type fixtureOptions struct {
	docs     *watchlist.List   // the watch list; none when nil
	answers  map[string]answer // fakeAssureSign's table
	checker  upstream.API      // instead of fakeAssureSign
	cfg      refresh.Config
	gatherer prometheus.Gatherer // instead of reg
	runtime  prometheus.Gatherer // the runtime's and the process's metrics, if any
	// envelopes and envelopesGen stand for the envelopes' families and the
	// refresher's EnvelopesGeneration, if any.
	envelopes    prometheus.Gatherer
	envelopesGen func() uint64
	ready        func() bool // instead of the refresher's Ready
	version      string
	webhook      http.Handler
	demo         bool // the page is the demo's
}

func newFixture(t testing.TB, o fixtureOptions) *fixture {
	t.Helper()
	logger, logs := testenv.DebugLogger()
	fx := &fixture{store: collector.NewStore(collector.StoreConfig{}), reg: prometheus.NewRegistry(), clock: testenv.NewClock(testenv.T0), logs: logs}
	fx.metrics = refresh.NewMetrics(fx.reg, fx.store.Len, 5*time.Minute, o.webhook != nil)
	checker := o.checker
	if checker == nil {
		fx.upstream = &fakeAssureSign{clock: fx.clock, answers: o.answers}
		checker = fx.upstream
	}
	cfg := o.cfg
	if cfg.Interval == 0 {
		cfg.Interval = 5 * time.Minute
	}
	if cfg.TerminalInterval == 0 {
		cfg.TerminalInterval = 24 * time.Hour
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 1 // one document per request, in id order: answers land in that order
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 1
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.ContextIdentifier == "" {
		cfg.ContextIdentifier = testenv.SecretContext
	}
	if cfg.Coalesce == 0 {
		cfg.Coalesce = time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = fx.clock.Now
	}
	fx.refresher = refresh.NewRefresher(cfg, fx.store, checker, fx.metrics, logger)
	if o.docs != nil {
		// Into the store, as main's first load does before Run: the first
		// round checks them all.
		fx.store.SetWatchList(o.docs)
	}
	runRefresher(t, fx.refresher)
	require.Eventually(t, fx.refresher.Ready, 2*time.Minute, time.Millisecond, "the first refresh round") // 100,000 documents under -race take a while

	exp := exporterFuncs{ready: fx.refresher.Ready, upstream: fx.refresher.Upstream, envelopesGen: o.envelopesGen}
	if o.ready != nil {
		exp.ready = o.ready
	}
	opts := Options{
		MetricsPath: "/metrics", Store: fx.store, Gatherer: fx.reg, Exporter: exp,
		Version: o.version, Logger: logger, Webhook: o.webhook,
		Now: fx.clock.Now, RuntimeGatherer: o.runtime, Demo: o.demo,
		EnvelopeGatherer: o.envelopes,
	}
	if o.gatherer != nil {
		opts.Gatherer = o.gatherer
	}
	h, err := New(opts)
	require.NoError(t, err)
	fx.handler = h
	return fx
}

// exporterFuncs is the Exporter of a test: each method calls its func, or,
// when that is nil, is ready, reloads and has nothing to show.
type exporterFuncs struct {
	ready        func() bool
	intervals    func() []refresh.CheckInterval
	envelopes    func() []refresh.EnvelopeView
	envelopesGen func() uint64
	upstream     func() refresh.Upstream
	reload       func(context.Context) error
}

func (e exporterFuncs) Ready() bool { return e.ready == nil || e.ready() }

func (e exporterFuncs) CheckIntervals() []refresh.CheckInterval {
	if e.intervals == nil {
		return nil
	}
	return e.intervals()
}

func (e exporterFuncs) Envelopes() []refresh.EnvelopeView {
	if e.envelopes == nil {
		return nil
	}
	return e.envelopes()
}

func (e exporterFuncs) EnvelopesGeneration() uint64 {
	if e.envelopesGen == nil {
		return 0
	}
	return e.envelopesGen()
}

func (e exporterFuncs) Upstream() refresh.Upstream {
	if e.upstream == nil {
		return refresh.Upstream{}
	}
	return e.upstream()
}

func (e exporterFuncs) Reload(ctx context.Context) error {
	if e.reload == nil {
		return nil
	}
	return e.reload(ctx)
}

// runRefresher runs r until the test ends.
func runRefresher(t testing.TB, r *refresh.Refresher) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// newHandler serves store and gatherer with server.New, nothing else set.
func newHandler(t testing.TB, store *collector.Store, gatherer prometheus.Gatherer, logger *slog.Logger) http.Handler {
	t.Helper()
	h, err := New(Options{MetricsPath: "/metrics", Store: store, Gatherer: gatherer, Exporter: exporterFuncs{}, Logger: logger})
	require.NoError(t, err)
	return h
}

// view returns the document as the landing page sees it, times in UTC, and
// whether it is in the store.
func view(s *collector.Store, id string) (collector.DocumentView, bool) {
	docs, _ := s.Snapshot(0)
	for _, d := range docs {
		if d.ID == id {
			// Parsed dates carry a fixed zone: compare instants.
			d.StatusDate, d.LastCheck = d.StatusDate.UTC(), d.LastCheck.UTC()
			return d, true
		}
	}
	return collector.DocumentView{}, false
}

// waitForDocument waits until the document is in the store and ok says it is
// as wanted.
func waitForDocument(t testing.TB, s *collector.Store, id string, ok func(collector.DocumentView) bool, msg string) {
	t.Helper()
	require.Eventually(t, func() bool {
		d, found := view(s, id)
		return found && ok(d)
	}, 10*time.Second, time.Millisecond, "%s: %s", id, msg)
}

// scrape serves one GET /metrics to h and returns the recorder.
func scrape(h http.Handler, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	maps.Copy(req.Header, header)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// get serves one GET of path.
func get(t testing.TB, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

// body returns a response body, gunzipped when it says gzip.
func body(t testing.TB, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if rec.Header().Get("Content-Encoding") != "gzip" {
		return rec.Body.String()
	}
	zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
	require.NoError(t, err)
	b, err := io.ReadAll(zr)
	require.NoError(t, err)
	return string(b)
}

// scraped turns the /metrics handler's output into a Gatherer: every
// Gather scrapes h in the text format (gzipped, as Prometheus asks) and
// parses the body. prometheus.Gatherers sorts the result and checks its
// consistency (types, duplicate series, label names, UTF-8), as a registry
// would.
func scraped(t testing.TB, h http.Handler) prometheus.Gatherer {
	return prometheus.Gatherers{prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		rec := scrape(h, http.Header{"Accept-Encoding": {"gzip"}})
		if rec.Code != http.StatusOK {
			return nil, fmt.Errorf("scrape: HTTP %d: %s", rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != contentTypeText {
			return nil, fmt.Errorf("scrape: Content-Type %q, want %q", ct, contentTypeText)
		}
		return testenv.ParseText(body(t, rec))
	})}
}
