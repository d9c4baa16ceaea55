package collector

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/persistence"
)

// StateFileLimit leaves room: a document with every field at its longest
// takes less than half the 2 KiB it allows, so a file the exporter wrote for
// --watch.max-documents documents is never refused.
func TestStateFileLimit(t *testing.T) {
	yes := true
	zone := time.FixedZone("", -(11*3600 + 59*60))
	at := time.Date(2026, 12, 31, 23, 59, 59, 999999999, zone)
	ds := DocumentState{
		ID: testenv.DocA, Status: "SignerAuthenticationFailed", StatusDate: at, Step: 1 << 30,
		Exceptions: map[string]uint64{}, LastCheck: at, NextCheck: at, LastChange: at, CheckSuccess: &yes,
	}
	for _, sev := range severityIndex {
		ds.Exceptions[sev.String()] = 1<<64 - 1
	}
	const n = 1000
	st := State{Documents: make([]DocumentState, n)}
	for i := range st.Documents {
		st.Documents[i] = ds
	}
	path := filepath.Join(t.TempDir(), "state")
	require.NoError(t, persistence.Save(path, st))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Less(t, fi.Size(), int64(n)<<10, "under 1 KiB a document")
	var loaded State
	require.NoError(t, persistence.Load(path, &loaded, StateFileLimit(n)))
	assert.Equal(t, n, len(loaded.Documents))
	require.Error(t, persistence.Load(path, &loaded, fi.Size()-1), "one byte over the limit")
}
