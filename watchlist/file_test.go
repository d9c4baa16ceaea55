package watchlist

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// Known secret values: no error or log line may hold any of them.
const (
	secretDocContext = "5EC2E7D0-D0C0-4D0C-9D0C-5EC2E7D0D0C0" // one document's own ContextIdentifier
	secretTokenA     = "5EC2E7A1-A1A1-4A1A-8A1A-5EC2E7A1A1A1"
	secretTokenB     = "5EC2E7B2-B2B2-4B2B-9B2B-5EC2E7B2B2B2"
	secretTokenC     = "5EC2E7C3-C3C3-4C3C-AC3C-5EC2E7C3C3C3"

	docA = "AAAAAAAA-0000-4000-8000-00000000000A"
	docB = "BBBBBBBB-0000-4000-8000-00000000000B"
	docC = "CCCCCCCC-0000-4000-8000-00000000000C"
)

var fileSecrets = testenv.NewSecrets(testenv.FragmentLen, secretDocContext, secretTokenA, secretTokenB, secretTokenC)

// waitFor bounds every wait on the watcher, which polls every 2ms.
const waitFor = 10 * time.Second

// fileRig is a Files on a temporary watch file, with its registry and log.
type fileRig struct {
	dir, path string
	reg       *prometheus.Registry
	logs      *testenv.SyncBuffer
	file      *Files
}

func newFileRig(t *testing.T, requireContext bool, maxDocuments int) *fileRig {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	path := filepath.Join(dir, "watch.yml")
	return &fileRig{dir: dir, path: path, reg: reg, logs: logs, file: NewFile(path, maxDocuments, requireContext, reg, logger)}
}

func (r *fileRig) write(t *testing.T, data string) {
	testenv.WriteFile(t, filepath.Join(r.dir, "watch.yml"), data, 0o600)
}

// gauge returns the value of the registry's gauge name.
func (r *fileRig) gauge(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			require.Len(t, mf.GetMetric(), 1, name)
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no %s registered", name)
	return 0
}

const (
	reloadOK = "assuresign_watchlist_last_reload_successful"
	reloadAt = "assuresign_watchlist_last_reload_success_timestamp_seconds"
)

func reloadGauge(ok int) string {
	return fmt.Sprintf(`
# HELP assuresign_watchlist_last_reload_successful 1 when the last watch-file load succeeded; on failure the previous list stays in use.
# TYPE assuresign_watchlist_last_reload_successful gauge
assuresign_watchlist_last_reload_successful %d
`, ok)
}

func docEntry(id, token, extra string) string {
	return fmt.Sprintf("  - id: %s\n    auth_token: %s\n%s", id, token, extra)
}

// ids returns the list's document ids, in file order.
func ids(wl *List) []string {
	var out []string
	for _, d := range wl.Documents {
		out = append(out, d.ID)
	}
	return out
}

// TestFileLoadFailureKeepsTheGaugesHonest loads a good file, then bad ones:
// each error names the file, the file's last good version stays in the list,
// the success gauge drops to 0 and the success timestamp stays where the good
// load put it. That the exporter keeps the last
// good list and its statuses meanwhile is TestBinary's "reload" cases.
func TestFileLoadFailureKeepsTheGaugesHonest(t *testing.T) {
	r := newFileRig(t, false, 2)
	good := "documents:\n" + docEntry(docA, secretTokenA, "    labels: {customer: acme}\n") + docEntry(docB, secretTokenB, "")
	r.write(t, good)
	wl, err := r.file.Load()
	require.NoError(t, err)
	assert.Equal(t, []string{docA, docB}, ids(wl))
	assert.Equal(t, map[string]string{"customer": "acme"}, wl.Documents[0].Labels)
	require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(reloadGauge(1)), reloadOK))
	loadedAt := r.gauge(t, reloadAt)
	assert.InDelta(t, float64(time.Now().Unix()), loadedAt, 60)
	assert.Contains(t, r.logs.String(), `msg="watch list loaded" files=1 documents=2`)

	for _, tc := range []struct {
		name, bad string
		setup     func(t *testing.T)
		want      string
	}{
		{name: "syntax error", bad: "documents:\n  - id: [\n"},
		{name: "duplicate id", bad: "documents:\n" + docEntry(docA, secretTokenA, "") + docEntry(docA, secretTokenB, "")},
		{name: "bad auth token", bad: "documents:\n" + docEntry(docA, "not-a-guid", "")},
		{name: "unknown field", bad: "documents:\n" + docEntry(docA, secretTokenA, "    colour: red\n")},
		{name: "too many documents", bad: "documents:\n" + docEntry(docA, secretTokenA, "") + docEntry(docB, secretTokenB, "") + docEntry(docC, secretTokenC, "")},
		{name: "reserved label name", bad: "documents:\n" + docEntry(docA, secretTokenA, "    labels: {status: x}\n")},
		{name: "missing file", setup: func(t *testing.T) { require.NoFileExists(t, r.path) }, want: "no such file or directory"},
		{name: "a directory", setup: func(t *testing.T) { require.NoError(t, os.Mkdir(r.path, 0o700)) }, want: "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() { require.NoError(t, os.RemoveAll(r.path)) }() // each case starts with nothing at the path
			if tc.setup != nil {
				tc.setup(t)
			} else {
				r.write(t, tc.bad)
			}
			wl, err := r.file.Load()
			require.Error(t, err)
			assert.Equal(t, []string{docA, docB}, ids(wl), "the last good version stays")
			assert.Contains(t, err.Error(), r.path, "the error names the file")
			assert.Contains(t, err.Error(), tc.want)
			fileSecrets.AssertNone(t, "the error", err.Error())
			require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(reloadGauge(0)), reloadOK))
			assert.Equal(t, loadedAt, r.gauge(t, reloadAt), "the success timestamp stays")
		})
	}

	// A good file again: B leaves, C arrives, A's labels change.
	time.Sleep(2 * time.Millisecond) // the timestamp has nanoseconds: let the clock move
	r.write(t, "documents:\n"+docEntry(docA, secretTokenA, "    labels: {customer: globex}\n")+docEntry(docC, secretTokenC, ""))
	wl, err = r.file.Load()
	require.NoError(t, err)
	assert.Equal(t, []string{docA, docC}, ids(wl))
	assert.Equal(t, map[string]string{"customer": "globex"}, wl.Documents[0].Labels)
	require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(reloadGauge(1)), reloadOK))
	assert.Greater(t, r.gauge(t, reloadAt), loadedAt)
	fileSecrets.AssertNone(t, "the log", r.logs.String())
}

