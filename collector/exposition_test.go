package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// fixedStore holds three documents in known states:
//   - A: at signing step 2, with a warning, and labels that need escaping;
//   - B: Completed, then answered with exceptions only (of every severity);
//   - C: never checked.
func fixedStore() *Store {
	s := NewStore()
	s.SetWatchList(&WatchList{Documents: []WatchedDocument{
		{ID: docA, AuthToken: secretTokenA, Labels: map[string]string{"customer": "acme", "note": "say \"hi\" \\ C:\\dir\nline 2"}},
		{ID: docB, AuthToken: secretTokenB},
		{ID: docC, AuthToken: secretTokenC, ContextIdentifier: secretDocContext},
	}})
	s.Apply(assuresign.Result{
		ID: docA, RawStatus: "SigningStepInProgress", Status: assuresign.StatusSigningStepInProgress, Step: 2,
		StatusDate: time.Date(2024, 3, 1, 11, 0, 0, 0, time.UTC),
		Exceptions: []assuresign.Exception{{Severity: assuresign.SeverityWarning, Message: "reminder not delivered"}},
	}, time.Date(2024, 3, 1, 12, 0, 30, 250_000_000, time.UTC), time.Hour, 24*time.Hour)
	s.Apply(assuresign.Result{
		ID: docB, RawStatus: "Completed", Status: assuresign.StatusCompleted,
		StatusDate: time.Date(2024, 2, 29, 8, 30, 0, 500_000_000, time.FixedZone("EST", -5*3600)).In(time.UTC),
	}, t0, time.Hour, 24*time.Hour)
	s.Apply(assuresign.Result{ID: docB, Exceptions: []assuresign.Exception{
		{Severity: assuresign.SeverityError, Message: "e"},
		{Severity: assuresign.SeverityFatal, Message: "f"},
		{Severity: assuresign.SeverityFatal, Message: "f"},
		{Severity: assuresign.SeverityUnknown, Message: "u"},
	}}, t0, time.Hour, 24*time.Hour)
	return s
}

