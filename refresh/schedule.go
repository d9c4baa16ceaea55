package refresh

import (
	"slices"
	"time"

	"github.com/prometheus/common/model"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
)

// idleDay is how long an open document must sit still for its check interval
// to double.
const idleDay = 24 * time.Hour

// schedule is the collector.Schedule the refresher gives the store: how long
// a document waits for its next check. An open
// document that moved within the last day is asked every interval; for each
// full day it has sat still since then the interval doubles, up to
// maxInterval. A closed one is asked every terminal interval. While push is
// trusted, an open document is asked every reconcile interval instead.
type schedule struct {
	interval, maxInterval, terminal time.Duration
	reconcile                       time.Duration // 0 without the webhook
	trusted                         bool
}

// Next returns how long a document waits after a check at now.
func (s schedule) Next(status assuresign.Status, lastChange, now time.Time) time.Duration {
	if status.Terminal() {
		return s.terminal
	}
	if s.trusted {
		return s.reconcile
	}
	next := s.interval
	if lastChange.IsZero() {
		return next // never answered: nothing says it sits still
	}
	for idle := now.Sub(lastChange); idle >= idleDay && next < s.maxInterval; idle -= idleDay {
		next *= 2
	}
	return min(next, s.maxInterval)
}

// bands returns every interval Next can give an open document, shortest first.
func (s schedule) bands() []time.Duration {
	var out []time.Duration
	for d := s.interval; d < s.maxInterval; d *= 2 {
		out = append(out, d)
	}
	out = append(out, s.maxInterval)
	if s.reconcile > s.maxInterval {
		out = append(out, s.reconcile)
	}
	return out
}

// CheckInterval is how many documents are checked at one interval ("5m",
// "1h"), or at the terminal one ("terminal").
type CheckInterval struct {
	Band      string
	Documents int
}

// checkIntervals counts the watched documents on each of sched's intervals at
// now, open ones by the interval they would be given now, closed ones last.
func checkIntervals(s *collector.Store, sched schedule, now time.Time) []CheckInterval {
	bands := sched.bands()
	counts := make([]int, len(bands)+1)
	s.Schedules(func(status assuresign.Status, lastChange time.Time) {
		if status.Terminal() {
			counts[len(bands)]++
		} else {
			counts[slices.Index(bands, sched.Next(status, lastChange, now))]++
		}
	})
	out := make([]CheckInterval, len(counts))
	for i, b := range bands {
		out[i] = CheckInterval{Band: model.Duration(b).String(), Documents: counts[i]}
	}
	out[len(bands)] = CheckInterval{Band: "terminal", Documents: counts[len(bands)]}
	return out
}
