package persistence

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type state struct {
	Docs map[string]int `json:"docs"`
}

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	var got state
	require.ErrorIs(t, Load(path, &got, 1<<20), fs.ErrNotExist, "a missing file is told apart")

	want := state{Docs: map[string]int{"a": 1, "b": 2}}
	require.NoError(t, Save(path, want))
	require.NoError(t, Load(path, &got, 1<<20))
	assert.Equal(t, want, got)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// A second save replaces the first whole and leaves no temporary file.
	want.Docs["c"] = 3
	require.NoError(t, Save(path, want))
	require.NoError(t, Load(path, &got, 1<<20))
	assert.Equal(t, want, got)
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

// Every damaged file is refused with its reason; none is read in part.
func TestLoadRefusesDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	require.NoError(t, Save(good, state{Docs: map[string]int{"doc": 7}}))
	data, err := os.ReadFile(good)
	require.NoError(t, err)
	header, body, _ := strings.Cut(string(data), "\n")
	flipped := []byte(body)
	flipped[len(flipped)/2] ^= 0x01

	for name, tc := range map[string]struct {
		content string
		reason  string
	}{
		"empty":             {"", "truncated: no complete header line"},
		"cut in the header": {header[:10], "truncated: no complete header line"},
		"cut in the body":   {header + "\n" + body[:len(body)-3], "truncated: "},
		"bytes appended":    {header + "\n" + body + "xx", "corrupt: "},
		"a bit flipped":     {header + "\n" + string(flipped), "corrupt: checksum mismatch"},
		"unknown version":   {strings.Replace(header, magic+" 1 ", magic+" 2 ", 1) + "\n" + body, `unknown version "2"`},
		"no version":        {magic + "\n", "unknown version"},
		"malformed header":  {magic + " 1 crc32c=zz length=3\nabc", "malformed header"},
		"another file":      {"groups:\n- name: x\n", "not an assuresign_exporter state file"},
		"checksummed junk":  {magic + " 1 crc32c=00000000 length=0\n", "corrupt: "},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
			var got state
			err := Load(path, &got, 1<<20)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.reason)
			assert.Zero(t, got)
		})
	}
	t.Run("unreadable", func(t *testing.T) {
		path := filepath.Join(dir, "a-directory")
		require.NoError(t, os.Mkdir(path, 0o700))
		var got state
		err := Load(path, &got, 1<<20)
		require.Error(t, err)
		assert.NotErrorIs(t, err, fs.ErrNotExist)
	})
}

func TestCheckWritable(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, CheckWritable(filepath.Join(dir, "state")))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "the probe is removed")

	err = CheckWritable(filepath.Join(dir, "missing", "state"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not writable")

	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	require.Error(t, CheckWritable(filepath.Join(file, "state")), "a path under a file")

	if os.Geteuid() != 0 { // root writes anywhere
		ro := filepath.Join(dir, "ro")
		require.NoError(t, os.Mkdir(ro, 0o500))
		require.Error(t, CheckWritable(filepath.Join(ro, "state")))
	}
}

// The writer writes only what changed, and once more at shutdown after the
// state's writers have stopped.
func TestWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	var gen atomic.Uint64
	gen.Store(5)
	reg := prometheus.NewRegistry()
	w := NewWriter(path, 1<<62, 5, func() (uint64, any) { return gen.Load(), state{Docs: map[string]int{"g": int(gen.Load())}} }, reg, slog.New(slog.DiscardHandler))

	w.save()
	_, err := os.Stat(path)
	require.ErrorIs(t, err, fs.ErrNotExist, "nothing changed since the load: nothing written")

	gen.Store(6)
	w.save()
	var got state
	require.NoError(t, Load(path, &got, 1<<20))
	assert.Equal(t, 6, got.Docs["g"])

	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	done := make(chan struct{})
	go func() { w.Run(ctx, stopped); close(done) }()
	cancel()
	gen.Store(7) // the refresher's last round
	close(stopped)
	<-done
	require.NoError(t, Load(path, &got, 1<<20))
	assert.Equal(t, 7, got.Docs["g"], "the shutdown write comes after the last change")

	// A write that fails is counted and tried again.
	require.NoError(t, os.Remove(path))
	require.NoError(t, os.Mkdir(path, 0o700)) // rename onto a directory fails
	gen.Store(8)
	succeeded := testutil.ToFloat64(w.success)
	w.save()
	assert.Equal(t, 1.0, testutil.ToFloat64(w.failures))
	assert.Equal(t, succeeded, testutil.ToFloat64(w.success), "a failed write is no success")
	require.NoError(t, os.Remove(path))
	w.save()
	require.NoError(t, Load(path, &got, 1<<20))
	assert.Equal(t, 8, got.Docs["g"], "tried again: the next write saves what failed")
}
