//go:build unix

package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/internal/check"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// Secrets the test searches every output for.
const (
	e2eContext = "5EC2E7C0-C0DE-4C0D-8C0D-5EC2E7C0C0DE"
	e2eTokenA  = "5EC2E7A1-A1A1-4A1A-8A1A-5EC2E7A1A1A1"
	e2eTokenB  = "5EC2E7B2-B2B2-4B2B-9B2B-5EC2E7B2B2B2"
	e2eTokenC  = "5EC2E7C3-C3C3-4C3C-AC3C-5EC2E7C3C3C3"
	e2eTokenD  = "5EC2E7D4-D4D4-4D4D-BD4D-5EC2E7D4D4D4"
	e2eTokenE  = "5EC2E7E5-E5E5-4E5E-8E5E-5EC2E7E5E5E5"

	e2eDocA = "AAAAAAAA-0000-4000-8000-00000000000A"
	e2eDocB = "BBBBBBBB-0000-4000-8000-00000000000B"
	e2eDocC = "CCCCCCCC-0000-4000-8000-00000000000C"
	e2eDocD = "DDDDDDDD-0000-4000-8000-00000000000D"
	e2eDocE = "EEEEEEEE-0000-4000-8000-00000000000E"
)

var e2eSecrets = testenv.NewSecrets(testenv.FragmentLen, e2eContext, e2eTokenA, e2eTokenB, e2eTokenC, e2eTokenD, e2eTokenE)

// withContext gives the exporter the simulated account's ContextIdentifier.
var withContext = testenv.ExporterOptions{Env: []string{"ASSURESIGN_CONTEXT_IDENTIFIER=" + e2eContext}}

const waitFor = 15 * time.Second

// TestBinary builds the exporter and runs it as a process, against the
// simulator served from this test, as an operator would: what only the
// binary shows (start-up, exit codes, signals, the reload loop wired to the
// store, shutdown). The HTTP surface itself is server's tests, with httptest.
func TestBinary(t *testing.T) {
	testenv.SkipShort(t)
	testenv.BuildBinary(t, testenv.ExporterPkg) // once, before the parallel subtests

	t.Run("serves, reloads and stops", func(t *testing.T) { t.Parallel(); testServe(t) })
	t.Run("broken watch file at start-up", func(t *testing.T) { t.Parallel(); testBrokenWatchFile(t) })
	t.Run("bad flags", func(t *testing.T) { t.Parallel(); testBadFlags(t) })
	t.Run("demo", func(t *testing.T) { t.Parallel(); testDemo(t) })
	t.Run("demo webhook", func(t *testing.T) { t.Parallel(); testDemoWebhook(t) })
	t.Run("demo missed change", func(t *testing.T) { t.Parallel(); testDemoMissedChange(t) })
	t.Run("demo on loopback", func(t *testing.T) { t.Parallel(); testDemoLoopback(t) })
	t.Run("demo check", func(t *testing.T) { t.Parallel(); testDemoCheck(t) })
	t.Run("demo check via go run", func(t *testing.T) { t.Parallel(); testDemoCheckGoRun(t) })
	t.Run("wrong endpoint path", func(t *testing.T) { t.Parallel(); testWrongEndpointPath(t) })
	t.Run("persistence across a restart", func(t *testing.T) { t.Parallel(); testPersistence(t) })
}

// testPersistence restarts the exporter on its persistence file: it is ready
// and serves the statuses before asking anything, and asks only about the
// open document; a damaged file is a warning naming it, and a start empty.
func testPersistence(t *testing.T) {
	sim := simulator.New(e2eContext)
	date := time.Date(2024, 3, 1, 11, 0, 0, 0, time.UTC)
	sim.Put(simulator.Document{ID: e2eDocA, AuthToken: e2eTokenA, Status: assuresign.StatusSigningStepInProgress, Step: 2, StatusDate: date})
	sim.Put(simulator.Document{ID: e2eDocB, AuthToken: e2eTokenB, Status: assuresign.StatusDeclined, StatusDate: date})
	endpoint, _ := serveSimulator(t, sim, false)
	dir := t.TempDir()
	watchPath, state := filepath.Join(dir, "watch.yml"), filepath.Join(dir, "state")
	require.NoError(t, os.WriteFile(watchPath, []byte("documents:\n"+entry(e2eDocA, e2eTokenA, "    labels: {customer: acme}\n")+entry(e2eDocB, e2eTokenB, "")), 0o600))
	args := func(endpoint string) []string {
		return []string{"--watch.file=" + watchPath, "--assuresign.endpoint=" + endpoint, "--assuresign.max-retries=0",
			"--refresh.interval=1h", "--persistence.file=" + state, "--web.listen-address=127.0.0.1:0"}
	}

	first := withContext.Start(t, args(endpoint)...)
	testenv.WaitHTTP(t, first.URL+"/-/ready", http.StatusOK, waitFor)
	first.Stop(10 * time.Second)
	data, err := os.ReadFile(state)
	require.NoError(t, err, "written at shutdown")
	e2eSecrets.AssertNone(t, "the persistence file", string(data))
	assert.NotContains(t, string(data), "acme")

	// The restarted exporter serves both statuses and asks about nothing
	// in its first round (A is not due for an hour, B is closed).
	sim.ResetStats()
	second := withContext.Start(t, args(endpoint)...)
	var x *testenv.Exposition
	testenv.Eventually(t, waitFor, "the first round after the restart", func() (bool, string) {
		_, x = second.Metrics(t)
		v, _ := x.Value("assuresign_last_refresh_success_timestamp_seconds")
		return v > 0, "no round yet"
	})
	assert.Equal(t, "SigningStepInProgress", x.Status(e2eDocA))
	assert.Equal(t, "Declined", x.Status(e2eDocB))
	assert.Contains(t, second.Output.String(), "restored the persisted state")
	assert.Zero(t, sim.Stats().Requests, "no document was asked about again")
	second.Stop(10 * time.Second)

	require.NoError(t, os.WriteFile(state, data[:len(data)/2], 0o600))
	third := withContext.Start(t, args(endpoint)...)
	testenv.WaitHTTP(t, third.URL+"/-/ready", http.StatusOK, waitFor)
	assert.Regexp(t, `level=WARN .*msg="cannot use the persistence file; starting empty" file=`+regexp.QuoteMeta(state)+` reason="truncated: `, third.Output.String())
}

