package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/internal/storetest"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/refresh"
	"github.com/assuresign-exporter/assuresign_exporter/upstream/upstreamtest"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// fullHandler serves fixedDocs after a round that ended at testenv.T0+1h (see
// fullAnswers), with the exporter's own metrics, two requests observed and
// the watch file's reload metrics (no load yet).
func fullHandler(t *testing.T) (http.Handler, *prometheus.Registry) {
	t.Helper()
	fx := newFixture(t, fixtureOptions{docs: fixedDocs(), answers: fullAnswers()})
	fx.metrics.ObserveRequest(assuresign.OpCheckStatus, "ok", 120*time.Millisecond)
	fx.metrics.ObserveRequest(assuresign.OpCheckStatus, "http_5xx", 3*time.Second)
	watchlist.NewFile("watch.yml", 0, false, fx.reg, testenv.DiscardLogger())
	return fx.handler, fx.reg
}

func TestExpositionLintsClean(t *testing.T) {
	h, _ := fullHandler(t)
	problems, err := testutil.GatherAndLint(scraped(t, h))
	require.NoError(t, err)
	assert.Empty(t, problems)
	// Every self-metric is there after the documents.
	require.NoError(t, testutil.GatherAndCompare(scraped(t, h), strings.NewReader(`
# HELP assuresign_watched_documents Documents this exporter watches: the watch list's, or with --total-shards above 1 this shard's share of them.
# TYPE assuresign_watched_documents gauge
assuresign_watched_documents 3
# HELP assuresign_watchlist_last_reload_successful 1 when the last watch-file load succeeded; on failure the previous list stays in use.
# TYPE assuresign_watchlist_last_reload_successful gauge
assuresign_watchlist_last_reload_successful 0
# HELP assuresign_refresh_interval_seconds The configured interval between scheduled refresh rounds.
# TYPE assuresign_refresh_interval_seconds gauge
assuresign_refresh_interval_seconds 300
# HELP assuresign_up 1 when every request of the last scheduled refresh round got a well-formed answer from AssureSign; a document answered without a status does not lower it (see assuresign_document_check_success).
# TYPE assuresign_up gauge
assuresign_up 1
# HELP assuresign_last_refresh_success_timestamp_seconds When a scheduled refresh round last completed without any failure, in Unix seconds.
# TYPE assuresign_last_refresh_success_timestamp_seconds gauge
assuresign_last_refresh_success_timestamp_seconds 1.709298e+09
`), "assuresign_watched_documents", "assuresign_watchlist_last_reload_successful", "assuresign_refresh_interval_seconds", "assuresign_up", "assuresign_last_refresh_success_timestamp_seconds"))
	n, err := testutil.GatherAndCount(scraped(t, h), "assuresign_api_requests_total", "assuresign_api_request_duration_seconds", "assuresign_document_results_total")
	require.NoError(t, err)
	assert.Equal(t, 2*(len(assuresign.Outcomes)+1)+4, n, "two operations: check_status and list_envelope_documents")
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
				_, err := testenv.ParseText(text)
				assert.NoError(t, err)
				return
			}
			assert.Equal(t, "application/openmetrics-text; version=1.0.0; charset=utf-8", rec.Header().Get("Content-Type"))
			assert.True(t, strings.HasSuffix(text, "\n# EOF\n"), "ends with # EOF")
			assert.Contains(t, text, "# TYPE assuresign_document_exceptions counter\n")
			assert.NotContains(t, text, "# TYPE assuresign_document_exceptions_total")
			assert.Contains(t, text, "\nassuresign_document_exceptions_total{document_id=\""+testenv.DocB+"\",severity=\"Fatal\"} 2\n")
			assert.Contains(t, text, "# TYPE assuresign_api_requests counter\n")
			assert.Contains(t, text, "\nassuresign_document_info{document_id=\""+testenv.DocA+"\",customer=\"acme\",note=\"say \\\"hi\\\" \\\\ C:\\\\dir\\nline 2\"} 1\n")
			assert.NoError(t, testenv.CheckOpenMetrics(text))
		})
	}
}

