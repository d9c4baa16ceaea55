package watchlist

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// reloadRig is a WatchFile on a temporary file, with a refresher on a fake
// checker so its Wake can be seen.
type reloadRig struct {
	dir, path string
	store     *Store
	reg       *prometheus.Registry
	metrics   *Metrics
	refresher *Refresher
	logs      *testenv.SyncBuffer
	wf        *WatchFile
}

func newReloadRig(t *testing.T, hasContext bool, maxDocuments int) *reloadRig {
	t.Helper()
	logger, logs := debugLogger()
	reg := prometheus.NewRegistry()
	store := NewStore()
	metrics := NewMetrics(reg, store.Len, time.Hour)
	checker := &recordingChecker{status: map[string]assuresign.Status{docA: assuresign.StatusSigningStepInProgress, docB: assuresign.StatusCompleted}}
	refresher := NewRefresher(RefreshConfig{Interval: time.Hour, TerminalInterval: 24 * time.Hour, BatchSize: 10, Concurrency: 1, Timeout: time.Second, ContextIdentifier: secretContext},
		store, checker, metrics, logger)
	refresher.SetClock(testenv.NewClock(t0).Now)
	dir := t.TempDir()
	path := filepath.Join(dir, "watch.yml")
	return &reloadRig{dir: dir, path: path, store: store, reg: reg, metrics: metrics, refresher: refresher, logs: logs,
		wf: NewWatchFile(path, maxDocuments, hasContext, store, refresher, metrics, logger)}
}

func (r *reloadRig) write(t *testing.T, data string) {
	t.Helper()
	writeFile(t, r.dir, "watch.yml", data, 0o600)
}

// woken reports (and clears) a pending Wake.
func (r *reloadRig) woken() bool {
	select {
	case <-r.refresher.wake:
		return true
	default:
		return false
	}
}

func docEntry(id, token, extra string) string {
	return fmt.Sprintf("  - id: %s\n    auth_token: %s\n%s", id, token, extra)
}

func reloadGauge(ok int, watched int) string {
	return fmt.Sprintf(`
# HELP assuresign_watchlist_last_reload_successful 1 when the last watch-file load succeeded; on failure the previous list stays in use.
# TYPE assuresign_watchlist_last_reload_successful gauge
assuresign_watchlist_last_reload_successful %d
# HELP assuresign_watched_documents Documents on the watch list.
# TYPE assuresign_watched_documents gauge
assuresign_watched_documents %d
`, ok, watched)
}

var reloadNames = []string{"assuresign_watchlist_last_reload_successful", "assuresign_watched_documents"}