// serveSimulator serves sim over loopback and returns its CheckStatus
// endpoint. When gated, every request waits until open is called.
func serveSimulator(t *testing.T, sim *simulator.Simulator, gated bool) (endpoint string, open func()) {
	t.Helper()
	gate := make(chan struct{})
	var once sync.Once
	open = func() { once.Do(func() { close(gate) }) }
	if !gated {
		open()
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		open()
		srv.Close()
	})
	return srv.URL + testenv.CheckStatusPath, open
}

// testWrongEndpointPath: AssureSign, as the simulator, answers 404 on a path
// that is not CheckStatus's; the exporter's log and landing page say the
// path is likely wrong.
func testWrongEndpointPath(t *testing.T) {
	sim := simulator.New(e2eContext)
	sim.Put(simulator.Document{ID: e2eDocA, AuthToken: e2eTokenA, Status: assuresign.StatusCreated})
	endpoint, _ := serveSimulator(t, sim, false)
	watchPath := filepath.Join(t.TempDir(), "watch.yml")
	require.NoError(t, os.WriteFile(watchPath, []byte("documents:\n"+entry(e2eDocA, e2eTokenA, "")), 0o600))
	e := withContext.Start(t, "--watch.file="+watchPath, "--assuresign.max-retries=0", "--web.listen-address=127.0.0.1:0",
		"--assuresign.endpoint="+strings.TrimSuffix(endpoint, "/text")) // .../DocumentNOW.svc/CheckStatus
	const cause = "assuresign: HTTP status 404: no endpoint at this path: the path of the endpoint URL is likely wrong"
	e.WaitOutput(t, regexp.MustCompile(`msg="refresh round failed; keeping the last known statuses".*first_err="`+regexp.QuoteMeta(cause)+`"`), waitFor)
	_, page := e.Get(t, "/")
	assert.Contains(t, page, cause, "the document's last error on the landing page")
	assert.Equal(t, 1, sim.Stats().Requests)
	assert.Zero(t, sim.Stats().Documents, "no CheckStatus was answered")
}

func entry(id, token, extra string) string {
	return fmt.Sprintf("  - id: %s\n    auth_token: %s\n%s", id, token, extra)
}

// reloadFailures counts the log's failed reloads.
func reloadFailures(e *testenv.Exporter) int {
	return strings.Count(e.Output.String(), `msg="reload failed; keeping the previous configuration"`)
}