// fixedExposition is fixedStore's exposition, byte for byte.
var fixedExposition = strings.NewReplacer("{A}", docA, "{B}", docB, "{C}", docC, "{cached}", cached).Replace(`# HELP assuresign_document_status Document status as a state set: 1 for the current StatusType, 0 for the others.{cached}
# TYPE assuresign_document_status gauge
assuresign_document_status{document_id="{A}",status="Created"} 0
assuresign_document_status{document_id="{A}",status="SigningStepInProgress"} 1
assuresign_document_status{document_id="{A}",status="Completed"} 0
assuresign_document_status{document_id="{A}",status="Expired"} 0
assuresign_document_status{document_id="{A}",status="Declined"} 0
assuresign_document_status{document_id="{A}",status="Cancelled"} 0
assuresign_document_status{document_id="{A}",status="Staled"} 0
assuresign_document_status{document_id="{A}",status="SignerAuthenticationFailed"} 0
assuresign_document_status{document_id="{A}",status="Unknown"} 0
assuresign_document_status{document_id="{B}",status="Created"} 0
assuresign_document_status{document_id="{B}",status="SigningStepInProgress"} 0
assuresign_document_status{document_id="{B}",status="Completed"} 1
assuresign_document_status{document_id="{B}",status="Expired"} 0
assuresign_document_status{document_id="{B}",status="Declined"} 0
assuresign_document_status{document_id="{B}",status="Cancelled"} 0
assuresign_document_status{document_id="{B}",status="Staled"} 0
assuresign_document_status{document_id="{B}",status="SignerAuthenticationFailed"} 0
assuresign_document_status{document_id="{B}",status="Unknown"} 0
assuresign_document_status{document_id="{C}",status="Created"} 0
assuresign_document_status{document_id="{C}",status="SigningStepInProgress"} 0
assuresign_document_status{document_id="{C}",status="Completed"} 0
assuresign_document_status{document_id="{C}",status="Expired"} 0
assuresign_document_status{document_id="{C}",status="Declined"} 0
assuresign_document_status{document_id="{C}",status="Cancelled"} 0
assuresign_document_status{document_id="{C}",status="Staled"} 0
assuresign_document_status{document_id="{C}",status="SignerAuthenticationFailed"} 0
assuresign_document_status{document_id="{C}",status="Unknown"} 1
# HELP assuresign_document_status_timestamp_seconds StatusDate of the document's current status, in Unix seconds.{cached}
# TYPE assuresign_document_status_timestamp_seconds gauge
assuresign_document_status_timestamp_seconds{document_id="{A}"} 1.7092908e+09
assuresign_document_status_timestamp_seconds{document_id="{B}"} 1.7092134005e+09
# HELP assuresign_document_signing_step Signing step number while the document is SigningStepInProgress.{cached}
# TYPE assuresign_document_signing_step gauge
assuresign_document_signing_step{document_id="{A}"} 2
# HELP assuresign_document_exceptions_total StatusCheckException items received for the document, by severity.{cached}
# TYPE assuresign_document_exceptions_total counter
assuresign_document_exceptions_total{document_id="{A}",severity="Warning"} 1
assuresign_document_exceptions_total{document_id="{A}",severity="Error"} 0
assuresign_document_exceptions_total{document_id="{A}",severity="Fatal"} 0
assuresign_document_exceptions_total{document_id="{B}",severity="Warning"} 0
assuresign_document_exceptions_total{document_id="{B}",severity="Error"} 1
assuresign_document_exceptions_total{document_id="{B}",severity="Fatal"} 2
assuresign_document_exceptions_total{document_id="{B}",severity="Unknown"} 1
assuresign_document_exceptions_total{document_id="{C}",severity="Warning"} 0
assuresign_document_exceptions_total{document_id="{C}",severity="Error"} 0
assuresign_document_exceptions_total{document_id="{C}",severity="Fatal"} 0
# HELP assuresign_document_last_check_timestamp_seconds When a CheckStatus result for the document last arrived, in Unix seconds.{cached}
# TYPE assuresign_document_last_check_timestamp_seconds gauge
assuresign_document_last_check_timestamp_seconds{document_id="{A}"} 1.70929443025e+09
assuresign_document_last_check_timestamp_seconds{document_id="{B}"} 1.7092944e+09
# HELP assuresign_document_info Watched document with the labels given in the watch file.{cached}
# TYPE assuresign_document_info gauge
assuresign_document_info{document_id="{A}",customer="acme",note="say \"hi\" \\ C:\\dir\nline 2"} 1
assuresign_document_info{document_id="{B}"} 1
assuresign_document_info{document_id="{C}"} 1
`)

func TestDocumentExpositionIsExact(t *testing.T) {
	h := NewMetricsHandler(fixedStore(), prometheus.NewRegistry(), discardLogger())
	rec := scrape(h, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, contentTypeText, rec.Header().Get("Content-Type"))
	assert.Equal(t, fixedExposition, rec.Body.String())
	// The same as Prometheus reads it (testutil wants the labels sorted, as
	// a registry sorts them).
	sorted := strings.Replace(fixedExposition, `{document_id="`+docA+`",customer="acme",`, `{customer="acme",document_id="`+docA+`",`, 1)
	require.NotEqual(t, fixedExposition, sorted)
	require.NoError(t, testutil.GatherAndCompare(exposition(t, h), strings.NewReader(sorted)))
	problems, err := testutil.GatherAndLint(exposition(t, h))
	require.NoError(t, err)
	assert.Empty(t, problems)
}

// statusStates returns, per document, its status series' values by status.
func statusStates(t *testing.T, g prometheus.Gatherer) map[string]map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	out := map[string]map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "assuresign_document_status" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := labelMap(m)
			if out[labels["document_id"]] == nil {
				out[labels["document_id"]] = map[string]float64{}
			}
			out[labels["document_id"]][labels["status"]] = m.GetGauge().GetValue()
		}
	}
	return out
}