func TestLoadBadFileKeepsTheLastGoodList(t *testing.T) {
	r := newReloadRig(t, true, 2)
	good := "documents:\n" + docEntry(docA, secretTokenA, "    labels: {customer: acme}\n") + docEntry(docB, secretTokenB, "")
	r.write(t, good)
	require.NoError(t, r.wf.Load())
	require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(reloadGauge(1, 2)), reloadNames...))
	loadedAt := testutil.ToFloat64(r.metrics.reloadTimestamp)
	assert.InDelta(t, float64(time.Now().Unix()), loadedAt, 60)
	assert.True(t, r.woken(), "new documents wake the refresher")
	r.refresher.Round(context.Background(), false)

	docsOnly := NewMetricsHandler(r.store, prometheus.NewRegistry(), discardLogger())
	before := body(t, scrape(docsOnly, nil))
	require.Contains(t, before, `assuresign_document_status{document_id="`+docA+`",status="SigningStepInProgress"} 1`)
	require.Contains(t, before, `assuresign_document_status{document_id="`+docB+`",status="Completed"} 1`)

	for name, bad := range map[string]string{
		"syntax error":        "documents:\n  - id: [\n",
		"duplicate id":        "documents:\n" + docEntry(docA, secretTokenA, "") + docEntry(docA, secretTokenB, ""),
		"bad auth token":      "documents:\n" + docEntry(docA, "not-a-guid", ""),
		"unknown field":       "documents:\n" + docEntry(docA, secretTokenA, "    colour: red\n"),
		"too many documents":  "documents:\n" + docEntry(docA, secretTokenA, "") + docEntry(docB, secretTokenB, "") + docEntry(docC, secretTokenC, ""),
		"reserved label name": "documents:\n" + docEntry(docA, secretTokenA, "    labels: {status: x}\n"),
		"missing file":        "",
	} {
		if name == "missing file" {
			require.NoError(t, os.Remove(r.path))
		} else {
			r.write(t, bad)
		}
		err := r.wf.Load()
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), r.path, "%s: the error names the file", name)
		require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(reloadGauge(0, 2)), reloadNames...), name)
		assert.Equal(t, before, body(t, scrape(docsOnly, nil)), "%s: the last good list and its statuses stay", name)
		assert.Equal(t, loadedAt, testutil.ToFloat64(r.metrics.reloadTimestamp), name)
		assert.False(t, r.woken(), name)
	}

	// A good file again: B leaves, C arrives (urgent), A keeps its status.
	r.write(t, "documents:\n"+docEntry(docA, secretTokenA, "    labels: {customer: globex}\n")+docEntry(docC, secretTokenC, ""))
	require.NoError(t, r.wf.Load())
	require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(reloadGauge(1, 2)), reloadNames...))
	assert.True(t, r.woken())
	assert.Equal(t, "SigningStepInProgress", statusOf(t, r.store, docA).Status)
	assert.Equal(t, map[string]string{"customer": "globex"}, statusOf(t, r.store, docA).Labels)
	assert.Equal(t, []string{docC}, dueIDs(r.store.Due(t0, 0, true, "")))
	after := body(t, scrape(docsOnly, nil))
	assert.NotContains(t, after, docB)
	assert.Contains(t, after, `assuresign_document_info{document_id="`+docA+`",customer="globex"} 1`)

	// The same file again adds nothing, so wakes nobody.
	require.NoError(t, r.wf.Load())
	assert.False(t, r.woken())
}

func TestLoadNeedsAContextIdentifier(t *testing.T) {
	own := "    context_identifier: " + secretDocContext + "\n"
	file := "documents:\n" + docEntry(docA, secretTokenA, own) + docEntry(docB, secretTokenB, "")

	r := newReloadRig(t, false, 10)
	r.write(t, file)
	err := r.wf.Load()
	require.Error(t, err)
	assert.Contains(t, err.Error(), r.path)
	assert.Contains(t, err.Error(), "document "+docB+" has no context_identifier")
	assert.NotContains(t, err.Error(), docA)
	assertNoSecret(t, "the error", err.Error())
	assert.Zero(t, r.store.Len())
	require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(reloadGauge(0, 0)), reloadNames...))

	r.write(t, "documents:\n"+docEntry(docA, secretTokenA, own)+docEntry(docB, secretTokenB, own))
	require.NoError(t, r.wf.Load(), "every document has its own")

	r = newReloadRig(t, true, 10)
	r.write(t, file)
	require.NoError(t, r.wf.Load(), "an exporter-wide one is set")
	assert.Equal(t, []assuresign.Check{
		{ID: docA, AuthToken: secretTokenA, ContextIdentifier: secretDocContext},
		{ID: docB, AuthToken: secretTokenB, ContextIdentifier: secretContext},
	}, r.store.Due(t0, 0, false, secretContext))
}

func TestLoadWarnsAboutAReadableFile(t *testing.T) {
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
			r := newReloadRig(t, true, 10)
			writeFile(t, r.dir, "watch.yml", "documents:\n"+docEntry(docA, secretTokenA, ""), tc.perm)
			require.NoError(t, r.wf.Load())
			logs := r.logs.String()
			if !tc.warn {
				assert.NotContains(t, logs, "level=WARN")
				return
			}
			assert.Contains(t, logs, `level=WARN msg="watch file is readable by group or others, and it holds AuthTokens; chmod 600 it" file=`+r.path+` mode=`+tc.perm.String())
			assertNoSecret(t, "the log", logs)
		})
	}
}

