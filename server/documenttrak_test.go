package server

// End-to-end tests of the DocumentTRAK push path inside one process: a
// notification POSTed to the handler server.New serves, the real
// WebhookHandler, Refresher.Run scheduling the check, assuresign.Client
// calling the simulator over HTTP, the store and the pre-rendered /metrics.
// The refresh interval is an hour throughout, so every change seen here came
// from a notification.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/refresh"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

const (
	dtToken   = "dt-bearer-Wq7nZ3kP9xR2vL5m" // distinctive, so a leak is easy to find
	dtContext = "06C4A84A-693C-46CB-8DF2-40A8215AA056"
	dtPath    = WebhookPath
	// dtCoalesce is the refresher's default coalescing wait, which these
	// tests keep: notifications arriving together share a request.
	dtCoalesce = 200 * time.Millisecond
	// dtPatience bounds every wait for something the exporter does within
	// moments; it only matters when the behaviour is broken. How long the
	// change takes is BenchmarkNotificationToMetrics' business.
	dtPatience = 10 * time.Second
)

func dtDocID(i int) string     { return fmt.Sprintf("D0C0%04X-1111-4222-8333-%012X", i, i) }
func dtAuthToken(i int) string { return fmt.Sprintf("A0E0%04X-5555-4666-8777-%012X", i, i) }

// dtStatusLine is the sample that shows doc in status st (value 1) or not (0).
func dtStatusLine(id string, st assuresign.Status, value int) string {
	return fmt.Sprintf("assuresign_document_status{document_id=%q,status=%q} %d\n", id, st.String(), value)
}

// dtUpstream stands between the client and the simulator: it counts requests
// in flight and can hold an answer back after the simulator computed it, as a
// slow network would. The answer then reflects the simulator's state when the
// request arrived, not when the client reads it.
type dtUpstream struct {
	sim         *simulator.Simulator
	delay       atomic.Int64 // nanoseconds
	inflight    atomic.Int32
	maxInflight atomic.Int32
	answered    atomic.Int32 // answers computed, delayed or not
	lastSeen    atomic.Int64 // when a request last arrived or ended, Unix nanoseconds

	mu   sync.Mutex
	gate chan struct{} // when set, answers wait for it to close
}

// holdAnswers makes answers wait until the returned function is called.
func (u *dtUpstream) holdAnswers() (release func()) {
	gate := make(chan struct{})
	u.mu.Lock()
	u.gate = gate
	u.mu.Unlock()
	return sync.OnceFunc(func() {
		u.mu.Lock()
		u.gate = nil
		u.mu.Unlock()
		close(gate)
	})
}