func testServe(t *testing.T) {
	sim := simulator.New(e2eContext)
	date := time.Date(2024, 3, 1, 11, 0, 0, 0, time.UTC)
	for _, d := range []simulator.Document{
		{ID: e2eDocA, AuthToken: e2eTokenA, Status: assuresign.StatusSigningStepInProgress, Step: 2, StatusDate: date},
		{ID: e2eDocB, AuthToken: e2eTokenB, Status: assuresign.StatusCompleted, StatusDate: date},
		{ID: e2eDocC, AuthToken: e2eTokenC, Status: assuresign.StatusDeclined, StatusDate: date},
		{ID: e2eDocD, AuthToken: e2eTokenD, Status: assuresign.StatusCreated, StatusDate: date},
		{ID: e2eDocE, AuthToken: e2eTokenE, Status: assuresign.StatusExpired, StatusDate: date},
	} {
		sim.Put(d)
	}
	endpoint, open := serveSimulator(t, sim, true)
	dir := t.TempDir()
	watchPath := filepath.Join(dir, "watch.yml")
	first := "documents:\n" + entry(e2eDocA, e2eTokenA, "    labels: {customer: acme, team: sales}\n") + entry(e2eDocB, e2eTokenB, "") + entry(e2eDocC, e2eTokenC, "")
	require.NoError(t, os.WriteFile(watchPath, []byte(first), 0o600))

	e := withContext.Start(t,
		"--watch.file="+watchPath, "--watch.poll-interval=1h", "--assuresign.endpoint="+endpoint,
		"--assuresign.max-retries=0", "--web.listen-address=127.0.0.1:0", "--log.level=debug")

	code, _ := e.Get(t, "/-/healthy")
	assert.Equal(t, http.StatusOK, code)
	code, body := e.Get(t, "/-/ready")
	assert.Equal(t, http.StatusServiceUnavailable, code, "not ready before the first round: %s", body)
	_, body = e.Get(t, "/")
	assert.Contains(t, body, "First round in progress: checked 0 of 3.")

	open()
	testenv.WaitHTTP(t, e.URL+"/-/ready", http.StatusOK, waitFor)

	text, x := e.Metrics(t)
	assert.Equal(t, "SigningStepInProgress", x.Status(e2eDocA))
	assert.Equal(t, "Completed", x.Status(e2eDocB))
	assert.Equal(t, "Declined", x.Status(e2eDocC))
	step, _ := x.Find("assuresign_document_signing_step", map[string]string{"document_id": e2eDocA})
	assert.Equal(t, 2.0, step)
	ts, _ := x.Find("assuresign_document_status_timestamp_seconds", map[string]string{"document_id": e2eDocC})
	assert.Equal(t, float64(date.Unix()), ts)
	assert.True(t, x.Has("assuresign_document_info", map[string]string{"document_id": e2eDocA, "customer": "acme", "team": "sales"}), "info carries the watch file's labels")
	for name, want := range map[string]float64{"assuresign_up": 1, "assuresign_watched_documents": 3, "assuresign_watchlist_last_reload_successful": 1} {
		v, ok := x.Value(name)
		assert.True(t, ok, name)
		assert.Equal(t, want, v, name)
	}
	assert.Contains(t, x.Families, "go_goroutines")
	assert.Contains(t, x.Families, "assuresign_exporter_build_info")

	t.Run("promtool check metrics", func(t *testing.T) {
		promtool, err := exec.LookPath("promtool")
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("promtool is missing: install the Debian package prometheus (apt-get install prometheus)")
			}
			t.Skip("promtool is missing: install the Debian package prometheus (apt-get install prometheus) to lint /metrics")
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(text)
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "promtool check metrics: %s", out)
		assert.Empty(t, strings.TrimSpace(string(out)))
	})

	t.Run("OpenMetrics and gzip", func(t *testing.T) {
		res, body := e.Do(t, http.MethodGet, "/metrics", http.Header{"Accept": {"application/openmetrics-text;version=1.0.0"}}, "")
		require.Equal(t, http.StatusOK, res.StatusCode)
		assert.Equal(t, "application/openmetrics-text; version=1.0.0; charset=utf-8", res.Header.Get("Content-Type"))
		assert.True(t, strings.HasSuffix(body, "\n# EOF\n"))
		assert.Contains(t, body, "# TYPE assuresign_document_exceptions counter\n")
		// Asked for explicitly, gzip is not unpacked by the Go client.
		res, body = e.Do(t, http.MethodGet, "/metrics", http.Header{"Accept-Encoding": {"gzip"}}, "")
		require.Equal(t, http.StatusOK, res.StatusCode)
		assert.Equal(t, "gzip", res.Header.Get("Content-Encoding"))
		assert.NotContains(t, body, "assuresign_up")
	})

	t.Run("reload over HTTP", func(t *testing.T) {
		res, _ := e.Do(t, http.MethodGet, "/-/reload", nil, "")
		assert.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
		assert.Equal(t, http.MethodPost, res.Header.Get("Allow"))

		require.NoError(t, os.WriteFile(watchPath, []byte(first+entry(e2eDocD, e2eTokenD, "")), 0o600))
		res, body := e.Do(t, http.MethodPost, "/-/reload", nil, "")
		assert.Equal(t, http.StatusOK, res.StatusCode, body)
		// D was added: checked within seconds, not at the next 5m round.
		testenv.Eventually(t, waitFor, "D's status", func() (bool, string) {
			_, x := e.Metrics(t)
			return x.Status(e2eDocD) == "Created", x.Status(e2eDocD)
		})

		// The same file again adds nothing: nothing is due at once.
		applied := strings.Count(e.Output.String(), `msg="watch list applied"`)
		res, body = e.Do(t, http.MethodPost, "/-/reload", nil, "")
		assert.Equal(t, http.StatusOK, res.StatusCode, body)
		assert.Equal(t, applied, strings.Count(e.Output.String(), `msg="watch list applied"`), "an unchanged file woke the refresher")
		_, x := e.Metrics(t)
		loadedAt, _ := x.Value("assuresign_watchlist_last_reload_success_timestamp_seconds")

		require.NoError(t, os.WriteFile(watchPath, []byte("documents:\n  - id: "+e2eDocA+"\n    auth_token: [\n"), 0o600))
		res, body = e.Do(t, http.MethodPost, "/-/reload", nil, "")
		assert.Equal(t, http.StatusInternalServerError, res.StatusCode)
		assert.Contains(t, body, watchPath)
		_, x = e.Metrics(t)
		v, _ := x.Value("assuresign_watchlist_last_reload_successful")
		assert.Equal(t, 0.0, v)
		v, _ = x.Value("assuresign_watchlist_last_reload_success_timestamp_seconds")
		assert.Equal(t, loadedAt, v, "the success timestamp stays")
		v, _ = x.Value("assuresign_watched_documents")
		assert.Equal(t, 4.0, v, "the last good list stays")
		assert.Equal(t, "Created", x.Status(e2eDocD))
		assert.Equal(t, "SigningStepInProgress", x.Status(e2eDocA), "with its statuses")

		// A FIFO at the path is refused at once: opening it once held the
		// one reload goroutine for ever, and every reload after it.
		require.NoError(t, os.Remove(watchPath))
		require.NoError(t, syscall.Mkfifo(watchPath, 0o600))
		res, body = e.Do(t, http.MethodPost, "/-/reload", nil, "")
		assert.Equal(t, http.StatusInternalServerError, res.StatusCode)
		assert.Contains(t, body, watchPath+": not a regular file")
		require.NoError(t, os.Remove(watchPath))
	})

	t.Run("reload on SIGHUP", func(t *testing.T) {
		// D leaves, E arrives, A's labels change.
		good := "documents:\n" + entry(e2eDocA, e2eTokenA, "    labels: {customer: globex}\n") + entry(e2eDocB, e2eTokenB, "") + entry(e2eDocC, e2eTokenC, "") +
			entry(e2eDocE, e2eTokenE, "    labels: {customer: initech}\n")
		require.NoError(t, os.WriteFile(watchPath, []byte(good), 0o600))
		e.Signal(t, syscall.SIGHUP)
		testenv.Eventually(t, waitFor, "E's status", func() (bool, string) {
			_, x := e.Metrics(t)
			return x.Status(e2eDocE) == "Expired", x.Status(e2eDocE)
		})
		_, x := e.Metrics(t)
		v, _ := x.Value("assuresign_watchlist_last_reload_successful")
		assert.Equal(t, 1.0, v)
		assert.False(t, x.Has("assuresign_document_info", map[string]string{"document_id": e2eDocD}), "D left the list")
		assert.True(t, x.Has("assuresign_document_info", map[string]string{"document_id": e2eDocA, "customer": "globex"}), "A has its new labels")
		assert.False(t, x.Has("assuresign_document_info", map[string]string{"document_id": e2eDocA, "team": "sales"}), "and not its old ones")
		assert.Equal(t, "SigningStepInProgress", x.Status(e2eDocA), "A keeps its status")

		// A bad file by SIGHUP: the error is logged, the last good list stays.
		failures := reloadFailures(e)
		require.NoError(t, os.WriteFile(watchPath, []byte("documents:\n"+entry(e2eDocA, "not-a-guid", "")), 0o600))
		e.Signal(t, syscall.SIGHUP)
		testenv.Eventually(t, waitFor, "the reload error in the log", func() (bool, string) {
			return reloadFailures(e) > failures, "no new \"reload failed\" line"
		})
		assert.Contains(t, e.Output.String(), watchPath+":3: documents[0].auth_token: is not a GUID")
		_, x = e.Metrics(t)
		v, _ = x.Value("assuresign_watchlist_last_reload_successful")
		assert.Equal(t, 0.0, v)
		v, _ = x.Value("assuresign_watched_documents")
		assert.Equal(t, 4.0, v, "the last good list stays")
		for id, want := range map[string]string{e2eDocA: "SigningStepInProgress", e2eDocB: "Completed", e2eDocC: "Declined", e2eDocE: "Expired"} {
			assert.Equal(t, want, x.Status(id), "%s keeps its status", id)
		}
		assert.True(t, x.Has("assuresign_document_info", map[string]string{"document_id": e2eDocE, "customer": "initech"}))
		require.True(t, e.Alive(), "a bad file ended the exporter")
	})

	t.Run("no secret shows", func(t *testing.T) {
		text, _ := e.Metrics(t)
		e2eSecrets.AssertNone(t, "/metrics", text)
		_, page := e.Get(t, "/")
		assert.Contains(t, page, e2eDocA)
		e2eSecrets.AssertNone(t, "the landing page", page)
		_, notFound := e.Get(t, "/nothing-here")
		assert.Contains(t, notFound, "404")
	})

	// run joins every goroutine it started before it returns: a SIGTERM
	// ends the process promptly, with exit code 0.
	t.Run("SIGTERM", func(t *testing.T) {
		e.Signal(t, syscall.SIGTERM)
		start := time.Now()
		assert.Equal(t, 0, e.ExitCode(t, 5*time.Second))
		t.Logf("exited %s after SIGTERM", time.Since(start).Round(time.Millisecond))
		assert.Contains(t, e.Output.String(), "shutting down")
		e2eSecrets.AssertNone(t, "the debug log", e.Output.String())
	})
}