// TestOpenMetricsCheckerRejects shows testenv.CheckOpenMetrics is strict
// enough to trust.
func TestOpenMetricsCheckerRejects(t *testing.T) {
	good := "# HELP a_total A.\n# TYPE a counter\na_total{x=\"1\"} 1\n# TYPE b gauge\nb 2.5e+09\n# EOF\n"
	require.NoError(t, testenv.CheckOpenMetrics(strings.Replace(good, "a_total A", "a A", 1)))
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
		assert.Error(t, testenv.CheckOpenMetrics(bad), name)
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
				assert.NoError(t, testenv.CheckOpenMetrics(text))
			}
		}
	}
}

func TestGathererErrorIs500(t *testing.T) {
	fx := newFixture(t, fixtureOptions{docs: fixedDocs(), answers: fixedAnswers(), gatherer: prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		return nil, errors.New("collector exploded")
	})})
	for _, enc := range []string{"", "gzip"} {
		rec := scrape(fx.handler, http.Header{"Accept-Encoding": {enc}})
		assert.Equal(t, http.StatusInternalServerError, rec.Code)
		assert.Empty(t, rec.Header().Get("Content-Encoding"))
		assert.NotContains(t, rec.Body.String(), "assuresign_document")
	}
	assert.Contains(t, fx.logs.String(), "collector exploded")
}

// A gzip scrape gathers the exporter's own metrics while the documents are
// written; when gathering fails after bytes went out, the body ends without
// them, so an OpenMetrics scrape lacks "# EOF" and the scraper rejects it. A
// plain scrape knows them before its first byte (its length goes in the
// header), so it is a 500.
func TestGathererErrorAfterTheDocumentsEndsTheBody(t *testing.T) {
	ids := make([]string, 3000) // more than the writer holds back
	for i := range ids {
		ids[i] = testenv.GUID(0x6A7E, i)
	}
	store := collector.NewStore(collector.StoreConfig{})
	store.SetWatchList(storetest.WatchList(ids...))
	logger, logs := testenv.DebugLogger()
	h := newHandler(t, store, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		return nil, errors.New("collector exploded")
	}), logger)
	rec := scrape(h, http.Header{"Accept": {"application/openmetrics-text;version=1.0.0"}, "Accept-Encoding": {"gzip"}})
	assert.Equal(t, http.StatusOK, rec.Code, "too late for a 500")
	zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
	require.NoError(t, err)
	b, err := io.ReadAll(zr)
	assert.Error(t, err, "the gzip member is cut short")
	text := string(b)
	assert.Contains(t, text, "assuresign_document_info")
	assert.False(t, strings.HasSuffix(text, "# EOF\n"), "no # EOF: the scrape is seen to fail")
	assert.Error(t, testenv.CheckOpenMetrics(text))
	assert.Contains(t, logs.String(), "collector exploded")

	rec = scrape(h, http.Header{"Accept": {"application/openmetrics-text;version=1.0.0"}})
	assert.Equal(t, http.StatusInternalServerError, rec.Code, "a plain scrape fails before its first byte")
	assert.NotContains(t, rec.Body.String(), "assuresign_document")
}

// A plain scrape says its length, so the body goes out unchunked.
func TestPlainScrapeHasItsLength(t *testing.T) {
	h, _ := fullHandler(t)
	for _, accept := range []string{"", "application/openmetrics-text;version=1.0.0"} {
		rec := scrape(h, http.Header{"Accept": {accept}})
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, strconv.Itoa(rec.Body.Len()), rec.Header().Get("Content-Length"), accept)
	}
}

// TestScrapeDuringRefresh scrapes while results and reloads land, for the
// race detector, and checks every scrape is a consistent exposition.
func TestScrapeDuringRefresh(t *testing.T) {
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = testenv.GUID(0x5C4A, i)
	}
	// Every answer moves the document on, through every status and step.
	var answers atomic.Int64
	fx := newFixture(t, fixtureOptions{
		docs: storetest.WatchList(ids...),
		cfg:  refresh.Config{BatchSize: 7, Concurrency: 2, Coalesce: time.Millisecond},
		checker: upstreamtest.CheckFunc(func(_ context.Context, checks []assuresign.Check) ([]assuresign.Result, error) {
			out := make([]assuresign.Result, len(checks))
			for i, c := range checks {
				n := int(answers.Add(1))
				st := assuresign.Statuses[n%len(assuresign.Statuses)]
				out[i] = assuresign.Result{ID: c.ID, RawStatus: st.String(), Status: st, Step: n % 4, StatusDate: testenv.T0}
			}
			return out, nil
		}),
	})
	h := fx.handler
	g := scraped(t, h)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// A notification: an urgent check, answered moments later.
			fx.refresher.CheckNow(ids[i%len(ids)], testenv.T0)
			if i%200 == 0 {
				fx.refresher.SetWatchList(storetest.WatchList(ids[:len(ids)-i/200%5]...))
			}
			runtime.Gosched()
		}
	}()
	defer func() {
		close(stop)
		<-stopped
	}()
	before := answers.Load()
	for range 20 {
		states := testenv.AssertStateSets(t, g)
		assert.GreaterOrEqual(t, len(states), len(ids)-4)
		for _, gz := range []string{"", "gzip"} {
			rec := scrape(h, http.Header{"Accept": {"application/openmetrics-text;version=1.0.0"}, "Accept-Encoding": {gz}})
			require.NoError(t, testenv.CheckOpenMetrics(body(t, rec)))
		}
	}
	// Results did land while the scrapes ran.
	require.Eventually(t, func() bool { return answers.Load() > before }, 10*time.Second, time.Millisecond)
}