func labelMap(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

// assertStateSets checks that every document has one series per status, and
// exactly one of them is 1; it returns each document's status.
func assertStateSets(t *testing.T, g prometheus.Gatherer) map[string]string {
	t.Helper()
	current := map[string]string{}
	for id, states := range statusStates(t, g) {
		assert.Len(t, states, len(assuresign.Statuses), id)
		for st, v := range states {
			switch v {
			case 1:
				assert.Empty(t, current[id], "%s: a second status is 1: %s", id, st)
				current[id] = st
			case 0:
			default:
				t.Errorf("%s: status %s is %v", id, st, v)
			}
		}
		assert.NotEmpty(t, current[id], "%s: no status is 1", id)
	}
	return current
}

func TestSigningStepOnlyWhileInProgress(t *testing.T) {
	s := fixedStore()
	g := exposition(t, NewMetricsHandler(s, prometheus.NewRegistry(), discardLogger()))
	steps := func() int {
		n, err := testutil.GatherAndCount(g, "assuresign_document_signing_step")
		require.NoError(t, err)
		return n
	}
	require.Equal(t, 1, steps())
	for _, tc := range []struct {
		status assuresign.Status
		step   int
		want   int
	}{
		{assuresign.StatusSignerAuthenticationFailed, 2, 0}, // the simulator keeps the step; the exposition does not
		{assuresign.StatusSigningStepInProgress, 3, 1},
		{assuresign.StatusSigningStepInProgress, 0, 0}, // no StatusDetails
		{assuresign.StatusCompleted, 0, 0},
	} {
		s.Apply(assuresign.Result{ID: docA, RawStatus: tc.status.String(), Status: tc.status, Step: tc.step, StatusDate: t0}, t0, time.Hour, time.Hour)
		assert.Equal(t, tc.want, steps(), "%s step %d", tc.status, tc.step)
		assert.Equal(t, tc.status.String(), assertStateSets(t, g)[docA])
	}
}

func TestDocumentFamiliesSayTheyAreCached(t *testing.T) {
	mfs, err := exposition(t, NewMetricsHandler(fixedStore(), prometheus.NewRegistry(), discardLogger())).Gather()
	require.NoError(t, err)
	require.Len(t, mfs, numFamilies)
	for _, mf := range mfs {
		assert.True(t, strings.HasSuffix(mf.GetHelp(), "Cached from the last background CheckStatus refresh; a scrape never calls AssureSign."), mf.GetName())
	}
}

// fullHandler serves fixedStore with the exporter's own metrics, after a round.
func fullHandler(t *testing.T) (*MetricsHandler, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	store := fixedStore()
	m := NewMetrics(reg, store.Len, 5*time.Minute)
	m.ObserveRequest("ok", 120*time.Millisecond)
	m.ObserveRequest("http_5xx", 3*time.Second)
	r := NewRefresher(RefreshConfig{Interval: 5 * time.Minute, TerminalInterval: time.Hour, BatchSize: 2, Concurrency: 1, Timeout: time.Second},
		store, answerAll(assuresign.StatusCreated, t0), m, discardLogger())
	r.SetClock(testenv.NewClock(t0.Add(time.Hour)).Now)
	r.Round(context.Background(), false)
	return NewMetricsHandler(store, reg, discardLogger()), reg
}

func TestExpositionLintsClean(t *testing.T) {
	h, _ := fullHandler(t)
	problems, err := testutil.GatherAndLint(exposition(t, h))
	require.NoError(t, err)
	assert.Empty(t, problems)
	// Every self-metric is there after the documents.
	require.NoError(t, testutil.GatherAndCompare(exposition(t, h), strings.NewReader(`
# HELP assuresign_watched_documents Documents on the watch list.
# TYPE assuresign_watched_documents gauge
assuresign_watched_documents 3
# HELP assuresign_watchlist_last_reload_successful 1 when the last watch-file load succeeded; on failure the previous list stays in use.
# TYPE assuresign_watchlist_last_reload_successful gauge
assuresign_watchlist_last_reload_successful 0
# HELP assuresign_refresh_interval_seconds The configured interval between scheduled refresh rounds.
# TYPE assuresign_refresh_interval_seconds gauge
assuresign_refresh_interval_seconds 300
# HELP assuresign_up 1 when the last refresh round reached AssureSign and got valid answers for every document it asked about.
# TYPE assuresign_up gauge
assuresign_up 1
# HELP assuresign_last_refresh_success_timestamp_seconds When a scheduled refresh round last completed without any failure, in Unix seconds.
# TYPE assuresign_last_refresh_success_timestamp_seconds gauge
assuresign_last_refresh_success_timestamp_seconds 1.709298e+09
`), "assuresign_watched_documents", "assuresign_watchlist_last_reload_successful", "assuresign_refresh_interval_seconds", "assuresign_up", "assuresign_last_refresh_success_timestamp_seconds"))
	n, err := testutil.GatherAndCount(exposition(t, h), "assuresign_api_requests_total", "assuresign_api_request_duration_seconds", "assuresign_document_results_total")
	require.NoError(t, err)
	assert.Equal(t, len(assuresign.Outcomes)+1+3, n)
}

func TestContentNegotiation(t *testing.T) {
	h, _ := fullHandler(t)
	const prometheusAccept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
	for _, tc := range []struct {
		name, accept string
		openMetrics  bool
	}{
		{"none", "", false},
		{"text", "text/plain;version=0.0.4", false},
		{"anything", "*/*", false},
		{"OpenMetrics", "application/openmetrics-text;version=1.0.0", true},
		{"as Prometheus asks", prometheusAccept, true},
		{"OpenMetrics 2.0 is not offered", "application/openmetrics-text;version=2.0.0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := http.Header{}
			if tc.accept != "" {
				hdr.Set("Accept", tc.accept)
			}
			rec := scrape(h, hdr)
			require.Equal(t, http.StatusOK, rec.Code)
			text := rec.Body.String()
			if !tc.openMetrics {
				assert.Equal(t, contentTypeText, rec.Header().Get("Content-Type"))
				assert.NotContains(t, text, "# EOF")
				assert.Contains(t, text, "# TYPE assuresign_document_exceptions_total counter\n")
				_, err := parseText(text)
				assert.NoError(t, err)
				return
			}
			assert.Equal(t, "application/openmetrics-text; version=1.0.0; charset=utf-8", rec.Header().Get("Content-Type"))
			assert.True(t, strings.HasSuffix(text, "\n# EOF\n"), "ends with # EOF")
			assert.Contains(t, text, "# TYPE assuresign_document_exceptions counter\n")
			assert.NotContains(t, text, "# TYPE assuresign_document_exceptions_total")
			assert.Contains(t, text, "\nassuresign_document_exceptions_total{document_id=\""+docB+"\",severity=\"Fatal\"} 2\n")
			assert.Contains(t, text, "# TYPE assuresign_api_requests counter\n")
			assert.Contains(t, text, "\nassuresign_document_info{document_id=\""+docA+"\",customer=\"acme\",note=\"say \\\"hi\\\" \\\\ C:\\\\dir\\nline 2\"} 1\n")
			assert.NoError(t, checkOpenMetrics(text))
		})
	}
}