func testBrokenWatchFile(t *testing.T) {
	dir := t.TempDir()
	const path0 = "{path}" // the file's path, in want
	for _, tc := range []struct {
		name, file string
		opts       testenv.ExporterOptions
		noLine     bool // the error names the document, not a line
		want       []string
	}{
		{
			name: "bad id",
			file: "# watched\ndocuments:\n" + entry(e2eDocA, e2eTokenA, "") + "  - id: not-a-guid\n    auth_token: " + e2eTokenB + "\n",
			opts: withContext,
			want: []string{":5: documents[1].id: ", "not-a-guid", "is not a GUID"},
		},
		{
			name: "YAML syntax",
			file: "documents:\n" + entry(e2eDocA, e2eTokenA, "    labels: {customer: acme\n"),
			opts: withContext,
			want: []string{"YAML syntax error"},
		},
		{
			name:   "no ContextIdentifier",
			file:   "documents:\n" + entry(e2eDocA, e2eTokenA, ""),
			noLine: true,
			want:   []string{path0 + ": document " + e2eDocA + " has no context_identifier"},
		},
		{
			name:   "a FIFO",
			noLine: true,
			opts:   withContext,
			want:   []string{path0 + ": not a regular file"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yml")
			if tc.file == "" {
				require.NoError(t, syscall.Mkfifo(path, 0o600))
			} else {
				require.NoError(t, os.WriteFile(path, []byte(tc.file), 0o600))
			}
			tc.opts.NoWait = true
			e := tc.opts.Start(t, "--watch.file="+path, "--web.listen-address=127.0.0.1:0", "--assuresign.endpoint=http://127.0.0.1:1/")
			assert.NotZero(t, e.ExitCode(t, waitFor))
			out := e.Output.String()
			if !tc.noLine {
				assert.Regexp(t, regexp.QuoteMeta(path)+`:\d+: `, out, "the error names the file and line")
			}
			for _, w := range tc.want {
				assert.Contains(t, out, strings.ReplaceAll(w, path0, path))
			}
			assert.NotContains(t, out, "Listening on")
			e2eSecrets.AssertNone(t, "the error", out)
		})
	}
	t.Run("a dangling symlink matched by a glob", func(t *testing.T) {
		glob := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(glob, "a.yml"), []byte("documents:\n"+entry(e2eDocA, e2eTokenA, "")), 0o600))
		dangling := filepath.Join(glob, "b.yml")
		require.NoError(t, os.Symlink(filepath.Join(glob, "gone.yml"), dangling))
		o := withContext
		o.NoWait = true
		e := o.Start(t, "--watch.file="+filepath.Join(glob, "*.yml"), "--web.listen-address=127.0.0.1:0", "--assuresign.endpoint=http://127.0.0.1:1/")
		assert.NotZero(t, e.ExitCode(t, waitFor))
		out := e.Output.String()
		assert.Contains(t, out, dangling+": no such file or directory", "the error names the file")
		assert.NotContains(t, out, "Listening on")
	})
}

