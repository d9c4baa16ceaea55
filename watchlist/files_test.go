package watchlist

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const docD = "DDDDDDDD-0000-4000-8000-00000000000D"

// newDirRig is a Files over the glob dir/watch.d/*.yml, as an application
// dropping one file per batch would use it.
func newDirRig(t *testing.T, maxDocuments int) (*fileRig, string) {
	t.Helper()
	r := newFileRig(t, false, maxDocuments)
	d := filepath.Join(r.dir, "watch.d")
	require.NoError(t, os.Mkdir(d, 0o700))
	r.reg = prometheus.NewRegistry()
	r.file = NewFiles([]string{filepath.Join(d, "*.yml")}, maxDocuments, false, r.reg, slog.New(slog.NewTextHandler(r.logs, nil)))
	return r, d
}

func one(id, token string) string { return "documents:\n" + docEntry(id, token, "") }

func filesGauges(files, failed int) string {
	return strings.NewReplacer("F", string(rune('0'+files)), "X", string(rune('0'+failed))).Replace(`
# HELP assuresign_watchlist_files Watch files the --watch.file paths and patterns matched at the last load.
# TYPE assuresign_watchlist_files gauge
assuresign_watchlist_files F
# HELP assuresign_watchlist_files_failed Watch files that failed to load at the last load; each keeps its last good version, if it had one.
# TYPE assuresign_watchlist_files_failed gauge
assuresign_watchlist_files_failed X
`)
}

func TestFilesGlobMergesInPathOrder(t *testing.T) {
	r, d := newDirRig(t, 10)
	wl, err := r.file.Load()
	require.NoError(t, err, "a glob matching nothing is an empty list")
	assert.Empty(t, wl.Documents)

	testenv.WriteFile(t, filepath.Join(d, "b.yml"), "documents:\n"+docEntry(docB, secretTokenB, "    labels: {team: legal}\n"), 0o600)
	testenv.WriteFile(t, filepath.Join(d, "a.yml"), "documents:\n"+docEntry(docA, secretTokenA, "    labels: {customer: acme}\n")+docEntry(docC, secretTokenC, ""), 0o600)
	testenv.WriteFile(t, filepath.Join(d, "c.yml.tmp"), "documents:\n  - id: [", 0o600) // being written: the glob does not match it
	wl, err = r.file.Load()
	require.NoError(t, err)
	assert.Equal(t, []string{docA, docC, docB}, ids(wl))
	assert.Equal(t, []string{"customer", "team"}, wl.LabelNames)
	require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(filesGauges(2, 0)), "assuresign_watchlist_files", "assuresign_watchlist_files_failed"))

	// Paths and patterns together; a file named twice counts once.
	extra := testenv.WriteFile(t, filepath.Join(r.dir, "extra.yml"), one(docD, secretTokenA), 0o600)
	both := NewFiles([]string{filepath.Join(d, "*.yml"), extra, filepath.Join(d, "a.yml")}, 10, false, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	wl, err = both.Load()
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{docA, docB, docC, docD}, ids(wl))
}

func TestFilesDuplicateAcrossFilesNamesBoth(t *testing.T) {
	r, d := newDirRig(t, 10)
	a := testenv.WriteFile(t, filepath.Join(d, "a.yml"), one(docA, secretTokenA), 0o600)
	_, err := r.file.Load()
	require.NoError(t, err)

	b := testenv.WriteFile(t, filepath.Join(d, "b.yml"), one(docA, secretTokenB), 0o600)
	wl, err := r.file.Load()
	require.Error(t, err)
	assert.Nil(t, wl, "the whole load fails: the caller keeps its list")
	assert.Equal(t, "watch list: document "+docA+" is in both "+a+" and "+b, err.Error())
	fileSecrets.AssertNone(t, "the error", err.Error())
	require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(reloadGauge(0)), reloadOK))

	require.NoError(t, os.Remove(b))
	wl, err = r.file.Load()
	require.NoError(t, err)
	assert.Equal(t, []string{docA}, ids(wl))
	assert.Equal(t, secretTokenA, wl.Documents[0].AuthToken)
}