func (u *dtUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.lastSeen.Store(time.Now().UnixNano())
	defer func() { u.lastSeen.Store(time.Now().UnixNano()) }()
	n := u.inflight.Add(1)
	defer u.inflight.Add(-1)
	for m := u.maxInflight.Load(); n > m && !u.maxInflight.CompareAndSwap(m, n); m = u.maxInflight.Load() {
	}
	rec := httptest.NewRecorder()
	u.sim.ServeHTTP(rec, r)
	u.answered.Add(1)
	u.mu.Lock()
	gate := u.gate
	u.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if d := time.Duration(u.delay.Load()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

type dtOptions struct {
	docs        int
	batchSize   int // default 50
	concurrency int // default 2
}

// dtEnv is the exporter's DocumentTRAK path wired as main.go wires it.
type dtEnv struct {
	t         testing.TB
	sim       *simulator.Simulator
	up        *dtUpstream
	store     *collector.Store
	refresher *refresh.Refresher
	reg       *prometheus.Registry
	webhook   *WebhookHandler
	srv       *httptest.Server // serves server.New's handler, /metrics and the webhook, as the main listener does
	logs      *testenv.SyncBuffer
	client    *http.Client
	lastSent  atomic.Int64 // when a notification was last answered, Unix nanoseconds

	mu      sync.Mutex
	outputs []string // every scrape and webhook answer, searched for secrets at the end
}

func dtStart(t testing.TB, o dtOptions) *dtEnv {
	t.Helper()
	if o.batchSize == 0 {
		o.batchSize = 50
	}
	if o.concurrency == 0 {
		o.concurrency = 2
	}
	sim := simulator.New(dtContext)
	statusDate := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	wl := &watchlist.List{}
	for i := range o.docs {
		sim.Put(simulator.Document{
			ID: dtDocID(i), AuthToken: dtAuthToken(i),
			Status: assuresign.StatusSigningStepInProgress, Step: 1, StatusDate: statusDate,
		})
		wl.Documents = append(wl.Documents, watchlist.Entry{ID: dtDocID(i), AuthToken: dtAuthToken(i)})
	}
	up := &dtUpstream{sim: sim}
	upSrv := httptest.NewServer(up)
	t.Cleanup(upSrv.Close)

	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	e := &dtEnv{t: t, sim: sim, up: up, store: collector.NewStore(collector.StoreConfig{}), reg: prometheus.NewRegistry(), logs: &testenv.SyncBuffer{},
		client: &http.Client{Timeout: 10 * time.Second, Transport: tr}}
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// Into the store, as main's first load does before Run: the first round
	// checks every document, and no urgent round follows it.
	e.store.SetWatchList(wl)

	metrics := refresh.NewMetrics(e.reg, e.store.Len, time.Hour, true)
	client, err := assuresign.NewClient(assuresign.Config{
		Endpoint: upSrv.URL + simulator.CheckStatusPath, MaxRetries: -1, Logger: logger, Observe: metrics.ObserveRequest,
		HTTPClient: &http.Client{Transport: tr},
	})
	require.NoError(t, err)
	e.refresher = refresh.NewRefresher(refresh.Config{
		Interval:          time.Hour, // the recommended setting with notifications on
		TerminalInterval:  24 * time.Hour,
		BatchSize:         o.batchSize,
		Concurrency:       o.concurrency,
		Timeout:           10 * time.Second,
		ContextIdentifier: dtContext,
		Coalesce:          dtCoalesce,
	}, e.store, client, metrics, logger)

	tokenFile := filepath.Join(t.TempDir(), "documenttrak-token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(dtToken+"\n"), 0o600))
	e.webhook, err = NewWebhookHandler(tokenFile, e.refresher, nil, e.reg, logger)
	require.NoError(t, err)

	h, err := New(Options{
		MetricsPath: "/metrics", Store: e.store, Gatherer: e.reg, Webhook: e.webhook, Logger: logger,
		Exporter: exporterFuncs{ready: e.refresher.Ready, reload: func(context.Context) error { return e.webhook.Reload() }},
	})
	require.NoError(t, err)
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)

	runRefresher(t, e.refresher)

	// Registered last, so it runs first, while everything still serves.
	t.Cleanup(func() {
		secrets := testenv.NewSecrets(testenv.FragmentLen, dtToken, dtContext)
		secrets.AssertNone(t, "/metrics", e.scrape())
		secrets.AssertNone(t, "the debug log", e.logs.String())
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, out := range e.outputs {
			secrets.AssertNone(t, "an answer", out)
		}
	})

	require.Eventually(t, e.refresher.Ready, dtPatience, 5*time.Millisecond, "first refresh round")
	for i := range o.docs {
		require.Contains(t, e.scrape(), dtStatusLine(dtDocID(i), assuresign.StatusSigningStepInProgress, 1))
	}
	return e
}

func (e *dtEnv) record(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.outputs = append(e.outputs, s)
}

// get scrapes /metrics; safe from any goroutine, it reports errors instead of
// failing the test.
func (e *dtEnv) get() (string, error) {
	resp, err := e.client.Get(e.srv.URL + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("/metrics: HTTP %d", resp.StatusCode)
	}
	e.record(string(b))
	return string(b), nil
}

func (e *dtEnv) scrape() string {
	e.t.Helper()
	b, err := e.get()
	require.NoError(e.t, err)
	return b
}

// post sends one notification with the right token. Safe from many goroutines:
// it reports errors instead of failing the test.
func (e *dtEnv) post(contentType, body string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+dtPath, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+dtToken)
	req.Header.Set("Content-Type", contentType)
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	defer e.lastSent.Store(time.Now().UnixNano())
	b, _ := io.ReadAll(resp.Body)
	e.record(string(b))
	return resp.StatusCode, nil
}

// serve hands one notification straight to the webhook handler, without
// TCP: many calls from many goroutines then arrive within milliseconds even
// under -race on a busy machine, which is what "arriving together" means.
func (e *dtEnv) serve(contentType, body string) int {
	req := httptest.NewRequest(http.MethodPost, dtPath, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+dtToken)
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	e.webhook.ServeHTTP(rec, req)
	e.lastSent.Store(time.Now().UnixNano())
	e.record(rec.Body.String())
	return rec.Code
}

func (e *dtEnv) mustPost(contentType, body string) {
	e.t.Helper()
	code, err := e.post(contentType, body)
	require.NoError(e.t, err)
	require.Equal(e.t, http.StatusAccepted, code)
}

// has reports whether /metrics holds every want.
func (e *dtEnv) has(want ...string) bool {
	body, err := e.get()
	return err == nil && !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(body, w) })
}

