package collector

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
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Known secret values. Tests that look for leaks search every output for
// each of them, in either case and without hyphens.
const (
	secretContext    = "5EC2E7C0-C0DE-4C0D-8C0D-5EC2E7C0C0DE" // exporter-wide ContextIdentifier
	secretDocContext = "5EC2E7D0-D0C0-4D0C-9D0C-5EC2E7D0D0C0" // one document's own (another account)
	secretTokenA     = "5EC2E7A1-A1A1-4A1A-8A1A-5EC2E7A1A1A1"
	secretTokenB     = "5EC2E7B2-B2B2-4B2B-9B2B-5EC2E7B2B2B2"
	secretTokenC     = "5EC2E7C3-C3C3-4C3C-AC3C-5EC2E7C3C3C3"
	secretTokenWrong = "5EC2E7F4-F4F4-4F4F-BF4F-5EC2E7F4F4F4" // in the watch file, not the account

	docA = "AAAAAAAA-0000-4000-8000-00000000000A"
	docB = "BBBBBBBB-0000-4000-8000-00000000000B"
	docC = "CCCCCCCC-0000-4000-8000-00000000000C"
	docD = "DDDDDDDD-0000-4000-8000-00000000000D"
)

var allSecrets = []string{secretContext, secretDocContext, secretTokenA, secretTokenB, secretTokenC, secretTokenWrong}

// assertNoSecret fails if text holds any of allSecrets in any case, with or
// without hyphens.
func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	folded := strings.ToLower(text)
	for _, s := range allSecrets {
		for _, form := range []string{strings.ToLower(s), strings.ToLower(strings.ReplaceAll(s, "-", ""))} {
			if i := strings.Index(folded, form); i >= 0 {
				lo, hi := max(i-80, 0), min(i+len(form)+80, len(text))
				t.Errorf("%s holds the secret %s: …%s…", what, s, text[lo:hi])
			}
		}
	}
}

// debugLogger logs everything, down to debug, as text into the returned buffer.
func debugLogger() (*slog.Logger, *testenv.SyncBuffer) {
	buf := &testenv.SyncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// t0 is the fake clock's start: a fixed, round instant.
var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// watchList builds a WatchList of documents without labels or contexts, each
// with a distinct token.
func watchList(ids ...string) *WatchList {
	wl := &WatchList{}
	for i, id := range ids {
		wl.Documents = append(wl.Documents, WatchedDocument{ID: id, AuthToken: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)})
	}
	return wl
}

// testGUID returns a distinct upper-case GUID for n.
func testGUID(prefix uint32, n int) string {
	return fmt.Sprintf("%08X-%04X-4%03X-8%03X-%012X", prefix, n>>16&0xffff, n>>4&0xfff, n&0xfff, n)
}

// checkerFunc adapts a function to Checker.
type checkerFunc func(ctx context.Context, checks []assuresign.Check) ([]assuresign.Result, error)

func (f checkerFunc) CheckStatus(ctx context.Context, checks []assuresign.Check) ([]assuresign.Result, error) {
	return f(ctx, checks)
}

// answerAll answers every check with status st.
func answerAll(st assuresign.Status, date time.Time) checkerFunc {
	return func(_ context.Context, checks []assuresign.Check) ([]assuresign.Result, error) {
		out := make([]assuresign.Result, len(checks))
		for i, c := range checks {
			out[i] = assuresign.Result{ID: c.ID, RawStatus: st.String(), Status: st, StatusDate: date}
		}
		return out, nil
	}
}

// recordingChecker answers from a table and records every call's ids.
type recordingChecker struct {
	mu     sync.Mutex
	status map[string]assuresign.Status // missing: Created
	calls  [][]string
}

func (c *recordingChecker) CheckStatus(_ context.Context, checks []assuresign.Check) ([]assuresign.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, len(checks))
	out := make([]assuresign.Result, len(checks))
	for i, ch := range checks {
		ids[i] = ch.ID
		st, ok := c.status[ch.ID]
		if !ok {
			st = assuresign.StatusCreated
		}
		out[i] = assuresign.Result{ID: ch.ID, RawStatus: st.String(), Status: st, StatusDate: t0}
	}
	c.calls = append(c.calls, ids)
	return out, nil
}

// take returns every id asked about so far, in call order, and clears the record.
func (c *recordingChecker) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var all []string
	for _, ids := range c.calls {
		all = append(all, ids...)
	}
	c.calls = nil
	return all
}

// count returns how many times id was asked about so far.
func (c *recordingChecker) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ids := range c.calls {
		for _, x := range ids {
			if x == id {
				n++
			}
		}
	}
	return n
}

// rig is a refresher wired to a simulator over loopback HTTP, with the
// exporter's metrics in their own registry.
type rig struct {
	t         *testing.T
	sim       *simulator.Simulator
	srv       *httptest.Server
	store     *Store
	reg       *prometheus.Registry
	metrics   *Metrics
	refresher *Refresher
	clock     *testenv.Clock
	logs      *testenv.SyncBuffer
	logger    *slog.Logger
}