// testBadFlags checks what Options.Validate's table test (internal/options) cannot: the exit code,
// and that nothing panics on the way.
func testBadFlags(t *testing.T) {
	good := filepath.Join(t.TempDir(), "watch.yml")
	require.NoError(t, os.WriteFile(good, []byte("documents:\n"+entry(e2eDocA, e2eTokenA, "")), 0o600))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--watch.file is required"},
		{[]string{"--watch.file=" + good, "--watch.poll-interval=0s"}, "--watch.poll-interval must be positive"},
		{[]string{"--watch.file=" + good, "--assuresign.batch-size=0"}, "--assuresign.batch-size must be at least 1"},
		{[]string{"--watch.file=" + good, "--web.telemetry-path=/"}, `--web.telemetry-path \"/\" is taken by another endpoint`},
		{[]string{"--watch.file=" + good, "--web.telemetry-path=metrics"}, `--web.telemetry-path \"metrics\" must start with /`},
		{[]string{"--watch.file=/nonexistent"}, "/nonexistent"},
		{[]string{"--watch.file=" + good, "--persistence.file=" + good + "/state"}, "persistence.file " + good + "/state: the persistence file's directory is not writable"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			opts := withContext
			opts.NoWait = true
			e := opts.Start(t, append(tc.args, "--web.listen-address=127.0.0.1:0")...)
			assert.Equal(t, 1, e.ExitCode(t, waitFor))
			assert.Contains(t, e.Output.String(), tc.want)
			assert.NotContains(t, e.Output.String(), "panic")
		})
	}
}