func TestFilesLimitAppliesToTheUnion(t *testing.T) {
	r, d := newDirRig(t, 2)
	testenv.WriteFile(t, filepath.Join(d, "a.yml"), one(docA, secretTokenA), 0o600)
	testenv.WriteFile(t, filepath.Join(d, "b.yml"), one(docB, secretTokenB), 0o600)
	_, err := r.file.Load()
	require.NoError(t, err, "two files of one document each, limit two")

	testenv.WriteFile(t, filepath.Join(d, "c.yml"), one(docC, secretTokenC), 0o600)
	wl, err := r.file.Load()
	require.Error(t, err)
	assert.Nil(t, wl)
	assert.Equal(t, "watch list: the 3 files hold 3 documents, more than --watch.max-documents=2", err.Error())
}

func TestFilesRemovedFileTakesItsDocuments(t *testing.T) {
	r, d := newDirRig(t, 10)
	testenv.WriteFile(t, filepath.Join(d, "a.yml"), one(docA, secretTokenA), 0o600)
	b := testenv.WriteFile(t, filepath.Join(d, "b.yml"), one(docB, secretTokenB), 0o600)
	_, err := r.file.Load()
	require.NoError(t, err)

	require.NoError(t, os.Remove(b))
	wl, err := r.file.Load()
	require.NoError(t, err, "a file the glob no longer matches is gone, not failing")
	assert.Equal(t, []string{docA}, ids(wl))
	require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(filesGauges(1, 0)), "assuresign_watchlist_files", "assuresign_watchlist_files_failed"))
}

// TestFilesBadFileKeepsItsLastGoodVersion breaks one file on reload, cut off
// mid-entry as a writer that did not rename would leave it: its last good
// version stays, a new good file and a change to another still apply, and
// fixing it brings its new version in.
func TestFilesBadFileKeepsItsLastGoodVersion(t *testing.T) {
	r, d := newDirRig(t, 10)
	a := testenv.WriteFile(t, filepath.Join(d, "a.yml"), one(docA, secretTokenA), 0o600)
	testenv.WriteFile(t, filepath.Join(d, "b.yml"), one(docB, secretTokenB), 0o600)
	_, err := r.file.Load()
	require.NoError(t, err)
	loadedAt := r.gauge(t, reloadAt)

	full := "documents:\n" + docEntry(docA, secretTokenA, "") + docEntry(docD, secretTokenC, "")
	testenv.WriteFile(t, filepath.Join(d, "a.yml"), full[:len(full)-20], 0o600) // cut inside D's token
	testenv.WriteFile(t, filepath.Join(d, "b.yml"), "documents:\n"+docEntry(docB, secretTokenB, "    labels: {team: legal}\n"), 0o600)
	testenv.WriteFile(t, filepath.Join(d, "c.yml"), one(docC, secretTokenC), 0o600)
	wl, err := r.file.Load()
	require.Error(t, err)
	assert.Contains(t, err.Error(), a+":", "the error names the bad file")
	assert.NotContains(t, err.Error(), filepath.Join(d, "b.yml"))
	fileSecrets.AssertNone(t, "the error", err.Error())
	require.NotNil(t, wl)
	assert.Equal(t, []string{docA, docB, docC}, ids(wl), "a.yml's last good version, b and c's new ones")
	assert.Equal(t, map[string]string{"team": "legal"}, wl.Documents[1].Labels)
	require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(reloadGauge(0)), reloadOK))
	require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(filesGauges(3, 1)), "assuresign_watchlist_files", "assuresign_watchlist_files_failed"))
	assert.Equal(t, loadedAt, r.gauge(t, reloadAt))
	assert.Contains(t, r.logs.String(), `msg="watch file failed to load; keeping its last good version" file=`+a+" documents=1")

	// A new file that is bad from the start has no good version: it adds nothing.
	testenv.WriteFile(t, filepath.Join(d, "e.yml"), "documents:\n  - id: "+docD+"\n", 0o600)
	wl, err = r.file.Load()
	require.Error(t, err)
	assert.Equal(t, []string{docA, docB, docC}, ids(wl))

	require.NoError(t, os.Remove(filepath.Join(d, "e.yml")))
	testenv.WriteFile(t, filepath.Join(d, "a.yml"), full, 0o600)
	wl, err = r.file.Load()
	require.NoError(t, err)
	assert.Equal(t, []string{docA, docD, docB, docC}, ids(wl))
	require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(reloadGauge(1)), reloadOK))
	fileSecrets.AssertNone(t, "the log", r.logs.String())
}

