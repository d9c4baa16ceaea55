package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/internal/storetest"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/refresh"
	"github.com/assuresign-exporter/assuresign_exporter/upstream/upstreamtest"
)

// options are server.New's options for an empty store, ready, reloading with
// reload (nil: at once, successfully).
func options(reload func(context.Context) error) Options {
	return Options{MetricsPath: "/metrics", Store: collector.NewStore(collector.StoreConfig{}), Gatherer: prometheus.NewRegistry(),
		Exporter: exporterFuncs{reload: reload}, Logger: testenv.DiscardLogger()}
}

func mustNew(t *testing.T, o Options) http.Handler {
	t.Helper()
	h, err := New(o)
	require.NoError(t, err)
	return h
}

// do serves one request with an empty body to h.
func do(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestHealthy(t *testing.T) {
	h := mustNew(t, options(nil))
	rec := do(h, http.MethodGet, "/-/healthy")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "Healthy\n", rec.Body.String())
}

// /-/ready answers 503 until the refresher's first round has finished, then 200.
func TestReadyAfterTheFirstRound(t *testing.T) {
	release := make(chan struct{})
	var asked atomic.Bool
	checker := upstreamtest.CheckFunc(func(ctx context.Context, checks []assuresign.Check) ([]assuresign.Result, error) {
		asked.Store(true)
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return nil, nil
	})
	store := collector.NewStore(collector.StoreConfig{})
	store.SetWatchList(storetest.WatchList(testenv.DocA))
	reg := prometheus.NewRegistry()
	refresher := refresh.NewRefresher(refresh.Config{Interval: time.Hour, TerminalInterval: time.Hour, BatchSize: 1, Concurrency: 1, Timeout: time.Minute},
		store, checker, refresh.NewMetrics(reg, store.Len, time.Hour, false), testenv.DiscardLogger())
	o := options(nil)
	o.Store, o.Gatherer, o.Exporter = store, reg, exporterFuncs{ready: refresher.Ready}
	h := mustNew(t, o)

	assert.Equal(t, http.StatusServiceUnavailable, do(h, http.MethodGet, "/-/ready").Code, "before the refresher runs")
	runRefresher(t, refresher)
	require.Eventually(t, asked.Load, 10*time.Second, time.Millisecond, "the first round's request")
	rec := do(h, http.MethodGet, "/-/ready")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "during the first round")
	assert.Contains(t, rec.Body.String(), "waiting for the first refresh round")

	close(release)
	require.Eventually(t, func() bool { return do(h, http.MethodGet, "/-/ready").Code == http.StatusOK }, 10*time.Second, time.Millisecond)
	assert.Equal(t, "Ready\n", do(h, http.MethodGet, "/-/ready").Body.String())
}

func TestReload(t *testing.T) {
	var calls atomic.Int32
	var fail atomic.Pointer[error]
	h := mustNew(t, options(func(context.Context) error {
		calls.Add(1)
		if err := fail.Load(); err != nil {
			return *err
		}
		return nil
	}))

	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete} {
		rec := do(h, m, "/-/reload")
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, m)
		assert.Equal(t, http.MethodPost, rec.Header().Get("Allow"), m)
	}
	assert.Zero(t, calls.Load(), "only POST reloads")

	rec := do(h, http.MethodPost, "/-/reload")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "Reloaded\n", rec.Body.String())
	assert.EqualValues(t, 1, calls.Load())

	err := errors.New("watch.yml: line 3: documents[0].id: not a GUID")
	fail.Store(&err)
	rec = do(h, http.MethodPost, "/-/reload")
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Equal(t, "reload failed: watch.yml: line 3: documents[0].id: not a GUID\n", rec.Body.String())
	assert.EqualValues(t, 2, calls.Load())
}

// Reload is handed the request's context: a caller that gives up ends the
// wait, and the answer says the reload did not finish.
func TestReloadGetsTheRequestContext(t *testing.T) {
	stop := make(chan struct{}) // ends the reload when the test does, should the context not
	t.Cleanup(func() { close(stop) })
	h := mustNew(t, options(func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return errors.New("test over")
		}
	}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/-/reload", nil).WithContext(ctx))
	}()
	require.Eventually(t, func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}, 10*time.Second, time.Millisecond, "the reload did not end with the caller's context")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "reload not finished: context canceled\n", rec.Body.String())
}

// Issue #10: callers of /-/reload that give up while the reload is slow must
// leave no goroutine behind (50 abandoned calls took the exporter from 18 to
// 69 goroutines). Here the reload only ends when its context does, so each
// abandoned call would otherwise hold its connection's goroutine for ever.
func TestReloadCallersThatGiveUpLeaveNoGoroutines(t *testing.T) {
	const callers = 50
	var waiting, returned atomic.Int32
	stop := make(chan struct{}) // ends reloads still waiting when the test ends, should the context not
	h := mustNew(t, options(func(ctx context.Context) error {
		waiting.Add(1)
		defer returned.Add(1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return errors.New("test over")
		}
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // before srv.Close, which waits for the handlers
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}

	// One call that finishes first, so the server's own goroutines are counted.
	resp, err := client.Get(srv.URL + "/-/healthy")
	require.NoError(t, err)
	resp.Body.Close()
	tr.CloseIdleConnections()
	// Counted by goleak, which tells the test's goroutines from the
	// runtime's own (a count of all of them moves with the runtime's).
	before := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/-/reload", nil)
			if !assert.NoError(t, err) {
				return
			}
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Errorf("the reload answered %s before the caller gave up", resp.Status)
			}
		})
	}
	require.Eventually(t, func() bool { return waiting.Load() == callers }, 10*time.Second, time.Millisecond, "every call waiting in Reload")
	cancel() // every caller gives up
	wg.Wait()
	tr.CloseIdleConnections()
	assert.NoError(t, goleak.Find(before), "goroutines left by abandoned reloads")
	assert.EqualValues(t, callers, returned.Load(), "Reload calls that ended")
}