// demoSpecial finds, in the demo's output, the documents it sets up to raise
// alerts.
var demoSpecial = regexp.MustCompile(`msg="demo: documents that raise alerts" stuck=(\S+) error_exceptions=(\S+) wrong_auth_token=(\S+)`)

// demoCurl finds the curl line the demo prints, and the document it names.
var demoCurl = regexp.MustCompile(`(?m)^demo: send DocumentTRAK's notification for document (\S+) with:\n  (curl .*)$`)

// demoStop finds the curl line the demo prints to stop its simulator's
// notifications.
var demoStop = regexp.MustCompile(`(?m)^demo: the simulator delivers DocumentTRAK's notifications to the webhook; .*\n  (curl .*)$`)

// demoMissed finds the document the demo declines without a notification.
var demoMissed = regexp.MustCompile(`msg="demo: documents that raise alerts" .*missed_notification=(\S+) declined_after=(\S+)`)

// demoMissedWithin is how long after its start the demo has counted its
// missed change, at the latest, as docs/configuration.md's demo section says: declined
// after 20s, found by the next check a minute apart at most (the demo's
// --webhook.reconcile-interval), and a round.
const demoMissedWithin = 100 * time.Second

// testDemoMissedChange runs the demo as it comes: its simulator announces
// every change to the webhook but one document's decline, which a check
// finds and counts as the one missed change; the announced changes reach
// /metrics within a second.
func testDemoMissedChange(t *testing.T) {
	e := testenv.ExporterOptions{Env: []string{"TMPDIR=" + t.TempDir()}}.Start(t, "--demo", "--web.listen-address="+testenv.FreeAddr(t))
	start := time.Now()
	id := e.WaitOutput(t, demoMissed, waitFor)[1]
	took := testenv.EventuallyEvery(t, demoMissedWithin, time.Second, "the demo's missed change counted", func() (bool, string) {
		_, x := e.Metrics(t)
		v, _ := x.Value(`assuresign_webhook_missed_changes_total{status="Declined"}`)
		return v == 1, fmt.Sprint(v)
	})
	t.Logf("demo: missed change counted %s after the start", took.Round(time.Second))
	assert.Less(t, time.Since(start), demoMissedWithin)

	text, x := e.Metrics(t)
	assert.Equal(t, "Declined", x.Status(id))
	var missed float64
	for _, m := range x.Families["assuresign_webhook_missed_changes_total"].GetMetric() {
		missed += m.GetCounter().GetValue()
	}
	assert.Equal(t, 1.0, missed, "every other change was announced")
	assert.Regexp(t, `did not announce.*document_id=`+id+` status=Declined`, e.Output.String())
	announced := testenv.Sample(t, text, "assuresign_webhook_notification_to_update_seconds_count")
	assert.Positive(t, announced, "the simulator's notifications moved documents")
	assert.Equal(t, announced, testenv.Sample(t, text, `assuresign_webhook_notification_to_update_seconds_bucket{le="1"}`), "each within a second")
}