// TestOpenMetricsCheckerRejects shows checkOpenMetrics is strict enough to trust.
func TestOpenMetricsCheckerRejects(t *testing.T) {
	good := "# HELP a_total A.\n# TYPE a counter\na_total{x=\"1\"} 1\n# TYPE b gauge\nb 2.5e+09\n# EOF\n"
	require.NoError(t, checkOpenMetrics(strings.Replace(good, "a_total A", "a A", 1)))
	for name, bad := range map[string]string{
		"no EOF":                  strings.TrimSuffix(good, "# EOF\n"),
		"text after EOF":          good + "b 1\n",
		"counter named _total":    strings.Replace(good, "# TYPE a counter", "# TYPE a_total counter", 1),
		"counter sample no suf":   strings.Replace(good, "a_total{", "a{", 1),
		"interleaved families":    strings.Replace(good, "# EOF\n", "a_total{x=\"2\"} 1\n# EOF\n", 1),
		"duplicate series":        strings.Replace(good, "b 2.5e+09\n", "b 2.5e+09\nb 3\n", 1),
		"raw quote in value":      strings.Replace(good, `x="1"`, `x="1"2"`, 1),
		"bad escape":              strings.Replace(good, `x="1"`, `x="\t"`, 1),
		"repeated label":          strings.Replace(good, `x="1"`, `x="1",x="2"`, 1),
		"empty line":              strings.Replace(good, "# TYPE b", "\n# TYPE b", 1),
		"bad number":              strings.Replace(good, "2.5e+09", "2,5", 1),
		"negative counter":        strings.Replace(good, "a_total{x=\"1\"} 1", "a_total{x=\"1\"} -1", 1),
		"descriptor after sample": strings.Replace(good, "b 2.5e+09\n", "b 2.5e+09\n# HELP b B.\n", 1),
	} {
		assert.Error(t, checkOpenMetrics(bad), name)
	}
}