// The webhook is served, and linked from the landing page, only when
// Options.Webhook is set.
func TestWebhookOnlyWhenSet(t *testing.T) {
	var served atomic.Int32
	webhook := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served.Add(1)
		w.WriteHeader(http.StatusAccepted)
	})
	link := `<a href="` + WebhookPath + `">`

	off := mustNew(t, options(nil))
	assert.Equal(t, http.StatusNotFound, do(off, http.MethodPost, WebhookPath).Code)
	assert.NotContains(t, do(off, http.MethodGet, "/").Body.String(), link)
	assert.NotContains(t, do(off, http.MethodGet, "/").Body.String(), "webhook")

	o := options(nil)
	o.Webhook = webhook
	on := mustNew(t, o)
	assert.Equal(t, http.StatusAccepted, do(on, http.MethodPost, WebhookPath).Code)
	assert.EqualValues(t, 1, served.Load())
	page := do(on, http.MethodGet, "/")
	require.Equal(t, http.StatusOK, page.Code)
	assert.Contains(t, page.Body.String(), link+"DocumentTRAK webhook (POST)</a>")
	// Every other link stays.
	for _, l := range []string{`<a href="/metrics">Metrics</a>`, `<a href="/-/healthy">Health</a>`, `<a href="/-/ready">Readiness</a>`} {
		assert.Contains(t, page.Body.String(), l)
		assert.Contains(t, do(off, http.MethodGet, "/").Body.String(), l)
	}
}

// The real webhook behind server.New: its token is checked and the
// notification reaches the refresher.
func TestWebhookThroughNew(t *testing.T) {
	trigger := &whTrigger{watched: map[string]bool{testenv.DocA: true}}
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte(whToken+"\n"), 0o600))
	wh, err := NewWebhookHandler(file, trigger, nil, prometheus.NewRegistry(), nil)
	require.NoError(t, err)
	o := options(nil)
	o.Webhook = wh
	h := mustNew(t, o)
	for auth, want := range map[string]int{"Bearer " + whToken: http.StatusAccepted, "Bearer wrong": http.StatusUnauthorized, "": http.StatusUnauthorized} {
		req := httptest.NewRequest(http.MethodPost, WebhookPath, strings.NewReader(`{"documentId":"`+testenv.DocA+`"}`))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, want, rec.Code, auth)
	}
	assert.Len(t, trigger.recorded(), 1)
}

func TestCheckMetricsPath(t *testing.T) {
	for _, tc := range []struct {
		path   string
		reason string // "" when the path is fine
	}{
		{"/metrics", ""},
		{"/x/metrics", ""},
		{"/", "taken by another endpoint"},
		{"/-/healthy", "taken by another endpoint"},
		{"/-/ready", "taken by another endpoint"},
		{"/-/reload", "taken by another endpoint"},
		{"/webhooks/documenttrak", "taken by another endpoint"},
		{"metrics", "must start with /"},
		{"", "must start with /"},
		{"/a{b}", "must not hold braces or white space"},
		{"/a b", "must not hold braces or white space"},
	} {
		err := CheckMetricsPath(tc.path)
		if tc.reason == "" {
			assert.NoError(t, err, tc.path)
			continue
		}
		if assert.Error(t, err, tc.path) {
			assert.Contains(t, err.Error(), "--web.telemetry-path", tc.path)
			assert.Contains(t, err.Error(), `"`+tc.path+`"`, "the error names the path")
			assert.Contains(t, err.Error(), tc.reason, tc.path)
		}
	}
}

// Before the split a bad --web.telemetry-path panicked at start-up; New now
// returns the error CheckMetricsPath gives.
func TestNewRejectsABadMetricsPath(t *testing.T) {
	for _, path := range []string{"/", "/-/healthy", "/-/ready", "/-/reload", WebhookPath, "metrics", "/a{b}", "/a b", "/{x...}"} {
		o := options(nil)
		o.MetricsPath = path
		var (
			h   http.Handler
			err error
		)
		require.NotPanics(t, func() { h, err = New(o) }, path)
		assert.Nil(t, h, path)
		if assert.Error(t, err, path) {
			assert.Equal(t, CheckMetricsPath(path).Error(), err.Error())
		}
	}
	// A path elsewhere is served there, and only there.
	o := options(nil)
	o.MetricsPath = "/x/metrics"
	h := mustNew(t, o)
	rec := do(h, http.MethodGet, "/x/metrics")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), "# TYPE assuresign_document_status gauge")
	assert.Equal(t, http.StatusNotFound, do(h, http.MethodGet, "/metrics").Code)
}