func TestAcceptsGzip(t *testing.T) {
	for v, want := range map[string]bool{
		"gzip": true, "x-gzip": false, "gzip;q=1": true, "gzip;q=0.5": true, " gzip ; q=0 ": false,
		"br, gzip": true, "*": false, "": false, "gzip;q=0.0": false,
	} {
		assert.Equal(t, want, acceptsGzip(v), fmt.Sprintf("%q", v))
	}
}

// A body of many stored segments and a tail compressed per scrape must be one
// valid gzip member that decompresses to exactly the plain body.
func TestGzipManySegments(t *testing.T) {
	ids := make([]string, 3000) // twelve chunks of documents, six families each
	for i := range ids {
		ids[i] = testenv.GUID(0xB10C, i)
	}
	store := collector.NewStore(collector.StoreConfig{})
	store.SetWatchList(storetest.WatchList(ids...))
	h := newHandler(t, store, prometheus.NewRegistry(), testenv.DiscardLogger())
	plain := scrape(h, nil).Body.String()

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
		ids[i] = testenv.GUID(0xD15C, i)
	}
	store := collector.NewStore(collector.StoreConfig{})
	store.SetWatchList(storetest.WatchList(ids...))
	h := newHandler(t, store, prometheus.NewRegistry(), testenv.DiscardLogger())
	for _, enc := range []string{"", "gzip"} {
		for _, limit := range []int{0, 100, 128 << 10, 768 << 10} {
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

// Scrapers that never read their answer must not hold up anyone else: a
// scrape writes stored bytes and needs no shared slot while it writes. Before
// bodies were stored, four such clients held every rendering slot for the
// whole write timeout.
func TestSlowReadersDoNotBlockScrapes(t *testing.T) {
	ids := make([]string, 10000) // about 16 MB plain: more than loopback's socket buffers
	for i := range ids {
		ids[i] = testenv.GUID(0x510E, i)
	}
	store := collector.NewStore(collector.StoreConfig{})
	store.SetWatchList(storetest.WatchList(ids...))
	srv := httptest.NewServer(newHandler(t, store, prometheus.NewRegistry(), testenv.DiscardLogger()))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for range 8 {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		_, err = io.WriteString(conn, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n") // no Accept-Encoding, never read
		require.NoError(t, err)
	}
	// Let the eight fill their socket buffers and block in Write.
	time.Sleep(500 * time.Millisecond)
	client := &http.Client{Timeout: 20 * time.Second}
	for _, enc := range []string{"gzip", ""} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
		require.NoError(t, err)
		req.Header.Set("Accept-Encoding", enc)
		res, err := client.Do(req)
		require.NoError(t, err, "a normal scrape is answered while eight clients do not read")
		_, err = io.Copy(io.Discard, res.Body)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
	}
}

// The runtime's and the process's metrics are gathered at most once a
// second per format and reused; the exporter's own are gathered every
// scrape, so a change shows at once, plain and gzipped alike.
func TestRuntimeMetricsAreReusedForASecond(t *testing.T) {
	var gathers atomic.Int64
	count := prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_runtime_gathers", Help: "Gathers so far."})
	counted := prometheus.NewRegistry()
	counted.MustRegister(count)
	rt := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		count.Set(float64(gathers.Add(1)))
		return counted.Gather()
	})
	fx := newFixture(t, fixtureOptions{docs: fixedDocs(), answers: fixedAnswers(), runtime: rt})
	own := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_own_events_total", Help: "Events."})
	fx.reg.MustRegister(own)
	text := func(gz bool) string {
		h := http.Header{}
		if gz {
			h.Set("Accept-Encoding", "gzip")
		}
		rec := scrape(fx.handler, h)
		require.Equal(t, http.StatusOK, rec.Code)
		return body(t, rec)
	}

	for i := range 3 {
		own.Inc()
		for _, gz := range []bool{false, true} {
			b := text(gz)
			assert.Contains(t, b, "\ntest_runtime_gathers 1\n", "reused within the second")
			assert.Contains(t, b, fmt.Sprintf("\ntest_own_events_total %d\n", i+1), "the exporter's own metrics are fresh, gzip %t", gz)
		}
	}
	assert.Equal(t, int64(1), gathers.Load())
	rec := scrape(fx.handler, http.Header{"Accept": {"application/openmetrics-text;version=1.0.0"}})
	require.NoError(t, testenv.CheckOpenMetrics(body(t, rec)))
	assert.Equal(t, int64(2), gathers.Load(), "OpenMetrics has a copy of its own")

	fx.clock.Set(testenv.T0.Add(RuntimeMetricsMaxAge))
	assert.Contains(t, text(true), "\ntest_runtime_gathers 3\n", "a second later: gathered again")
	assert.Equal(t, text(false), text(true), "gzip and plain carry the same bytes")
}