func TestGzip(t *testing.T) {
	h, _ := fullHandler(t)
	plain := scrape(h, nil)
	require.Empty(t, plain.Header().Get("Content-Encoding"))
	for _, tc := range []struct {
		acceptEncoding string
		gzip           bool
	}{
		{"gzip", true},
		{"deflate, gzip;q=0.5, br", true},
		{"GZIP", true},
		{"gzip;q=0", false},
		{"gzip; q=0.000", false},
		{"identity", false},
		{"", false},
	} {
		for _, accept := range []string{"", "application/openmetrics-text;version=1.0.0"} {
			rec := scrape(h, http.Header{"Accept-Encoding": {tc.acceptEncoding}, "Accept": {accept}})
			require.Equal(t, http.StatusOK, rec.Code)
			assert.Contains(t, rec.Header().Values("Vary"), "Accept-Encoding")
			if !tc.gzip {
				assert.Empty(t, rec.Header().Get("Content-Encoding"), tc.acceptEncoding)
				continue
			}
			require.Equal(t, "gzip", rec.Header().Get("Content-Encoding"), tc.acceptEncoding)
			text := body(t, rec) // gunzips
			if accept == "" {
				// Only the histogram and counters could differ: nothing ran between.
				assert.Equal(t, plain.Body.String(), text)
			} else {
				assert.NoError(t, checkOpenMetrics(text))
			}
		}
	}
}

func TestGathererErrorIs500(t *testing.T) {
	logger, logs := debugLogger()
	h := NewMetricsHandler(fixedStore(), prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		return nil, errors.New("collector exploded")
	}), logger)
	for _, enc := range []string{"", "gzip"} {
		rec := scrape(h, http.Header{"Accept-Encoding": {enc}})
		assert.Equal(t, http.StatusInternalServerError, rec.Code)
		assert.Empty(t, rec.Header().Get("Content-Encoding"))
		assert.NotContains(t, rec.Body.String(), "assuresign_document")
	}
	assert.Contains(t, logs.String(), "collector exploded")
}

