package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/refresh"
	"github.com/assuresign-exporter/assuresign_exporter/upstream/upstreamtest"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// benchHandler serves n documents with two labels each, spread over the
// statuses, a quarter with an exception, all checked, with the exporter's own
// metrics.
func benchHandler(b *testing.B, n int) http.Handler {
	wl, index := labelledDocs(n, 0xBE4C)
	answer := upstreamtest.CheckFunc(func(_ context.Context, checks []assuresign.Check) ([]assuresign.Result, error) {
		out := make([]assuresign.Result, len(checks))
		for k, c := range checks {
			i := index[c.ID]
			st := assuresign.Statuses[i%len(assuresign.Statuses)]
			out[k] = assuresign.Result{ID: c.ID, RawStatus: st.String(), Status: st, StatusDate: testenv.T0.Add(-time.Duration(i) * time.Minute), Step: 1 + i%3}
			if i%4 == 0 {
				out[k].Exceptions = []assuresign.Exception{{Severity: assuresign.SeverityWarning, Message: "w"}}
			}
		}
		return out, nil
	})
	// The binary's runtime collectors too, as main wires them.
	runtime := prometheus.NewRegistry()
	runtime.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	fx := newFixture(b, fixtureOptions{docs: wl, checker: answer, cfg: refresh.Config{BatchSize: 500, Concurrency: 4}, runtime: runtime})
	if docs, _ := fx.store.Snapshot(1); len(docs) == 0 || docs[0].LastCheck.IsZero() {
		b.Fatal("the first round left documents unchecked")
	}
	return fx.handler
}

// labelledDocs is a watch list of n documents, with ids prefixed by prefix,
// each labelled with a customer and a team, and each id's position.
func labelledDocs(n int, prefix uint32) (*watchlist.List, map[string]int) {
	wl := &watchlist.List{LabelNames: []string{"customer", "team"}}
	customers := []string{"acme", "globex", "initech", "umbrella"}
	index := make(map[string]int, n)
	for i := range n {
		id := testenv.GUID(prefix, i)
		index[id] = i
		wl.Documents = append(wl.Documents, watchlist.Entry{
			ID: id, AuthToken: testenv.GUID(0x70CE, i),
			Labels: map[string]string{"customer": customers[i%len(customers)], "team": fmt.Sprintf("team-%d", i%7)},
		})
	}
	return wl, index
}

// BenchmarkScrape serves /metrics for 1k and 10k documents, plain and
// gzipped, with the exporter's own metrics, and reports the bytes sent.
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		for _, gz := range []bool{false, true} {
			b.Run(fmt.Sprintf("docs=%d/gzip=%t", n, gz), func(b *testing.B) {
				h := benchHandler(b, n)
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
				if gz {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				buf := make([]byte, 0, 32<<20)
				var sent int
				b.ReportAllocs()
				for b.Loop() {
					rec := httptest.NewRecorder()
					rec.Body = bytes.NewBuffer(buf[:0]) // reuse: measure the handler, not the recorder
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("HTTP %d", rec.Code)
					}
					sent = rec.Body.Len()
				}
				b.ReportMetric(float64(sent), "bytes/scrape")
			})
		}
	}
}

// BenchmarkNotificationToMetrics measures the DocumentTRAK promise (a status
// change is in /metrics within a second of its notification) on the real
// path: a notification POSTed to server.New's handler, the refresher's
// coalescing wait, a CheckStatus request to the simulator over loopback HTTP
// and /metrics polled until the new status shows. It reports
// seconds/notification; the refresh interval is an hour, so only the
// notification can bring the change.
func BenchmarkNotificationToMetrics(b *testing.B) {
	e := dtStart(b, dtOptions{docs: 3})
	id := dtDocID(1)
	statuses := []assuresign.Status{assuresign.StatusDeclined, assuresign.StatusSigningStepInProgress}
	var total time.Duration
	n := 0
	for b.Loop() {
		to := statuses[n%len(statuses)]
		n++
		e.setStatus(1, to)
		want := dtStatusLine(id, to, 1)
		start := time.Now()
		e.mustPost("application/json", `{"documentId":"`+id+`"}`)
		for !e.has(want) {
			if time.Since(start) > dtPatience {
				b.Fatalf("%s not in /metrics %s after the notification", to, dtPatience)
			}
			time.Sleep(time.Millisecond)
		}
		total += time.Since(start)
	}
	b.ReportMetric(total.Seconds()/float64(n), "seconds/notification")
}

// BenchmarkLandingPage serves the landing page at 100,000 documents (a
// quarter of them problems), plain and with a search, beside a gzipped scrape
// of the same documents: the page must cost no more than a scrape.
func BenchmarkLandingPage(b *testing.B) {
	const n = 100_000
	h := benchHandler(b, n)
	for _, tc := range []struct{ name, path, encoding string }{
		{"page", "/", ""},
		{"search", "/?q=umbrella&status=Declined&page=3", ""},
		{"scrape", "/metrics", "gzip"},
	} {
		b.Run(fmt.Sprintf("docs=%d/%s", n, tc.name), func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.encoding != "" {
				req.Header.Set("Accept-Encoding", tc.encoding)
			}
			var sent int
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("HTTP %d", rec.Code)
				}
				sent = rec.Body.Len()
			}
			b.ReportMetric(float64(sent), "bytes/response")
		})
	}
}