// waitFor waits until /metrics holds every want, and returns how long that
// took since since, for the log.
func (e *dtEnv) waitFor(since time.Time, msg string, want ...string) time.Duration {
	e.t.Helper()
	require.Eventually(e.t, func() bool { return e.has(want...) }, dtPatience, 5*time.Millisecond, msg)
	return time.Since(since)
}

const dtLatencyCount = "assuresign_webhook_notification_to_update_seconds_count"

func (e *dtEnv) latencyCount() float64 { return testenv.Sample(e.t, e.scrape(), dtLatencyCount) }

// observed returns assuresign_webhook_notification_to_update_seconds' count
// from the registry /metrics serves; safe from any goroutine.
func (e *dtEnv) observed() uint64 {
	mfs, err := e.reg.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == "assuresign_webhook_notification_to_update_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// settle waits until every check the notifications so far asked for has been
// answered, so no further request can follow. A notified document stays due
// until a check chosen after its last notification answers, and that answer
// is the one observation of the notification-to-update histogram for it: so
// once the histogram has counted observations in all, and no request is in
// flight, nothing is due. The caller knows how many: one per notified
// document, when each document got its notifications before they were
// answered.
func (e *dtEnv) settle(observations float64) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		return float64(e.observed()) >= observations && e.up.inflight.Load() == 0
	}, dtPatience, 2*time.Millisecond, "urgent checks still pending")
}

// quiesce waits until nothing has reached the upstream, and no notification
// has arrived, for three coalescing waits, with no request in flight: a
// notification's check is sent one coalescing wait after the refresher hears
// of it, or after the round in flight ends. It is for a burst for one
// document, where the number of checks is what is measured and settle cannot
// be told how many observations to expect.
func (e *dtEnv) quiesce() {
	e.t.Helper()
	quiet := 3 * dtCoalesce
	require.Eventually(e.t, func() bool {
		last := time.Unix(0, max(e.up.lastSeen.Load(), e.lastSent.Load()))
		return e.up.inflight.Load() == 0 && time.Since(last) > quiet
	}, dtPatience, 10*time.Millisecond, "requests still reaching the upstream")
}

func (e *dtEnv) setStatus(i int, st assuresign.Status) {
	e.t.Helper()
	require.True(e.t, e.sim.Update(dtDocID(i), func(d *simulator.Document) {
		d.Status, d.Step = st, 0
		d.StatusDate = d.StatusDate.Add(time.Hour)
	}))
}