type rigOptions struct {
	cfg     RefreshConfig
	retries int                             // client MaxRetries: 0 (or negative) for none
	wrap    func(http.Handler) http.Handler // wraps the simulator, if set
}

// newRig starts a simulator for secretContext and a refresher on a fake clock
// at t0. The client does not retry unless asked.
func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	sim := simulator.New(secretContext)
	var h http.Handler = sim
	if o.wrap != nil {
		h = o.wrap(sim)
	}
	srv := httptest.NewServer(h)
	tr := &http.Transport{}
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	logger, logs := debugLogger()
	reg := prometheus.NewRegistry()
	store := NewStore()
	if o.cfg.Interval == 0 {
		o.cfg.Interval = 5 * time.Minute
	}
	if o.cfg.TerminalInterval == 0 {
		o.cfg.TerminalInterval = 24 * time.Hour
	}
	if o.cfg.BatchSize == 0 {
		o.cfg.BatchSize = 50
	}
	if o.cfg.Concurrency == 0 {
		o.cfg.Concurrency = 2
	}
	if o.cfg.Timeout == 0 {
		o.cfg.Timeout = 10 * time.Second
	}
	if o.cfg.ContextIdentifier == "" {
		o.cfg.ContextIdentifier = secretContext
	}
	if o.retries <= 0 {
		o.retries = -1
	}
	metrics := NewMetrics(reg, store.Len, o.cfg.Interval)
	client, err := assuresign.NewClient(assuresign.Config{
		Endpoint:    srv.URL + "/Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text",
		HTTPClient:  &http.Client{Transport: tr},
		MaxRetries:  o.retries,
		BaseBackoff: time.Millisecond,
		MaxBackoff:  5 * time.Millisecond,
		Logger:      logger,
		Observe:     metrics.ObserveRequest,
	})
	require.NoError(t, err)
	clock := testenv.NewClock(t0)
	refresher := NewRefresher(o.cfg, store, client, metrics, logger)
	refresher.SetClock(clock.Now)
	return &rig{t: t, sim: sim, srv: srv, store: store, reg: reg, metrics: metrics, refresher: refresher, clock: clock, logs: logs, logger: logger}
}

// put adds documents to the simulated account, with status date t0.
func (r *rig) put(st assuresign.Status, step int, ids ...string) {
	for _, id := range ids {
		r.sim.Put(simulator.Document{ID: id, AuthToken: tokenFor(id), Status: st, Step: step, StatusDate: t0})
	}
}

// tokenFor is the AuthToken rig documents use: derived from the id.
func tokenFor(id string) string { return "70CE0000" + id[8:] }

// watch makes ids the watch list, each with tokenFor(id).
func (r *rig) watch(ids ...string) {
	wl := &WatchList{}
	for _, id := range ids {
		wl.Documents = append(wl.Documents, WatchedDocument{ID: id, AuthToken: tokenFor(id)})
	}
	r.store.SetWatchList(wl)
}

// round runs a scheduled round at the given offset from t0.
func (r *rig) round(at time.Duration) roundStats {
	r.clock.Set(t0.Add(at))
	return r.refresher.Round(context.Background(), false)
}

// statusOf returns the document as the landing page sees it, times in UTC.
func statusOf(t *testing.T, s *Store, id string) DocumentView {
	t.Helper()
	docs, _ := s.Snapshot(0)
	for _, d := range docs {
		if d.ID == id {
			// Parsed dates carry a fixed zone: compare instants.
			d.StatusDate, d.LastCheck = d.StatusDate.UTC(), d.LastCheck.UTC()
			return d
		}
	}
	t.Fatalf("document %s is not in the store", id)
	return DocumentView{}
}

// scrape serves one request to h and returns the recorder.
func scrape(h http.Handler, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	maps.Copy(req.Header, header)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// landing serves one GET of path from the landing page.
func landing(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
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

// exposition turns MetricsHandler output into a Gatherer: every Gather
// scrapes h in the text format (gzipped, as Prometheus asks) and parses the
// body. prometheus.Gatherers sorts the result and checks its consistency
// (types, duplicate series, label names, UTF-8), as a registry would.
func exposition(t testing.TB, h http.Handler) prometheus.Gatherer {
	return prometheus.Gatherers{prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		rec := scrape(h, http.Header{"Accept-Encoding": {"gzip"}})
		if rec.Code != http.StatusOK {
			return nil, fmt.Errorf("scrape: HTTP %d: %s", rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != contentTypeText {
			return nil, fmt.Errorf("scrape: Content-Type %q, want %q", ct, contentTypeText)
		}
		return parseText(body(t, rec))
	})}
}

// writeFile writes data to dir/name with mode perm and returns its path.
func writeFile(t *testing.T, dir, name, data string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(data), perm))
	require.NoError(t, os.Chmod(p, perm)) // whatever the umask
	return p
}