func TestFileLoadNeedsAContextIdentifier(t *testing.T) {
	own := "    context_identifier: " + secretDocContext + "\n"
	file := "documents:\n" + docEntry(docA, secretTokenA, own) + docEntry(docB, secretTokenB, "")

	r := newFileRig(t, true, 10)
	r.write(t, file)
	wl, err := r.file.Load()
	require.Error(t, err)
	assert.Empty(t, wl.Documents, "no good version yet")
	assert.Contains(t, err.Error(), r.path)
	assert.Contains(t, err.Error(), "document "+docB+" has no context_identifier")
	assert.NotContains(t, err.Error(), docA)
	fileSecrets.AssertNone(t, "the error", err.Error())
	require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(reloadGauge(0)), reloadOK))
	assert.Zero(t, r.gauge(t, reloadAt), "never loaded")

	r.write(t, "documents:\n"+docEntry(docA, secretTokenA, own)+docEntry(docB, secretTokenB, own))
	_, err = r.file.Load()
	require.NoError(t, err, "every document has its own")

	// With an exporter-wide one, a document may go without; the list says
	// which has its own (the store fills in the rest: collector's tests).
	r = newFileRig(t, false, 10)
	r.write(t, file)
	wl, err = r.file.Load()
	require.NoError(t, err, "an exporter-wide one is set")
	require.Len(t, wl.Documents, 2)
	assert.Equal(t, secretDocContext, wl.Documents[0].ContextIdentifier)
	assert.Empty(t, wl.Documents[1].ContextIdentifier)
}

func TestFileLoadWarnsAboutAReadableFile(t *testing.T) {
	for _, tc := range []struct {
		perm os.FileMode
		warn bool
	}{
		{0o600, false},
		{0o400, false},
		{0o640, true},
		{0o644, true},
		{0o604, true},
	} {
		t.Run(tc.perm.String(), func(t *testing.T) {
			r := newFileRig(t, false, 10)
			testenv.WriteFile(t, filepath.Join(r.dir, "watch.yml"), "documents:\n"+docEntry(docA, secretTokenA, ""), tc.perm)
			_, err := r.file.Load()
			require.NoError(t, err)
			logs := r.logs.String()
			if !tc.warn {
				assert.NotContains(t, logs, "level=WARN")
				return
			}
			assert.Contains(t, logs, `level=WARN msg="watch file is readable by group or others, and it holds AuthTokens; chmod 600 it" file=`+r.path+` mode=`+tc.perm.String())
			fileSecrets.AssertNone(t, "the log", logs)
		})
	}
}

