package refresh

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/exposition"
	"github.com/assuresign-exporter/assuresign_exporter/internal/storetest"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/persistence"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// A state saved by one exporter and restored by the next, whose watch list
// lost C and gained D: A, B and their counters are served at once, C is
// dropped, and the first round asks about D alone (A is not due yet, B is
// closed). The file holds no secret and no label value.
func TestRestoreJoinsTheWatchList(t *testing.T) {
	const label = "label-value-7f3a9c"
	// Tokens unrelated to the ids, so an id in the file is no fragment of one.
	token := map[string]string{testenv.DocA: testenv.RandomGUID(), testenv.DocB: testenv.RandomGUID(), testenv.DocC: testenv.RandomGUID(), testenv.DocD: testenv.RandomGUID()}
	docs := func(ids ...string) *watchlist.List {
		wl := &watchlist.List{}
		for _, id := range ids {
			wl.Documents = append(wl.Documents, watchlist.Entry{ID: id, AuthToken: token[id],
				Labels: map[string]string{"customer": label}})
		}
		return wl
	}
	put := func(sim *simulator.Simulator) {
		sim.Put(simulator.Document{ID: testenv.DocA, AuthToken: token[testenv.DocA], Status: assuresign.StatusSigningStepInProgress, Step: 2, StatusDate: testenv.T0,
			Exceptions: []assuresign.Exception{{Severity: assuresign.SeverityError, Message: "e"}}})
		sim.Put(simulator.Document{ID: testenv.DocB, AuthToken: token[testenv.DocB], Status: assuresign.StatusCompleted, StatusDate: testenv.T0})
		sim.Put(simulator.Document{ID: testenv.DocC, AuthToken: token[testenv.DocC], Status: assuresign.StatusDeclined, StatusDate: testenv.T0})
		sim.Put(simulator.Document{ID: testenv.DocD, AuthToken: token[testenv.DocD], Status: assuresign.StatusCreated, StatusDate: testenv.T0})
	}
	before := newRig(t, rigOptions{})
	put(before.sim)
	before.store.SetWatchList(docs(testenv.DocA, testenv.DocB, testenv.DocC))
	before.round(0)
	before.round(5 * time.Minute) // A again: its exceptions count 2
	path := filepath.Join(t.TempDir(), "state")
	_, st := before.store.State()
	require.NoError(t, persistence.Save(path, st))

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	secrets := testenv.NewSecrets(8, testenv.SecretContext, token[testenv.DocA], token[testenv.DocB], token[testenv.DocC])
	secrets.AssertNone(t, "the persistence file", string(data))
	assert.NotContains(t, string(data), label)
	assert.NotContains(t, string(data), "customer")

	after := newRig(t, rigOptions{})
	put(after.sim)
	after.store.SetWatchList(docs(testenv.DocA, testenv.DocB, testenv.DocD))
	var loaded collector.State
	require.NoError(t, persistence.Load(path, &loaded, collector.StateFileLimit(10_000)))
	after.clock.Set(testenv.T0.Add(5 * time.Minute)) // restarted just after the save
	restored, dropped, clamped := after.refresher.Restore(loaded)
	assert.Equal(t, 2, restored)
	assert.Equal(t, 1, dropped)
	assert.Zero(t, clamped, "times the schedule produced stand")
	assert.True(t, after.refresher.Ready(), "ready before any round")

	x, err := testenv.ParseExposition(storetest.Scrape(t, after.store, false))
	require.NoError(t, err)
	assert.Equal(t, "SigningStepInProgress", x.Status(testenv.DocA))
	assert.Equal(t, "Completed", x.Status(testenv.DocB))
	v, _ := x.Find("assuresign_document_last_check_timestamp_seconds", map[string]string{"document_id": testenv.DocB})
	assert.Equal(t, exposition.UnixSeconds(testenv.T0), v, "marked by its last check before the restart")
	v, _ = x.Find("assuresign_document_exceptions_total", map[string]string{"document_id": testenv.DocA, "severity": "Error"})
	assert.Equal(t, 2.0, v, "counters continue")
	v, _ = x.Find("assuresign_document_check_success", map[string]string{"document_id": testenv.DocA})
	assert.Equal(t, 1.0, v)
	assert.False(t, x.Has("assuresign_document_check_success", map[string]string{"document_id": testenv.DocD}), "D was never checked")

	stats := after.round(6 * time.Minute)
	assert.Equal(t, 1, stats.Documents, "only the new document is asked about")
	assert.Equal(t, 1, after.sim.Stats().Requests)
	assert.Equal(t, 2, after.sim.Stats().Documents, "D, and open A riding along in the request sent anyway; never closed B")
	assert.Equal(t, "Created", statusOf(t, after.store, testenv.DocD).Status)

	// B is next asked a terminal interval after its last check, not before.
	after.sim.ResetStats()
	after.round(24*time.Hour - time.Hour)
	assert.Zero(t, statusOf(t, after.store, testenv.DocB).LastCheck.Sub(testenv.T0), "B not asked before its terminal interval")
	after.round(24*time.Hour + time.Minute)
	assert.Equal(t, testenv.T0.Add(24*time.Hour+time.Minute), statusOf(t, after.store, testenv.DocB).LastCheck)
}

// A state whose times lie in the future (written while the clock was wrong,
// or edited) would leave open documents unasked for as long and show their
// last check as "a moment ago". Restore clamps each time to what the
// schedule could have produced, and counts the documents it clamped.
func TestRestoreClampsTimesFromTheFuture(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.put(assuresign.StatusSigningStepInProgress, 1, testenv.DocA, testenv.DocC)
	r.put(assuresign.StatusCompleted, 0, testenv.DocB)
	r.watch(testenv.DocA, testenv.DocB, testenv.DocC)
	now := testenv.T0
	future := now.Add(365 * 24 * time.Hour)
	r.clock.Set(now)
	restored, dropped, clamped := r.refresher.Restore(collector.State{Documents: []collector.DocumentState{
		{ID: testenv.DocA, Status: "SigningStepInProgress", LastCheck: future, NextCheck: future.Add(5 * time.Minute), LastChange: future},
		{ID: testenv.DocB, Status: "Completed", LastCheck: future, NextCheck: future.Add(24 * time.Hour)},
		// An open document due in a week, though its interval is 5 minutes.
		{ID: testenv.DocC, Status: "SigningStepInProgress", LastCheck: now.Add(-time.Minute), NextCheck: now.Add(7 * 24 * time.Hour), LastChange: now.Add(-time.Hour)},
	}})
	assert.Equal(t, 3, restored)
	assert.Zero(t, dropped)
	assert.Equal(t, 3, clamped)

	_, st := r.store.State()
	byID := map[string]collector.DocumentState{}
	for _, d := range st.Documents {
		byID[d.ID] = d
	}
	assert.Equal(t, now, byID[testenv.DocA].LastCheck, "a last check no later than now")
	assert.Equal(t, now, byID[testenv.DocA].LastChange)
	assert.Equal(t, now.Add(5*time.Minute), byID[testenv.DocA].NextCheck, "next check no later than now plus its interval")
	assert.Equal(t, now, byID[testenv.DocB].LastCheck)
	assert.Equal(t, now.Add(24*time.Hour), byID[testenv.DocB].NextCheck, "a closed one: its terminal interval")
	assert.Equal(t, now.Add(-time.Minute), byID[testenv.DocC].LastCheck, "a past last check stands")
	assert.Equal(t, now.Add(5*time.Minute), byID[testenv.DocC].NextCheck)

	stats := r.round(5 * time.Minute)
	assert.Equal(t, 2, stats.Documents, "the open documents are asked again at their interval")
}