// The headline: one status change plus one notification reaches
// /metrics while the refresh interval is an hour, whatever body shape the
// account's DocumentTRAK template sends. (How soon is measured by
// BenchmarkNotificationToMetrics.)
func TestDocumentTRAKNotificationUpdatesMetrics(t *testing.T) {
	for _, tc := range []struct {
		name, contentType string
		body              func(id string) string
		to                assuresign.Status
	}{
		{"json", "application/json", func(id string) string {
			return `{"event":"Declined","documentId":"` + id + `","documentName":"Contract"}`
		}, assuresign.StatusDeclined},
		{"xml", "application/xml", func(id string) string {
			return `<?xml version="1.0" encoding="utf-8"?><Notification xmlns="urn:example"><Event>Completed</Event><Document><DocumentID>` + id + `</DocumentID></Document></Notification>`
		}, assuresign.StatusCompleted},
		{"form", "application/x-www-form-urlencoded", func(id string) string {
			return "event=Cancelled&document_id=%7B" + strings.ToLower(id) + "%7D"
		}, assuresign.StatusCancelled},
		{"json_lower_case_id_no_content_type", "", func(id string) string {
			return `{"DocumentID": "{` + strings.ToLower(id) + `}"}`
		}, assuresign.StatusExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := dtStart(t, dtOptions{docs: 3})
			id := dtDocID(1)
			before := e.scrape()
			count0 := testenv.Sample(t, before, dtLatencyCount)
			e.sim.ResetStats()

			e.setStatus(1, tc.to)
			start := time.Now()
			e.mustPost(tc.contentType, tc.body(id))
			took := e.waitFor(start, "the change never reached /metrics",
				dtStatusLine(id, tc.to, 1), dtStatusLine(id, assuresign.StatusSigningStepInProgress, 0))
			t.Logf("%s notification to %s in /metrics: %s", tc.name, tc.to, took)

			e.settle(count0 + 1)
			after := e.scrape()
			assert.Equal(t, count0+1, testenv.Sample(t, after, dtLatencyCount), "notification-to-update histogram count")
			assert.Equal(t, 1.0, testenv.Sample(t, after, `assuresign_webhook_requests_total{result="accepted"}`))
			// The other open documents ride along in the request that goes out anyway.
			assert.Equal(t, []int{3}, e.sim.Stats().DocumentsPerRequest, "one request, for the one document and the other open ones")
			// The other documents kept their status.
			for _, other := range []int{0, 2} {
				assert.Contains(t, after, dtStatusLine(dtDocID(other), assuresign.StatusSigningStepInProgress, 1))
			}
		})
	}
}

// A notification never sets a status: only CheckStatus does.
func TestDocumentTRAKClaimedStatusIsIgnored(t *testing.T) {
	t.Run("upstream_says_declined", func(t *testing.T) {
		e := dtStart(t, dtOptions{docs: 1})
		id := dtDocID(0)
		e.setStatus(0, assuresign.StatusDeclined)
		start := time.Now()
		e.mustPost("application/json", `{"documentId":"`+id+`","status":"Completed"}`)
		took := e.waitFor(start, "Declined never reached /metrics", dtStatusLine(id, assuresign.StatusDeclined, 1))
		t.Logf("Declined in /metrics after %s", took)
		assert.Contains(t, e.scrape(), dtStatusLine(id, assuresign.StatusCompleted, 0))
	})
	t.Run("upstream_unchanged", func(t *testing.T) {
		e := dtStart(t, dtOptions{docs: 1})
		id := dtDocID(0)
		count0 := e.latencyCount()
		e.mustPost("application/json", `{"documentId":"`+id+`","status":"Completed","StatusType":"Completed"}`)
		require.Eventually(t, func() bool { return float64(e.observed()) == count0+1 }, dtPatience, 2*time.Millisecond,
			"the notification's check never finished")
		body := e.scrape()
		assert.Equal(t, count0+1, testenv.Sample(t, body, dtLatencyCount))
		assert.Contains(t, body, dtStatusLine(id, assuresign.StatusSigningStepInProgress, 1))
		assert.Contains(t, body, dtStatusLine(id, assuresign.StatusCompleted, 0))
	})
}