// The envelopes' families change only when the refresher publishes them:
// a scrape reuses their encoding until then, so its work does not grow with
// the envelopes' documents.
func TestEnvelopeMetricsAreEncodedOncePerPublish(t *testing.T) {
	var gathers atomic.Int64
	var generation atomic.Uint64
	count := prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_envelope_gathers", Help: "Gathers so far."})
	counted := prometheus.NewRegistry()
	counted.MustRegister(count)
	envelopes := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		count.Set(float64(gathers.Add(1)))
		return counted.Gather()
	})
	fx := newFixture(t, fixtureOptions{docs: fixedDocs(), answers: fixedAnswers(), envelopes: envelopes, envelopesGen: generation.Load})
	text := func(gz bool) string {
		h := http.Header{}
		if gz {
			h.Set("Accept-Encoding", "gzip")
		}
		rec := scrape(fx.handler, h)
		require.Equal(t, http.StatusOK, rec.Code)
		return body(t, rec)
	}
	for range 3 {
		for _, gz := range []bool{false, true} {
			assert.Contains(t, text(gz), "\ntest_envelope_gathers 1\n", "reused while unpublished, gzip %t", gz)
		}
	}
	assert.Equal(t, int64(1), gathers.Load())

	generation.Add(1)
	assert.Contains(t, text(true), "\ntest_envelope_gathers 2\n", "encoded again after a publish")
	assert.Equal(t, text(false), text(true), "gzip and plain carry the same bytes")
	rec := scrape(fx.handler, http.Header{"Accept": {"application/openmetrics-text;version=1.0.0"}})
	require.NoError(t, testenv.CheckOpenMetrics(body(t, rec)))
}

// recordingWriter keeps the size of every write.
type recordingWriter struct {
	bytes.Buffer
	writes []int
}

func (r *recordingWriter) Write(p []byte) (int, error) {
	r.writes = append(r.writes, len(p))
	return r.Buffer.Write(p)
}

// Small writes go out together; a large one goes straight through, after
// what was gathered before it, so the order holds.
func TestBatchWriter(t *testing.T) {
	var out recordingWriter
	b := &batchWriter{w: &out, buf: make([]byte, 0, 64<<10)}
	small, large := bytes.Repeat([]byte("s"), 1000), bytes.Repeat([]byte("L"), straight)
	var want bytes.Buffer
	for _, p := range [][]byte{small, small, large, small, large, large} {
		n, err := b.Write(p)
		require.NoError(t, err)
		require.Equal(t, len(p), n)
		want.Write(p)
	}
	for range 70 { // more than the batch holds
		_, err := b.Write(small)
		require.NoError(t, err)
		want.Write(small)
	}
	require.NoError(t, b.Flush())
	assert.Equal(t, want.Bytes(), out.Bytes())
	assert.Equal(t, []int{2000, straight, 1000, straight, straight, 65000, 5000}, out.writes)
}

