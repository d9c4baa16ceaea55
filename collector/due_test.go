package collector

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/assuresign-exporter/assuresign_exporter/internal/storetest"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// Due fills a request with what a stable sort of every spare document would
// put first, though it keeps only a batch's worth while it passes the list:
// by next check, or, while closed documents fill, by how far through its
// interval each is, ties in id order.
func TestDueFillsWithTheSoonestOfTheWholeList(t *testing.T) {
	for _, fillClosed := range []bool{false, true} {
		s := segmentStore(t, 2000, StoreConfig{})
		s.SetFillClosed(fillClosed)
		rng := rand.New(rand.NewPCG(1, 2))
		for _, d := range s.docs {
			// Few distinct times, so that ties are common.
			d.lastCheck = testenv.T0.Add(-time.Duration(rng.IntN(8)) * time.Minute)
			d.nextCheck = testenv.T0.Add(time.Duration(1+rng.IntN(8)) * time.Minute)
		}
		now := testenv.T0
		var spare []string
		for _, id := range s.order {
			if id != s.order[0] && (fillClosed || !s.docs[id].status.Terminal()) {
				spare = append(spare, id)
			}
		}
		if fillClosed {
			slices.SortStableFunc(spare, func(a, b string) int { return cmp.Compare(s.docs[b].waited(now), s.docs[a].waited(now)) })
		} else {
			slices.SortStableFunc(spare, func(a, b string) int { return s.docs[a].nextCheck.Compare(s.docs[b].nextCheck) })
		}
		for _, batch := range []int{1, 2, 50, 3000} {
			s.MarkUrgent(s.order[0], now)
			want := append([]string{s.order[0]}, spare[:min(batch-1, len(spare))]...)
			assert.Equal(t, want, storetest.DueIDs(s.Due(now, 0, true, batch, "")), "fill closed %v, batch %d", fillClosed, batch)
			s.docs[s.order[0]].urgent = false
		}
	}
}

// BenchmarkDue times choosing an urgent round's checks among 100,000
// documents: one is due and the rest of its request is filled with those due
// soonest (open ones only, or, while push is trusted, closed ones too).
func BenchmarkDue(b *testing.B) {
	for _, fillClosed := range []bool{false, true} {
		name := "open-fill"
		if fillClosed {
			name = "closed-fill"
		}
		b.Run(name, func(b *testing.B) {
			s := segmentStore(b, 100000, StoreConfig{})
			s.SetFillClosed(fillClosed)
			now := testenv.T0.Add(30 * time.Second)
			for b.Loop() {
				s.MarkUrgent(s.order[0], now)
				if checks, n, _ := s.Due(now, 0, true, 100, ""); n != 1 || len(checks) != 100 {
					b.Fatalf("%d due, %d checks", n, len(checks))
				}
			}
		})
	}
}
