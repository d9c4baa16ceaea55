package collector

import (
	"testing"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/exposition"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// BenchmarkPublish prints the recompression work of publishing after a change
// to 1% of 10,000 documents: once after a scheduled round (which also moves
// the last-check timestamp of every document it asked about) and once after
// urgent checks of only the changed ones (as DocumentTRAK notifications give).
func BenchmarkPublish(b *testing.B) {
	const n = 10000
	for _, tc := range []struct {
		name    string
		checked int // documents answered: every one, or only the changed
	}{{"scheduled-round", n}, {"notified-only", n / 100}} {
		b.Run(tc.name, func(b *testing.B) {
			s := segmentStore(b, n, StoreConfig{})
			var stats exposition.PublishStats
			at := testenv.T0
			for i := 0; b.Loop(); i++ {
				at = at.Add(time.Minute)
				s.mu.Lock()
				ids := s.order
				s.mu.Unlock()
				for k := range tc.checked {
					// One in a hundred documents, spread over the list, changes status.
					id := ids[(k*100+i)%n]
					if tc.checked == n {
						id = ids[k]
					}
					st := assuresign.StatusCreated
					if (k+i)%100 == 0 || tc.checked < n {
						st = assuresign.Statuses[(k+i)%len(assuresign.Statuses)]
					} else {
						s.mu.RLock()
						st = s.docs[id].status
						s.mu.RUnlock()
					}
					s.Apply(assuresign.Result{ID: id, Status: st, RawStatus: st.String(), StatusDate: at}, at, fixedSchedule{open: time.Minute, terminal: time.Hour}, ^uint64(0))
				}
				stats = s.Publish()
			}
			b.ReportMetric(float64(stats.Recompressed)/float64(stats.Total), "recompressed/total")
			b.ReportMetric(float64(stats.Recompressed), "bytes-recompressed")
			b.ReportMetric(float64(stats.Total), "bytes-total")
			b.ReportMetric(float64(stats.Chunks), "chunks-rendered")
		})
	}
}