// DocumentTRAK may send a burst for one document (several events, retries):
// they share a handful of requests.
func TestDocumentTRAKBurstForOneDocument(t *testing.T) {
	const notifications = 300
	// Straight into the handler: the 300 notifications land together,
	// whatever the machine's load, as a real burst would.
	t.Run("handler", func(t *testing.T) {
		requests, _ := dtBurst(t, notifications, func(e *dtEnv, body string) (int, error) { return e.serve("application/json", body), nil })
		assert.LessOrEqual(t, requests, 5)
	})
	// Over HTTP, as DocumentTRAK sends them. Sending takes longer here (much
	// longer under -race on a busy machine), and urgent rounds may follow one
	// another every Coalesce (200ms by default) while notifications keep
	// coming, so the bound grows with the time the burst took.
	t.Run("http", func(t *testing.T) {
		requests, sent := dtBurst(t, notifications, func(e *dtEnv, body string) (int, error) { return e.post("application/json", body) })
		assert.LessOrEqual(t, requests, max(5, int(sent/dtCoalesce)+2))
	})
}

// dtBurst sends notifications for one changed document from as many
// goroutines at once; it returns the upstream requests they caused and how
// long sending took.
func dtBurst(t *testing.T, notifications int, send func(e *dtEnv, body string) (int, error)) (requests int, sent time.Duration) {
	e := dtStart(t, dtOptions{docs: 5})
	id := dtDocID(3)
	count0 := e.latencyCount()
	// As many connections as a busy sender would open; each carries many
	// notifications.
	tr := &http.Transport{MaxConnsPerHost: 16, MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	e.client.Transport = tr
	e.setStatus(3, assuresign.StatusCompleted)
	before := e.sim.Stats()

	var (
		wg       sync.WaitGroup
		accepted atomic.Int32
		gate     = make(chan struct{})
	)
	for range notifications {
		wg.Go(func() {
			<-gate
			code, err := send(e, `{"documentId":"`+id+`"}`)
			if assert.NoError(t, err) && code == http.StatusAccepted {
				accepted.Add(1)
			}
		})
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	sent = time.Since(start)
	require.EqualValues(t, notifications, accepted.Load())
	took := e.waitFor(start, "Completed never reached /metrics", dtStatusLine(id, assuresign.StatusCompleted, 1))
	e.quiesce()

	after := e.sim.Stats()
	requests = after.Requests - before.Requests
	t.Logf("%d notifications sent in %s; Completed in /metrics after %s; upstream requests: %d (documents per request %v)",
		notifications, sent, took, requests, after.DocumentsPerRequest[len(before.DocumentsPerRequest):])
	assert.GreaterOrEqual(t, requests, 1)
	assert.Equal(t, float64(notifications), testenv.Sample(t, e.scrape(), `assuresign_webhook_requests_total{result="accepted"}`))
	count := e.latencyCount()
	assert.Greater(t, count, count0, "notification-to-update histogram count")
	assert.LessOrEqual(t, count-count0, float64(requests), "one observation per answered check, not per notification")
	return requests, sent
}

// Notifications for several documents arriving together share one request.
func TestDocumentTRAKCoalescesDocuments(t *testing.T) {
	e := dtStart(t, dtOptions{docs: 20})
	notified := []int{1, 4, 6, 9, 12, 15, 17, 19}
	count0 := e.latencyCount()
	e.sim.ResetStats()
	var want []string
	for _, i := range notified {
		e.setStatus(i, assuresign.StatusDeclined)
		want = append(want, dtStatusLine(dtDocID(i), assuresign.StatusDeclined, 1))
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, i := range notified {
		wg.Go(func() {
			assert.Equal(t, http.StatusAccepted, e.serve("application/xml", "<n><DocumentId>"+dtDocID(i)+"</DocumentId></n>"))
		})
	}
	wg.Wait()
	took := e.waitFor(start, "not every change reached /metrics", want...)
	e.settle(count0 + float64(len(notified)))
	st := e.sim.Stats()
	t.Logf("%d documents notified together: documents per request %v; all changes in /metrics after %s", len(notified), st.DocumentsPerRequest, took)
	assert.Equal(t, []int{20}, st.DocumentsPerRequest, "one batched request for every notified document, filled with the other open ones")
	// The others kept their status.
	body := e.scrape()
	for i := range 20 {
		if !slices.Contains(notified, i) {
			assert.Contains(t, body, dtStatusLine(dtDocID(i), assuresign.StatusSigningStepInProgress, 1))
		}
	}
}

// Checks asked for by notifications are cut into batches of BatchSize with at
// most Concurrency requests in flight, exactly as scheduled rounds are.
func TestDocumentTRAKObeysBatchSizeAndConcurrency(t *testing.T) {
	const docs, batch, concurrency = 10, 3, 2
	e := dtStart(t, dtOptions{docs: docs, batchSize: batch, concurrency: concurrency})
	wantShape := []int{1, 3, 3, 3}

	// The scheduled first round, for comparison.
	first := e.sim.Stats().DocumentsPerRequest
	slices.Sort(first)
	assert.Equal(t, wantShape, first, "first scheduled round")
	t.Logf("scheduled round: documents per request %v, most in flight %d", e.sim.Stats().DocumentsPerRequest, e.up.maxInflight.Load())

	count0 := e.latencyCount()
	e.sim.ResetStats()
	e.up.maxInflight.Store(0)
	e.up.delay.Store(int64(100 * time.Millisecond)) // keep requests in flight long enough to overlap
	var wg sync.WaitGroup
	for i := range docs {
		wg.Go(func() {
			assert.Equal(t, http.StatusAccepted, e.serve("application/json", `{"document_id":"`+dtDocID(i)+`"}`))
		})
	}
	wg.Wait()
	e.settle(count0 + docs)
	got := e.sim.Stats().DocumentsPerRequest
	t.Logf("notification round: documents per request %v, most in flight %d", got, e.up.maxInflight.Load())
	slices.Sort(got)
	assert.Equal(t, wantShape, got, "notification-triggered batches")
	assert.LessOrEqual(t, e.up.maxInflight.Load(), int32(concurrency), "requests in flight at once")
	assert.Equal(t, int32(concurrency), e.up.maxInflight.Load(), "the concurrency allowed is used")
}

// A notification that arrives while a check of the same document is already in
// flight must not be swallowed by that check's answer, which AssureSign may
// have computed before the change the notification announces.
func TestDocumentTRAKNotificationDuringInFlightCheck(t *testing.T) {
	e := dtStart(t, dtOptions{docs: 2})
	id := dtDocID(0)
	count0 := e.latencyCount()
	release := e.up.holdAnswers()
	t.Cleanup(release)
	answered := e.up.answered.Load()

	// First event (a step completed, say): the status stays in progress.
	e.mustPost("application/json", `{"documentId":"`+id+`"}`)
	require.Eventually(t, func() bool { return e.up.answered.Load() > answered }, dtPatience, time.Millisecond,
		"the first notification's check never reached the upstream")
	// Its answer, SigningStepInProgress, is computed and held on its way
	// back. Now the document is declined and DocumentTRAK says so.
	e.setStatus(0, assuresign.StatusDeclined)
	start := time.Now()
	e.mustPost("application/json", `{"documentId":"`+id+`"}`)
	release()
	took := e.waitFor(start, "the second notification was lost: Declined never reached /metrics", dtStatusLine(id, assuresign.StatusDeclined, 1))
	t.Logf("Declined in /metrics %s after a notification that arrived while a check was in flight", took)
	// Both notifications came before the check that answered them.
	e.settle(count0 + 1)
	assert.Equal(t, []int{2, 2}, e.sim.Stats().DocumentsPerRequest[1:], "the first round, then one request per notification (the other open document riding along)")
}
