package collector

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/persistence"
)

// BenchmarkRestart prints what a restart costs AssureSign at 1,000 documents
// (200 open, 800 closed): the requests and documents of the first round after
// it, an hour into the day, without and with --persistence.file.
//
//	go test ./collector -run '^$' -bench Restart -benchtime 1x
func BenchmarkRestart(b *testing.B) {
	for _, persisted := range []bool{false, true} {
		name := "without_persistence"
		if persisted {
			name = "with_persistence"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				requests, documents := simulateRestart(b, persisted)
				b.ReportMetric(float64(requests), "requests/restart")
				b.ReportMetric(float64(documents), "documents/restart")
			}
		})
	}
}

// simulateRestart runs an exporter's rounds for an hour, saves its state as
// the persistence writer would at shutdown, and starts another (restoring
// the state when persisted) a minute later. It returns what the new
// exporter's first round asked of the simulator.
func simulateRestart(b *testing.B, persisted bool) (requests, documents int) {
	b.Helper()
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	sim, wl := newDayAccount(b, start)
	clock := testenv.NewClock(start)
	store, refresher := newDayRefresher(b, sim, wl, 50, dayPollInterval, clock, false)
	for at := time.Duration(0); at <= time.Hour; at += dayPollInterval {
		clock.Set(start.Add(at))
		refresher.round(b.Context(), false)
	}
	path := filepath.Join(b.TempDir(), "state")
	_, st := store.State()
	if err := persistence.Save(path, st); err != nil {
		b.Fatal(err)
	}

	clock.Set(start.Add(time.Hour + time.Minute))
	_, next := newDayRefresher(b, sim, wl, 50, dayPollInterval, clock, false)
	if persisted {
		var loaded State
		if err := persistence.Load(path, &loaded, StateFileLimit(10_000)); err != nil {
			b.Fatal(err)
		}
		next.Restore(loaded)
	}
	before := sim.Stats()
	next.round(b.Context(), false)
	after := sim.Stats()
	return after.Requests - before.Requests, after.Documents - before.Documents
}
