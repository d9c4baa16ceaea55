package collector

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
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
			wl.Documents = append(wl.Documents, watchlist.Document{ID: id, AuthToken: token[id],
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
	var loaded State
	require.NoError(t, persistence.Load(path, &loaded))
	restored, dropped := after.refresher.Restore(loaded)
	assert.Equal(t, 2, restored)
	assert.Equal(t, 1, dropped)
	assert.True(t, after.refresher.Ready(), "ready before any round")

	x, err := testenv.ParseExposition(exposition(t, after.store, false))
	require.NoError(t, err)
	assert.Equal(t, "SigningStepInProgress", x.Status(testenv.DocA))
	assert.Equal(t, "Completed", x.Status(testenv.DocB))
	v, _ := x.Find("assuresign_document_last_check_timestamp_seconds", map[string]string{"document_id": testenv.DocB})
	assert.Equal(t, unixSeconds(testenv.T0), v, "marked by its last check before the restart")
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