// discardWriter is a ResponseWriter that keeps nothing, so only the
// handler's own allocations are counted.
type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// Between rounds, a gzip scrape's work does not grow with the documents: it
// writes stored bytes. What it allocates at 5,000 documents is what it
// allocates at 500 (the concatenation of the stored segments is made once,
// at the first scrape).
func TestGzipScrapeWorkIsIndependentOfDocuments(t *testing.T) {
	perScrape := func(n int) (allocs, bytes float64) {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = testenv.GUID(0xA110, i)
		}
		store := collector.NewStore(collector.StoreConfig{})
		store.SetWatchList(storetest.WatchList(ids...))
		h := newHandler(t, store, prometheus.NewRegistry(), testenv.DiscardLogger())
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		a, b := allocated(func() { h.ServeHTTP(&discardWriter{header: http.Header{}}, req) })
		return float64(a), float64(b)
	}
	smallAllocs, smallBytes := perScrape(500)
	largeAllocs, largeBytes := perScrape(5000)
	assert.InDelta(t, smallAllocs, largeAllocs, 5, "allocations a scrape")
	assert.InDelta(t, smallBytes, largeBytes, 8<<10, "bytes allocated a scrape: %.0f at 500 documents, %.0f at 5,000", smallBytes, largeBytes)
}

// A scrape's own work, beyond gathering the exporter's own metrics (kept
// fresh every scrape), does not grow with them: they are encoded into a
// buffer kept for it and copied only when they changed.
func TestScrapeEncodesOwnMetricsIntoAKeptBuffer(t *testing.T) {
	// Beyond gathering, bytes allocated a gzip scrape, and the size of
	// the own metrics encoded, with labels of length labelLen.
	extraBytes := func(labelLen int) (extra, encoded uint64) {
		own := prometheus.NewRegistry()
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "assuresign_test_gauge", Help: "A gauge with long labels."}, []string{"name"})
		own.MustRegister(g)
		for i := range 300 {
			g.WithLabelValues(fmt.Sprintf("%0*d", labelLen, i)).Set(float64(i))
		}
		store := collector.NewStore(collector.StoreConfig{})
		store.SetWatchList(storetest.WatchList(testenv.GUID(0xA110, 1)))
		h := newHandler(t, store, own, testenv.DiscardLogger())
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		_, scrapeBytes := allocated(func() { h.ServeHTTP(&discardWriter{header: http.Header{}}, req) })
		_, gatherBytes := allocated(func() { _, _ = own.Gather() })
		return scrapeBytes - min(gatherBytes, scrapeBytes), uint64(len(testenv.GatherText(t, own)))
	}
	short, shortEncoded := extraBytes(10)
	long, longEncoded := extraBytes(1000)
	t.Logf("beyond gathering, a scrape allocates %d bytes with %d bytes of own metrics, %d with %d", short, shortEncoded, long, longEncoded)
	assert.Less(t, long, short+(longEncoded-shortEncoded)/4, "bytes allocated a scrape beyond gathering grow with the own metrics' size")
}

// Prometheus sends the same Accept header every scrape: it is parsed once.
func TestScrapeNegotiatesPrometheusAcceptOnce(t *testing.T) {
	store := collector.NewStore(collector.StoreConfig{})
	store.SetWatchList(storetest.WatchList(testenv.GUID(0xA110, 1)))
	h := newHandler(t, store, prometheus.NewRegistry(), testenv.DiscardLogger())
	allocs := func(accept string) float64 {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept", accept)
		req.Header.Set("Accept-Encoding", "gzip")
		return testing.AllocsPerRun(50, func() { h.ServeHTTP(&discardWriter{header: http.Header{}}, req) })
	}
	prom := "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=underscores;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
	// The same choice among ten more alternatives: parsed at each scrape,
	// every alternative would cost allocations.
	longer := prom + strings.Repeat(",application/x-other;q=0.01", 10)
	promAllocs, longerAllocs := allocs(prom), allocs(longer)
	assert.InDelta(t, promAllocs, longerAllocs, 2, "allocations a scrape: %v with Prometheus's Accept header, %v with ten more alternatives", promAllocs, longerAllocs)
}

// allocated is what f allocates a run, after a first run: allocations and
// bytes.
func allocated(f func()) (allocs, allocatedBytes uint64) {
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 20
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.Mallocs - before.Mallocs) / runs, (after.TotalAlloc - before.TotalAlloc) / runs
}
