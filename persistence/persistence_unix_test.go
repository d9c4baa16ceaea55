//go:build unix

package persistence

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A FIFO would block the open until a writer came (start-up hung, SIGTERM
// unanswered), /dev/zero would be read until memory ran out, and a file
// larger than the limit is refused unread: each is an error at once.
func TestLoadRefusesWhatIsNoStateFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	t.Cleanup(func() { // should Load block in open, a writer releases it
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	})
	zero := filepath.Join(dir, "zero")
	require.NoError(t, os.Symlink("/dev/zero", zero))
	big := filepath.Join(dir, "big")
	require.NoError(t, Save(big, state{Docs: map[string]int{"a": 1}}))
	require.NoError(t, os.Truncate(big, 2<<20)) // sparse: no disk used

	for path, want := range map[string]string{
		fifo: "not a regular file (p",
		zero: "not a regular file (D",
		big:  "file is 2097152 bytes, more than the limit of 1048576",
	} {
		done := make(chan error, 1)
		go func() {
			var got state
			done <- Load(path, &got, 1<<20)
		}()
		select {
		case err := <-done:
			require.Error(t, err, path)
			assert.Contains(t, err.Error(), want, path)
		case <-time.After(10 * time.Second):
			t.Fatalf("Load(%s) blocked", path)
		}
	}
}