// watch runs f.Watch with a short poll until the test ends; every call of
// its callback is sent on the returned channel.
func watch(t *testing.T, f *Files, changed func()) <-chan struct{} {
	t.Helper()
	calls := make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Watch(ctx, 2*time.Millisecond, func() {
			if changed != nil {
				changed()
			}
			calls <- struct{}{}
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return calls
}

func waitCall(t *testing.T, calls <-chan struct{}, what string) {
	t.Helper()
	receive(t, calls, "Watch did not notice "+what)
}

// receive waits for ch to deliver a value and returns it; it fails t with
// msg after waitFor.
func receive[T any](t *testing.T, ch <-chan T, msg string) T {
	t.Helper()
	var v T
	require.Eventually(t, func() bool {
		select {
		case v = <-ch:
			return true
		default:
			return false
		}
	}, waitFor, time.Millisecond, msg)
	return v
}

func TestWatchNoticesAChangedFile(t *testing.T) {
	r := newFileRig(t, false, 10)
	// Each version appears whole (written aside, then renamed), as an
	// editor or a deployment tool writes it: the watcher polls every 2 ms
	// and would otherwise also see a half-written file, a change of its own.
	write := func(data string) {
		t.Helper()
		testenv.WriteFile(t, filepath.Join(r.dir, "watch.yml.new"), data, 0o600)
		require.NoError(t, os.Rename(filepath.Join(r.dir, "watch.yml.new"), r.path))
	}
	write("documents:\n" + docEntry(docA, secretTokenA, ""))
	calls := watch(t, r.file, nil)
	// Let the watcher take its first stamp: it polls the file every 2 ms.
	assert.Never(t, func() bool { return len(calls) > 0 }, 50*time.Millisecond, 5*time.Millisecond, "no change, no call")

	write("documents:\n" + docEntry(docA, secretTokenA, "") + docEntry(docB, secretTokenB, ""))
	waitCall(t, calls, "a rewritten file")

	later := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(r.path, later, later))
	waitCall(t, calls, "a new modification time")

	require.NoError(t, os.Remove(r.path))
	waitCall(t, calls, "a removed file")
	write("documents:\n" + docEntry(docA, secretTokenA, ""))
	waitCall(t, calls, "a file that came back")
	assert.Never(t, func() bool { return len(calls) > 0 }, 50*time.Millisecond, 5*time.Millisecond, "one call per change")
}

// TestWatchFollowsKubernetesSymlinkSwap lays a watch file out as the kubelet
// mounts a ConfigMap or Secret: watch.yml -> ..data/watch.yml, ..data ->
// ..<timestamp>; an update writes a new timestamped directory and renames a
// new ..data link over the old one. The new file has the old one's size and
// modification time, so only following the links can tell.
func TestWatchFollowsKubernetesSymlinkSwap(t *testing.T) {
	r := newFileRig(t, false, 10)
	mtime := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	version := func(name, content string) {
		t.Helper()
		require.NoError(t, os.Mkdir(filepath.Join(r.dir, name), 0o755))
		p := testenv.WriteFile(t, filepath.Join(filepath.Join(r.dir, name), "watch.yml"), content, 0o600)
		require.NoError(t, os.Chtimes(p, mtime, mtime))
	}
	v1 := "documents:\n" + docEntry(docA, secretTokenA, "")
	v2 := "documents:\n" + docEntry(docB, secretTokenB, "")
	require.Equal(t, len(v1), len(v2))
	version("..2024_01_01_00_00_00.000000001", v1)
	require.NoError(t, os.Symlink("..2024_01_01_00_00_00.000000001", filepath.Join(r.dir, "..data")))
	require.NoError(t, os.Symlink(filepath.Join("..data", "watch.yml"), r.path))
	wl, err := r.file.Load()
	require.NoError(t, err)
	require.Equal(t, []string{docA}, ids(wl))

	loaded := make(chan *List, 100)
	calls := watch(t, r.file, func() {
		wl, err := r.file.Load()
		assert.NoError(t, err)
		loaded <- wl
	})
	assert.Never(t, func() bool { return len(calls) > 0 }, 50*time.Millisecond, 5*time.Millisecond, "no change, no call")

	version("..2024_01_01_00_05_00.000000002", v2)
	require.NoError(t, os.Symlink("..2024_01_01_00_05_00.000000002", filepath.Join(r.dir, "..data_tmp")))
	require.NoError(t, os.Rename(filepath.Join(r.dir, "..data_tmp"), filepath.Join(r.dir, "..data")))
	require.NoError(t, os.RemoveAll(filepath.Join(r.dir, "..2024_01_01_00_00_00.000000001")))
	waitCall(t, calls, "the symlink swap")
	wl = receive(t, loaded, "the callback did not load")
	require.NotNil(t, wl)
	assert.Equal(t, []string{docB}, ids(wl), "the callback loaded the new version")
}

func TestWatchStopsWithItsContext(t *testing.T) {
	r := newFileRig(t, false, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.file.Watch(ctx, time.Hour, func() { t.Error("called") })
	}()
	cancel()
	receive(t, done, "Watch did not return")
}