// demoSecrets returns the ContextIdentifier the demo was given and every
// AuthToken of the watch file it wrote under tmp, the wrong one included.
func demoSecrets(t *testing.T, tmp string) *testenv.Secrets {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(tmp, "assuresign-demo-*", "watch.yml"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	data, err := os.ReadFile(files[0])
	require.NoError(t, err)
	tokens := regexp.MustCompile(`auth_token: (\S+)`).FindAllStringSubmatch(string(data), -1)
	require.Len(t, tokens, 42, "40 documents and 2 envelopes")
	secrets := testenv.NewSecrets(testenv.FragmentLen, e2eContext)
	for _, m := range tokens {
		secrets.Add("AuthToken", m[1])
	}
	return secrets
}

func testDemo(t *testing.T) {
	// A terminal interval shorter than the default refresh interval is valid
	// because --demo shortens the refresh interval before flags are checked.
	tmp := t.TempDir()
	addr := testenv.FreeAddr(t)
	e := testenv.ExporterOptions{Env: []string{"TMPDIR=" + tmp, "ASSURESIGN_CONTEXT_IDENTIFIER=" + e2eContext}}.
		Start(t, "--demo", "--refresh.terminal-interval=1m", "--web.listen-address="+addr)
	testenv.WaitHTTP(t, e.URL+"/-/ready", http.StatusOK, waitFor)
	special := e.WaitOutput(t, demoSpecial, waitFor)
	stuck, failing, wrongToken := special[1], special[2], special[3]
	e.WaitOutput(t, regexp.MustCompile(`(?m)^demo: open `+regexp.QuoteMeta("http://"+addr+"/")+`$`), waitFor)
	secrets := demoSecrets(t, tmp)

	text, x := e.Metrics(t)
	watched, _ := x.Value("assuresign_watched_documents")
	assert.Equal(t, 48.0, watched, "40 documents, and two envelopes of 3 and 5")
	info := x.Families["assuresign_document_info"]
	require.NotNil(t, info)
	assert.Len(t, info.GetMetric(), 48)
	for _, m := range info.GetMetric() {
		names := map[string]bool{}
		for _, lp := range m.GetLabel() {
			names[lp.GetName()] = lp.GetValue() != ""
		}
		if !names["pack"] { // an envelope's documents carry its labels
			assert.Equal(t, map[string]bool{"document_id": true, "customer": true, "team": true}, names)
		}
	}
	var sizes []float64
	for _, m := range x.Families["assuresign_envelope_documents"].GetMetric() {
		sizes = append(sizes, m.GetGauge().GetValue())
	}
	assert.ElementsMatch(t, []float64{3, 5}, sizes)
	up, _ := x.Value("assuresign_up")
	assert.Equal(t, 1.0, up)
	interval, _ := x.Value("assuresign_refresh_interval_seconds")
	assert.Equal(t, 10.0, interval)
	statuses := x.Statuses()
	assert.Len(t, statuses, 48)
	for id, st := range statuses {
		if id != wrongToken {
			assert.NotEqual(t, "Unknown", st, "%s has no documented status", id)
		}
	}

	// Each document alert has a document to fire for.
	assert.Equal(t, "SigningStepInProgress", statuses[stuck])
	since, _ := x.Value(`assuresign_document_status_timestamp_seconds{document_id="` + stuck + `"}`)
	assert.Less(t, since, float64(time.Now().Add(-7*24*time.Hour).Unix()), "the stuck document's StatusDate is past the alert's 7 days")
	errorCount, _ := x.Value(`assuresign_document_exceptions_total{document_id="` + failing + `",severity="Error"}`)
	assert.GreaterOrEqual(t, errorCount, 1.0)
	ok, _ := x.Value(`assuresign_document_check_success{document_id="` + failing + `"}`)
	assert.Equal(t, 1.0, ok, "the failing document still has its status")
	ok, _ = x.Value(`assuresign_document_check_success{document_id="` + wrongToken + `"}`)
	assert.Equal(t, 0.0, ok, "the document with a wrong AuthToken cannot be checked")
	assert.Equal(t, "Unknown", statuses[wrongToken])
	code, page := e.Get(t, "/")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, page, stuck)
	assert.Contains(t, page, wrongToken)
	assert.Contains(t, page, "Demo: simulated AssureSign, made-up documents", "the page says it is the demo's")
	assert.Contains(t, page, "2 envelopes")

	e.Signal(t, syscall.SIGTERM)
	assert.Equal(t, 0, e.ExitCode(t, 5*time.Second))
	secrets.AssertNone(t, "the demo's output", e.Output.String())
	assert.NotContains(t, e.Output.String(), "ASSURESIGN_CONTEXT_IDENTIFIER=", "a ContextIdentifier given to the demo is never printed")
	assert.Contains(t, e.Output.String(), "(with the ContextIdentifier you gave the demo in $ASSURESIGN_CONTEXT_IDENTIFIER)")
	secrets.AssertNone(t, "/metrics", text)
	secrets.AssertNone(t, "the landing page", page)
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "the demo's watch file outlived the process")
}

// testDemoWebhook stops the demo simulator's notifications with the curl
// line the demo prints for it, then runs the one it prints to send a
// notification by hand, with scheduled rounds an hour apart: only that
// notification can have the named document checked again.
func testDemoWebhook(t *testing.T) {
	tmp := t.TempDir()
	e := testenv.ExporterOptions{Env: []string{"TMPDIR=" + tmp, "ASSURESIGN_CONTEXT_IDENTIFIER=" + e2eContext}}.
		Start(t, "--demo", "--refresh.interval=1h", "--web.listen-address="+testenv.FreeAddr(t))
	testenv.WaitHTTP(t, e.URL+"/-/ready", http.StatusOK, waitFor)
	m := e.WaitOutput(t, demoCurl, waitFor)
	id, curl := m[1], m[2]
	assert.Contains(t, curl, e.URL+"/webhooks/documenttrak")
	stop := e.WaitOutput(t, demoStop, waitFor)[1]
	out, err := exec.Command("sh", "-c", stop).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), " 204 ")
	time.Sleep(time.Second) // for the deliveries under way

	lastCheck := `assuresign_document_last_check_timestamp_seconds{document_id="` + id + `"}`
	accepted := `assuresign_webhook_requests_total{result="accepted"}`
	_, x := e.Metrics(t)
	before, ok := x.Value(lastCheck)
	require.True(t, ok, "the notified document was checked in the first round")
	accepted0, _ := x.Value(accepted)
	updated0, _ := x.Value("assuresign_webhook_notification_to_update_seconds_count")

	out, err = exec.Command("sh", "-c", curl).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), " 202 ")
	testenv.Eventually(t, waitFor, "the notified document to be checked again", func() (bool, string) {
		_, x := e.Metrics(t)
		after, _ := x.Value(lastCheck)
		updated, _ := x.Value("assuresign_webhook_notification_to_update_seconds_count")
		return after > before && updated == updated0+1, fmt.Sprintf("last check %v (was %v), updates %v (were %v)", after, before, updated, updated0)
	})
	_, x = e.Metrics(t)
	v, _ := x.Value(accepted)
	assert.Equal(t, accepted0+1, v, "the simulator's notifications stopped: only the curl line's arrived")
	demoSecrets(t, tmp).AssertNone(t, "the demo's output", e.Output.String())
}