// watch runs wf.Watch with a short poll until the test ends; every call of
// its callback is sent on the returned channel.
func watch(t *testing.T, wf *WatchFile, changed func()) <-chan struct{} {
	t.Helper()
	calls := make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		wf.Watch(ctx, 2*time.Millisecond, func() {
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
	select {
	case <-calls:
	case <-time.After(waitFor):
		t.Fatalf("Watch did not notice %s", what)
	}
}

func TestWatchNoticesAChangedFile(t *testing.T) {
	r := newReloadRig(t, true, 10)
	r.write(t, "documents:\n"+docEntry(docA, secretTokenA, ""))
	calls := watch(t, r.wf, nil)
	// Let the watcher take its first stamp: it polls the file every 2 ms.
	assert.Never(t, func() bool { return len(calls) > 0 }, 50*time.Millisecond, 5*time.Millisecond, "no change, no call")

	r.write(t, "documents:\n"+docEntry(docA, secretTokenA, "")+docEntry(docB, secretTokenB, ""))
	waitCall(t, calls, "a rewritten file")

	later := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(r.path, later, later))
	waitCall(t, calls, "a new modification time")

	require.NoError(t, os.Remove(r.path))
	waitCall(t, calls, "a removed file")
	r.write(t, "documents:\n"+docEntry(docA, secretTokenA, ""))
	waitCall(t, calls, "a file that came back")
	assert.Never(t, func() bool { return len(calls) > 0 }, 50*time.Millisecond, 5*time.Millisecond, "one call per change")
}

// TestWatchFollowsKubernetesSymlinkSwap lays a watch file out as the kubelet
// mounts a ConfigMap or Secret: watch.yml -> ..data/watch.yml, ..data ->
// ..<timestamp>; an update writes a new timestamped directory and renames a
// new ..data link over the old one. The new file has the old one's size and
// modification time, so only following the links can tell.
func TestWatchFollowsKubernetesSymlinkSwap(t *testing.T) {
	r := newReloadRig(t, true, 10)
	mtime := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	version := func(name, content string) {
		t.Helper()
		require.NoError(t, os.Mkdir(filepath.Join(r.dir, name), 0o755))
		p := writeFile(t, filepath.Join(r.dir, name), "watch.yml", content, 0o600)
		require.NoError(t, os.Chtimes(p, mtime, mtime))
	}
	v1 := "documents:\n" + docEntry(docA, secretTokenA, "")
	v2 := "documents:\n" + docEntry(docB, secretTokenB, "")
	require.Equal(t, len(v1), len(v2))
	version("..2024_01_01_00_00_00.000000001", v1)
	require.NoError(t, os.Symlink("..2024_01_01_00_00_00.000000001", filepath.Join(r.dir, "..data")))
	require.NoError(t, os.Symlink(filepath.Join("..data", "watch.yml"), r.path))
	require.NoError(t, r.wf.Load())
	require.Equal(t, 1, r.store.Len())
	assert.Equal(t, docA, statusOf(t, r.store, docA).ID)

	calls := watch(t, r.wf, func() { assert.NoError(t, r.wf.Load()) })
	assert.Never(t, func() bool { return len(calls) > 0 }, 50*time.Millisecond, 5*time.Millisecond, "no change, no call")

	version("..2024_01_01_00_05_00.000000002", v2)
	require.NoError(t, os.Symlink("..2024_01_01_00_05_00.000000002", filepath.Join(r.dir, "..data_tmp")))
	require.NoError(t, os.Rename(filepath.Join(r.dir, "..data_tmp"), filepath.Join(r.dir, "..data")))
	require.NoError(t, os.RemoveAll(filepath.Join(r.dir, "..2024_01_01_00_00_00.000000001")))
	waitCall(t, calls, "the symlink swap")
	docs, total := r.store.Snapshot(0)
	require.Equal(t, 1, total)
	assert.Equal(t, docB, docs[0].ID, "the callback reloaded the new version")
}

func TestWatchStopsWithItsContext(t *testing.T) {
	r := newReloadRig(t, true, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.wf.Watch(ctx, time.Hour, func() { t.Error("called") })
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatal("Watch did not return")
	}
}
