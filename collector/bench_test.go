package collector

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

// benchStore holds n documents with two labels each, spread over the
// statuses, a quarter with an exception, all checked.
func benchStore(n int) *Store {
	s := NewStore()
	wl := &WatchList{}
	customers := []string{"acme", "globex", "initech", "umbrella"}
	for i := range n {
		wl.Documents = append(wl.Documents, WatchedDocument{
			ID: testGUID(0xBE4C, i), AuthToken: testGUID(0x70CE, i),
			Labels: map[string]string{"customer": customers[i%len(customers)], "team": fmt.Sprintf("team-%d", i%7)},
		})
	}
	s.SetWatchList(wl)
	for i, d := range wl.Documents {
		st := assuresign.Statuses[i%len(assuresign.Statuses)]
		r := assuresign.Result{ID: d.ID, RawStatus: st.String(), Status: st, StatusDate: t0.Add(-time.Duration(i) * time.Minute), Step: 1 + i%3}
		if i%4 == 0 {
			r.Exceptions = []assuresign.Exception{{Severity: assuresign.SeverityWarning, Message: "w"}}
		}
		s.Apply(r, t0, time.Hour, 24*time.Hour)
	}
	return s
}

// BenchmarkScrape serves /metrics for 1k and 10k documents, plain and
// gzipped, with the exporter's own metrics, and reports the bytes sent.
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		store := benchStore(n)
		reg := prometheus.NewRegistry()
		NewMetrics(reg, store.Len, 5*time.Minute)
		h := NewMetricsHandler(store, reg, discardLogger())
		for _, gz := range []bool{false, true} {
			b.Run(fmt.Sprintf("docs=%d/gzip=%t", n, gz), func(b *testing.B) {
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