// demoCheck finds the --check command the demo prints and the document it
// says is meant to fail.
var demoCheck = regexp.MustCompile(`(?m)^demo: ask the simulator about every watched document once, as --check does for an account, while the demo runs(?: \(from the directory you ran ` + "`go run . --demo`" + ` in\))?:\n  (.*--check .*)\n\(that ContextIdentifier is the simulator's, made up for this run: no account's secret\)\ndemo: document (\S+) is meant to fail: its AuthToken in the watch file is wrong, so --check says FAILED and exits 1$`)

// testDemoCheck runs the --check command the demo prints, as a new user
// would: only the document the demo names fails, and --check exits 1.
func testDemoCheck(t *testing.T) {
	tmp := t.TempDir()
	e := testenv.ExporterOptions{Env: []string{"TMPDIR=" + tmp}}.
		Start(t, "--demo", "--refresh.interval=1h", "--web.listen-address="+testenv.FreeAddr(t))
	special := e.WaitOutput(t, demoSpecial, waitFor)
	m := e.WaitOutput(t, demoCheck, waitFor)
	command, failing := m[1], m[2]
	assert.Equal(t, special[3], failing, "the document named is the one with the wrong AuthToken")

	cmd := exec.Command("sh", "-c", command)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	assert.Equal(t, check.Incomplete, exit.ExitCode(), "%s", out)
	m = regexp.MustCompile(`(\d+) of (\d+) documents have a status`).FindStringSubmatch(string(out))
	require.NotNil(t, m, "%s", out)
	assert.Equal(t, atoi(t, m[2])-1, atoi(t, m[1]), "all but one document have a status")
	assert.Contains(t, string(out), "FAILED: documents without a status: 1")
	assert.Regexp(t, `(?m)^`+failing+` .*Error: The AuthToken is not valid for this document\.\s+no status in the answer$`, string(out))
	demoSecrets(t, tmp).AssertNone(t, "the --check output", string(out))
}

// testDemoCheckGoRun runs the demo as `go run . --demo` runs it, from a
// go-build directory that Go may remove at any time: the --check command it
// prints builds the exporter again instead of naming that binary, and works
// from the source directory.
func testDemoCheckGoRun(t *testing.T) {
	tmp := t.TempDir()
	exe := filepath.Join(tmp, "go-build1234", "b001", "exe", "assuresign_exporter")
	require.NoError(t, os.MkdirAll(filepath.Dir(exe), 0o755))
	bin, err := os.ReadFile(testenv.BuildBinary(t, testenv.ExporterPkg))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(exe, bin, 0o755))
	cmd := exec.Command(exe, "--demo", "--refresh.interval=1h", "--web.listen-address="+testenv.FreeAddr(t))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + tmp}
	p := testenv.Start(t, cmd)
	t.Cleanup(func() { p.Stop(10 * time.Second) })
	m := p.WaitOutput(t, demoCheck, waitFor)
	command := m[1]
	assert.Regexp(t, `^ASSURESIGN_CONTEXT_IDENTIFIER=\S+ go run \. --check `, command, "not the go-build binary, which may be gone")
	require.NoError(t, os.Remove(exe), "go run's binary is gone")

	checkCmd := exec.Command("sh", "-c", command)
	checkCmd.Env = os.Environ() // go needs its own (GOCACHE, HOME)
	out, err := checkCmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	assert.Equal(t, check.Incomplete, exit.ExitCode(), "%s", out)
	assert.Contains(t, string(out), "FAILED: documents without a status: 1", "only the document meant to fail fails")
}

// testDemoLoopback starts the demo without --web.listen-address: it listens
// on 127.0.0.1:9865, or fails trying if something else holds that port.
func testDemoLoopback(t *testing.T) {
	e := testenv.ExporterOptions{NoWait: true}.Start(t, "--demo")
	e.WaitOutput(t, regexp.MustCompile(`(?m)^demo: open http://127\.0\.0\.1:9865/$`), waitFor)
	e.WaitOutput(t, regexp.MustCompile(`msg="Listening on" address=127\.0\.0\.1:9865|listen tcp 127\.0\.0\.1:9865: bind: address already in use`), waitFor)
	assert.NotRegexp(t, `Listening on" address=(\[::\]|0\.0\.0\.0|):`, e.Output.String())
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}
