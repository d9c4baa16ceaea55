package refresh

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/persistence"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// BenchmarkRestart prints what a restart costs AssureSign at 1,000 documents
// (200 open, 800 closed): the requests and documents of the first round after
// it, an hour into the day, without and with --persistence.file.
//
//	go test ./refresh -run '^$' -bench Restart -benchtime 1x
//
// The envelope cases watch 100 of the documents (50 open, 50 closed) through
// 20 envelopes of 5 instead: each restart lists every envelope again, one
// request each, counted in requests/restart and listings/restart.
func BenchmarkRestart(b *testing.B) {
	for _, c := range []struct {
		name                 string
		persisted, envelopes bool
	}{
		{"without_persistence", false, false}, {"with_persistence", true, false},
		{"without_persistence_envelopes", false, true}, {"with_persistence_envelopes", true, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				requests, documents, listings := simulateRestart(b, c.persisted, c.envelopes)
				b.ReportMetric(float64(requests), "requests/restart")
				b.ReportMetric(float64(documents), "documents/restart")
				b.ReportMetric(float64(listings), "listings/restart")
			}
		})
	}
}

// restartEnvelopes and restartEnvelopeSize shape the envelope cases.
const restartEnvelopes, restartEnvelopeSize = 20, 5

// inEnvelopes moves documents of wl into restartEnvelopes envelopes of sim,
// half of them open and half closed, and returns the watch list naming the
// envelopes instead.
func inEnvelopes(b *testing.B, sim *simulator.Simulator, wl *watchlist.List) *watchlist.List {
	b.Helper()
	n := restartEnvelopes * restartEnvelopeSize
	var moved []watchlist.Entry
	moved = append(moved, wl.Documents[dayOpen-n/2:dayOpen]...)
	moved = append(moved, wl.Documents[dayOpen:dayOpen+n/2]...)
	out := &watchlist.List{}
	out.Documents = append(out.Documents, wl.Documents[:dayOpen-n/2]...)
	out.Documents = append(out.Documents, wl.Documents[dayOpen+n/2:]...)
	for e := range restartEnvelopes {
		env := simulator.Envelope{ID: testenv.GUID(0xE4B, e), AuthToken: testenv.GUID(0x70C, e)}
		for _, d := range moved[e*restartEnvelopeSize : (e+1)*restartEnvelopeSize] {
			env.Documents = append(env.Documents, d.ID)
		}
		sim.PutEnvelope(env)
		out.Envelopes = append(out.Envelopes, watchlist.Entry{ID: env.ID, AuthToken: env.AuthToken})
	}
	return out
}

// simulateRestart runs an exporter's rounds for an hour, saves its state as
// the persistence writer would at shutdown, and starts another (restoring
// the state when persisted) a minute later. It returns what the new
// exporter's first round asked of the simulator.
func simulateRestart(b *testing.B, persisted, envelopes bool) (requests, documents, listings int) {
	b.Helper()
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	sim, wl, _ := newDayAccount(b, start, false)
	if envelopes {
		wl = inEnvelopes(b, sim, wl)
	}
	clock := testenv.NewClock(start)
	store, refresher := newDayRefresher(b, sim, wl, 50, dayPollInterval, clock, false, false, PushConfig{})
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
	_, next := newDayRefresher(b, sim, wl, 50, dayPollInterval, clock, false, false, PushConfig{})
	if persisted {
		var loaded collector.State
		if err := persistence.Load(path, &loaded, collector.StateFileLimit(10_000)); err != nil {
			b.Fatal(err)
		}
		next.Restore(loaded)
	}
	before := sim.Stats()
	next.round(b.Context(), false)
	after := sim.Stats()
	if got := next.store.Len(); got != dayDocuments {
		b.Fatalf("%d documents watched after the restart, want %d", got, dayDocuments)
	}
	return after.Requests - before.Requests, after.Documents - before.Documents, after.Listings - before.Listings
}