// TestScrapeDuringRefresh scrapes while results and reloads land, for the
// race detector, and checks every scrape is a consistent exposition.
func TestScrapeDuringRefresh(t *testing.T) {
	s := NewStore()
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = testGUID(0x5C4A, i)
	}
	s.SetWatchList(watchList(ids...))
	h := NewMetricsHandler(s, prometheus.NewRegistry(), discardLogger())
	g := exposition(t, h)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			st := assuresign.Statuses[i%len(assuresign.Statuses)]
			s.Apply(assuresign.Result{ID: ids[i%len(ids)], RawStatus: st.String(), Status: st, Step: i % 4, StatusDate: t0}, t0, time.Hour, time.Hour)
			if i%200 == 0 {
				s.SetWatchList(watchList(ids[:len(ids)-i/200%5]...))
			}
			runtime.Gosched()
		}
	}()
	defer func() {
		close(stop)
		<-stopped
	}()
	for range 20 {
		states := assertStateSets(t, g)
		assert.GreaterOrEqual(t, len(states), len(ids)-4)
		for _, gz := range []string{"", "gzip"} {
			rec := scrape(h, http.Header{"Accept": {"application/openmetrics-text;version=1.0.0"}, "Accept-Encoding": {gz}})
			require.NoError(t, checkOpenMetrics(body(t, rec)))
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for v, want := range map[string]bool{
		"gzip": true, "x-gzip": false, "gzip;q=1": true, "gzip;q=0.5": true, " gzip ; q=0 ": false,
		"br, gzip": true, "*": false, "": false, "gzip;q=0.0": false,
	} {
		assert.Equal(t, want, acceptsGzip(v), fmt.Sprintf("%q", v))
	}
}

// A body of many gzip blocks, compressed in parallel, must be one valid gzip
// member that decompresses to exactly the plain body.
func TestGzipManyBlocks(t *testing.T) {
	ids := make([]string, 3000) // about 4.8 MB: nineteen 256 KiB blocks
	for i := range ids {
		ids[i] = testGUID(0xB10C, i)
	}
	store := NewStore()
	store.SetWatchList(watchList(ids...))
	h := NewMetricsHandler(store, prometheus.NewRegistry(), discardLogger())
	plain := scrape(h, nil).Body.String()
	require.Greater(t, len(plain), 8*gzipBlockSize)

	zipped := scrape(h, http.Header{"Accept-Encoding": {"gzip"}})
	require.Equal(t, "gzip", zipped.Header().Get("Content-Encoding"))
	raw := bytes.NewReader(zipped.Body.Bytes())
	zr, err := gzip.NewReader(raw)
	require.NoError(t, err)
	zr.Multistream(false) // one member, not several glued together
	got, err := io.ReadAll(zr)
	require.NoError(t, err) // also checks the trailer's CRC-32 and length
	require.Equal(t, plain, string(got))
	require.Zero(t, raw.Len(), "bytes after the gzip member")
}

// failingWriter is a client that goes away after limit bytes.
type failingWriter struct {
	header http.Header
	limit  int
	wrote  int
}

func (w *failingWriter) Header() http.Header { return w.header }
func (w *failingWriter) WriteHeader(int)     {}
func (w *failingWriter) Write(p []byte) (int, error) {
	if w.wrote+len(p) > w.limit {
		return 0, errors.New("connection reset by peer")
	}
	w.wrote += len(p)
	return len(p), nil
}

// A scraper that disconnects mid-answer ends the handler promptly, with no
// write after it returns (the race detector and goleak watch that).
func TestScrapeClientGoesAway(t *testing.T) {
	ids := make([]string, 3000)
	for i := range ids {
		ids[i] = testGUID(0xD15C, i)
	}
	store := NewStore()
	store.SetWatchList(watchList(ids...))
	h := NewMetricsHandler(store, prometheus.NewRegistry(), discardLogger())
	for _, enc := range []string{"", "gzip"} {
		for _, limit := range []int{0, 100, gzipBlockSize / 2, 3 * gzipBlockSize} {
			w := &failingWriter{header: http.Header{}, limit: limit}
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept-Encoding", enc)
			done := make(chan struct{})
			go func() { h.ServeHTTP(w, req); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("handler still running 10s after the client went away (encoding %q, limit %d)", enc, limit)
			}
			assert.LessOrEqual(t, w.wrote, limit)
		}
	}
}

// Scrapes beyond maxScrapesInFlight wait for a slot instead of rendering at
// once, and a queued scraper that gives up leaves without an answer.
func TestScrapesInFlightAreBounded(t *testing.T) {
	var mu sync.Mutex
	inside, most := 0, 0
	release := make(chan struct{})
	gatherer := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mu.Lock()
		inside++
		most = max(most, inside)
		mu.Unlock()
		<-release
		mu.Lock()
		inside--
		mu.Unlock()
		return nil, nil
	})
	h := NewMetricsHandler(fixedStore(), gatherer, discardLogger())
	var wg sync.WaitGroup
	for range 3 * maxScrapesInFlight {
		wg.Go(func() { scrape(h, nil) })
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return inside == maxScrapesInFlight }, 5*time.Second, time.Millisecond)

	ctx, cancel := context.WithCancel(context.Background())
	queued := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		h.ServeHTTP(queued, httptest.NewRequest(http.MethodGet, "/metrics", nil).WithContext(ctx))
		close(done)
	}()
	cancel()
	<-done
	assert.Empty(t, queued.Body.String())

	close(release)
	wg.Wait()
	assert.Equal(t, maxScrapesInFlight, most)
}
