//go:build unix

package watchlist

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFileLoadRefusesAFIFO puts a FIFO at the watch path. Opening one for
// reading blocks until a writer comes, so a Load that opened it would hold
// the exporter's one reload goroutine for ever; it must return at once with
// an error naming the file instead.
func TestFileLoadRefusesAFIFO(t *testing.T) {
	r := newFileRig(t, false, 10)
	r.write(t, "documents:\n"+docEntry(docA, secretTokenA, ""))
	_, err := r.file.Load()
	require.NoError(t, err)
	loadedAt := r.gauge(t, reloadAt)
	require.NoError(t, os.Remove(r.path))
	require.NoError(t, syscall.Mkfifo(r.path, 0o600))

	type result struct {
		wl  *List
		err error
	}
	done := make(chan result, 1)
	go func() {
		wl, err := r.file.Load()
		done <- result{wl, err}
	}()
	t.Cleanup(func() {
		// Should Load be blocked in open, a writer releases it.
		if w, err := os.OpenFile(r.path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	})
	res := receive(t, done, "Load blocked on a FIFO")
	require.Error(t, res.err)
	assert.Equal(t, []string{docA}, ids(res.wl), "the last good version stays")
	assert.Contains(t, res.err.Error(), r.path)
	assert.Contains(t, res.err.Error(), "not a regular file")
	require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(reloadGauge(0)), reloadOK))
	assert.Equal(t, loadedAt, r.gauge(t, reloadAt))
}