// TestFilesDanglingSymlinkInAGlob: a glob match that cannot be read, a
// symlink to nothing, is an error naming it, at the first load (where the
// exporter and --check stop) and on a reload; on a reload the other files'
// changes still apply.
func TestFilesDanglingSymlinkInAGlob(t *testing.T) {
	r, d := newDirRig(t, 10)
	testenv.WriteFile(t, filepath.Join(d, "a.yml"), one(docA, secretTokenA), 0o600)
	dangling := filepath.Join(d, "b.yml")
	require.NoError(t, os.Symlink(filepath.Join(d, "gone.yml"), dangling))
	_, err := r.file.Load()
	require.Error(t, err)
	assert.Contains(t, err.Error(), dangling+": no such file or directory")

	require.NoError(t, os.Remove(dangling))
	testenv.WriteFile(t, filepath.Join(d, "b.yml"), one(docB, secretTokenB), 0o600)
	_, err = r.file.Load()
	require.NoError(t, err)

	require.NoError(t, os.Remove(dangling))
	require.NoError(t, os.Symlink(filepath.Join(d, "gone.yml"), dangling))
	testenv.WriteFile(t, filepath.Join(d, "a.yml"), "documents:\n"+docEntry(docA, secretTokenA, "")+docEntry(docC, secretTokenC, ""), 0o600)
	wl, err := r.file.Load()
	require.Error(t, err)
	assert.Contains(t, err.Error(), dangling+": no such file or directory")
	assert.Equal(t, []string{docA, docC, docB}, ids(wl), "a.yml's change applies; b.yml keeps its last good version")
	require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(filesGauges(2, 1)), "assuresign_watchlist_files", "assuresign_watchlist_files_failed"))
}

func TestWatchNoticesFilesAppearingAndDisappearing(t *testing.T) {
	r, d := newDirRig(t, 10)
	testenv.WriteFile(t, filepath.Join(d, "a.yml"), one(docA, secretTokenA), 0o600)
	calls := watch(t, r.file, nil)
	assert.Never(t, func() bool { return len(calls) > 0 }, 50*time.Millisecond, 5*time.Millisecond, "no change, no call")

	tmp := testenv.WriteFile(t, filepath.Join(d, "b.yml.tmp"), one(docB, secretTokenB), 0o600)
	assert.Never(t, func() bool { return len(calls) > 0 }, 50*time.Millisecond, 5*time.Millisecond, "a file the glob does not match is not a change")
	require.NoError(t, os.Rename(tmp, filepath.Join(d, "b.yml")))
	waitCall(t, calls, "a file renamed into the glob")
	testenv.WriteFile(t, filepath.Join(d, "a.yml"), one(docA, secretTokenC), 0o600)
	waitCall(t, calls, "a changed file")
	require.NoError(t, os.Remove(filepath.Join(d, "a.yml")))
	waitCall(t, calls, "a removed file")
}

func TestFilesEnvelopesMerge(t *testing.T) {
	r, d := newDirRig(t, 4)
	testenv.WriteFile(t, filepath.Join(d, "a.yml"), "envelopes:\n"+docEntry(docA, secretTokenA, "    labels: {pack: one}\n"), 0o600)
	testenv.WriteFile(t, filepath.Join(d, "b.yml"), one(docB, secretTokenB)+"envelopes:\n"+docEntry(docC, secretTokenC, ""), 0o600)
	wl, err := r.file.Load()
	require.NoError(t, err)
	assert.Equal(t, []string{docB}, ids(wl))
	require.Len(t, wl.Envelopes, 2)
	assert.Equal(t, docA, wl.Envelopes[0].ID)
	assert.Equal(t, []string{"pack"}, wl.LabelNames)

	b := filepath.Join(d, "b.yml")
	c := testenv.WriteFile(t, filepath.Join(d, "c.yml"), "envelopes:\n"+docEntry(docC, secretTokenA, ""), 0o600)
	_, err = r.file.Load()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "envelope "+docC+" is in both "+b+" and "+c)
	fileSecrets.AssertNone(t, "the error", err.Error())

	require.NoError(t, os.Remove(c))
	testenv.WriteFile(t, filepath.Join(d, "d.yml"), one(docD, secretTokenA)+docEntry("EEEEEEEE-0000-4000-8000-00000000000E", secretTokenA, ""), 0o600)
	_, err = r.file.Load()
	require.Error(t, err, "3 documents and 2 envelopes of at least one document each are over 4")
	assert.Contains(t, err.Error(), "3 documents and 2 envelopes")
}
