package collector

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/exposition"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// watchList builds a watch list of documents without labels or contexts, each
// with a distinct token.
func watchList(ids ...string) *watchlist.List {
	wl := &watchlist.List{}
	for i, id := range ids {
		wl.Documents = append(wl.Documents, watchlist.Entry{ID: id, AuthToken: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)})
	}
	return wl
}

// dueChecks drops due's mark count, for tests that look only at what is due.
func dueChecks(due []assuresign.Check, _ int, _ uint64) []assuresign.Check { return due }

// dueIDs returns the ids of the checks due returned.
func dueIDs(due []assuresign.Check, _ int, _ uint64) []string {
	ids := make([]string, len(due))
	for i, c := range due {
		ids[i] = c.ID
	}
	return ids
}

// answer records res for its document as a round does: the check is chosen
// (due gives the mark count then), then its answer applied. It returns how
// long a pending notification waited.
func answer(s *Store, res assuresign.Result, now time.Time, interval, terminalInterval time.Duration) time.Duration {
	_, _, asked := s.due(now, 0, false, 1, "")
	return s.apply(res, now, schedule{interval: interval, maxInterval: interval, terminal: terminalInterval}, asked).notified
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

// rig is a refresher wired to a simulator over loopback HTTP, with the
// exporter's metrics in their own registry.
type rig struct {
	sim       *simulator.Simulator
	store     *Store
	reg       *prometheus.Registry
	refresher *Refresher
	clock     *testenv.Clock
	logs      *testenv.SyncBuffer
	logger    *slog.Logger
}

type rigOptions struct {
	cfg     RefreshConfig
	retries int                             // client MaxRetries: 0 (or negative) for none
	wrap    func(http.Handler) http.Handler // wraps the simulator, if set
	sim     *simulator.Simulator            // the account; a new one when nil
}

// newRig starts a simulator for testenv.SecretContext and a refresher on a fake clock
// at testenv.T0. The client does not retry unless asked.
func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	sim := o.sim
	if sim == nil {
		sim = simulator.New(testenv.SecretContext)
	}
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
	logger, logs := testenv.DebugLogger()
	reg := prometheus.NewRegistry()
	store := NewStore(StoreConfig{})
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
		o.cfg.ContextIdentifier = testenv.SecretContext
	}
	if o.retries <= 0 {
		o.retries = -1
	}
	clock := testenv.NewClock(testenv.T0)
	o.cfg.Now = clock.Now
	metrics := NewMetrics(reg, store.Len, o.cfg.Interval, false)
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
	o.cfg.Lister = client
	refresher := NewRefresher(o.cfg, store, client, metrics, logger)
	return &rig{sim: sim, store: store, reg: reg, refresher: refresher, clock: clock, logs: logs, logger: logger}
}

// put adds documents to the simulated account, with status date testenv.T0.
func (r *rig) put(st assuresign.Status, step int, ids ...string) {
	for _, id := range ids {
		r.sim.Put(simulator.Document{ID: id, AuthToken: tokenFor(id), Status: st, Step: step, StatusDate: testenv.T0})
	}
}

// tokenFor is the AuthToken rig documents use: derived from the id.
func tokenFor(id string) string { return "70CE0000" + id[8:] }

// watch makes ids the watch list, each with tokenFor(id).
func (r *rig) watch(ids ...string) {
	wl := &watchlist.List{}
	for _, id := range ids {
		wl.Documents = append(wl.Documents, watchlist.Entry{ID: id, AuthToken: tokenFor(id)})
	}
	r.store.SetWatchList(wl)
}

// round runs a scheduled round at the given offset from testenv.T0.
func (r *rig) round(at time.Duration) roundStats {
	r.clock.Set(testenv.T0.Add(at))
	return r.refresher.round(context.Background(), false)
}

// statusOf returns the document as the landing page sees it, times in UTC.
func statusOf(t testing.TB, s *Store, id string) DocumentView {
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

// scrape publishes what changed in s and returns its plain body, in the
// text format, or in OpenMetrics with openMetrics (then ending in "# EOF",
// as a scrape does).
func scrape(t testing.TB, s *Store, openMetrics bool) string {
	t.Helper()
	s.Publish()
	var buf bytes.Buffer
	var tail []byte
	if openMetrics {
		tail = []byte("# EOF\n")
	}
	require.NoError(t, s.Metrics().Write(&buf, openMetrics, false, tailOf(string(tail))))
	return buf.String()
}

// documents turns s's text exposition into a Gatherer: every Gather renders
// s and parses the text as Prometheus would. prometheus.Gatherers sorts the
// result and checks its consistency (types, duplicate series, label names,
// UTF-8), as a registry would, also against the other gatherers given, such
// as the registry of the exporter's own metrics.
func documents(s *Store, others ...prometheus.Gatherer) prometheus.Gatherer {
	return append(prometheus.Gatherers{prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		s.Publish()
		var buf bytes.Buffer
		if err := s.Metrics().Write(&buf, false, false, tailOf("")); err != nil {
			return nil, err
		}
		return testenv.ParseText(buf.String())
	})}, others...)
}

// tailOf returns a tail for Exposition.Write: the exporter's own metrics,
// here text, cut in two Tails as the server writes the runtime's metrics,
// kept for a second, and then the exporter's.
func tailOf(text string) func() ([]*exposition.Tail, error) {
	half := len(text) / 2
	tails := []*exposition.Tail{exposition.NewTail([]byte(text[:half]), false), exposition.NewTail([]byte(text[half:]), true)}
	return func() ([]*exposition.Tail, error) { return tails, nil }
}

// checkSuccess returns assuresign_document_check_success by document id, as
// a scrape reads it.
func checkSuccess(t testing.TB, s *Store) map[string]float64 {
	t.Helper()
	x, err := testenv.ParseExposition(scrape(t, s, false), "assuresign_document_check_success")
	require.NoError(t, err)
	out := map[string]float64{}
	for _, id := range s.order {
		if v, ok := x.Find("assuresign_document_check_success", map[string]string{"document_id": id}); ok {
			out[id] = v
		}
	}
	return out
}

// gatherText gathers g in the text format.
func gatherText(t testing.TB, g prometheus.Gatherer) string {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	var b strings.Builder
	for _, mf := range mfs {
		_, err := expfmt.MetricFamilyToText(&b, mf)
		require.NoError(t, err)
	}
	return b.String()
}
