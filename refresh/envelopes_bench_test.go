package refresh

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/internal/storetest"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/upstream/upstreamtest"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// BenchmarkEnvelopesWorstCase measures the series, the /metrics body and the
// heap of the envelopes' worst cases at the default limits
// (--watch.max-documents=10000, --watch.max-envelope-documents=100): as many
// envelopes as the watch file may hold, each listing one document of its own
// (the most series); 100 envelopes of 100; and the hostile listing of issue
// #26, 200 envelopes each listing the same 9,700 documents. Run it once:
//
//	go test ./refresh -run '^$' -bench EnvelopesWorstCase -benchtime 1x
func BenchmarkEnvelopesWorstCase(b *testing.B) {
	for _, tc := range []struct {
		name            string
		envelopes, each int
		shared          bool // every envelope lists the same documents
	}{{"10000x1", 10000, 1, false}, {"100x100", 100, 100, false}, {"200x9700-shared", 200, 9700, true}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				series, body, heap := envelopesAtScale(b, tc.envelopes, tc.each, tc.shared)
				b.ReportMetric(float64(series), "series")
				b.ReportMetric(float64(body)/(1<<20), "metrics-MiB")
				b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
			}
		})
	}
}

// envelopesAtScale runs one round over envelopes envelopes of each documents
// and returns the series and bytes /metrics would serve (the documents' and
// the envelopes' families) and the heap the exporter's state holds.
func envelopesAtScale(b *testing.B, envelopes, each int, shared bool) (series, body int, heap uint64) {
	const token = "00000000-0000-4000-8000-000000000001"
	listings := map[string]*assuresign.EnvelopeListing{}
	wl := &watchlist.List{}
	for e := range envelopes {
		id := fmt.Sprintf("E%07X-0000-4000-8000-%012X", e, e)
		wl.Envelopes = append(wl.Envelopes, watchlist.Entry{ID: id, AuthToken: token, Labels: map[string]string{"customer": fmt.Sprintf("c%d", e%7)}})
		l := &assuresign.EnvelopeListing{}
		for d := range each {
			n := e*each + d
			if shared {
				n = d
			}
			l.Documents = append(l.Documents, assuresign.EnvelopeDocument{ID: fmt.Sprintf("D%07X-0000-4000-8000-%012X", n, n), AuthToken: token, OrderID: fmt.Sprint(d + 1), Name: "Document"})
		}
		listings[id] = l
	}
	lister := (func(_ context.Context, req assuresign.EnvelopeRequest) (*assuresign.EnvelopeListing, error) {
		return listings[req.ID], nil
	})
	checker := upstreamtest.CheckFunc(func(_ context.Context, checks []assuresign.Check) ([]assuresign.Result, error) {
		out := make([]assuresign.Result, len(checks))
		for i, c := range checks {
			st := assuresign.StatusSigningStepInProgress
			out[i] = assuresign.Result{ID: c.ID, RawStatus: st.String(), Status: st, Step: 1, StatusDate: testenv.T0}
		}
		return out, nil
	})

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	store := collector.NewStore(collector.StoreConfig{})
	r := NewRefresher(Config{
		Interval: time.Minute, TerminalInterval: time.Hour, BatchSize: 50, Concurrency: 4, Timeout: time.Minute,
		ContextIdentifier: token, Now: func() time.Time { return testenv.T0 }, Coalesce: time.Millisecond,
		Envelopes: EnvelopeLimits{MaxDocuments: 10000, MaxEnvelopeDocuments: 100},
	}, store, upstreamtest.WithListing{API: checker, List: lister}, NewMetrics(prometheus.NewRegistry(), store.Len, time.Minute, false), testenv.DiscardLogger())
	r.SetWatchList(wl)
	r.round(context.Background(), false)
	envelopeReg := prometheus.NewRegistry()
	envelopeReg.MustRegister(NewEnvelopeCollector(r.Envelopes))
	var out bytes.Buffer
	if err := store.Metrics().Write(&out, false, false, storetest.TailOf("")); err != nil {
		b.Fatal(err)
	}
	out.WriteString(testenv.GatherText(b, envelopeReg))
	for line := range strings.Lines(out.String()) {
		if !strings.HasPrefix(line, "#") {
			series++
		}
	}
	body = out.Len()
	out = bytes.Buffer{} // the heap measured is the exporter's state, not one scrape's body
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(r)
	return series, body, after.HeapAlloc - min(before.HeapAlloc, after.HeapAlloc)
}
