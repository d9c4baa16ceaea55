//go:build unix

package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
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

var e2eSecrets = []string{e2eContext, e2eTokenA, e2eTokenB, e2eTokenC, e2eTokenD, e2eTokenE}

const waitFor = 15 * time.Second

// TestBinary builds the exporter and runs it as a process, against the
// simulator served from this test, as an operator would.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := testenv.BuildBinary(t, testenv.ExporterPkg)

	t.Run("serves, reloads and stops", func(t *testing.T) { t.Parallel(); testServe(t, bin) })
	t.Run("broken watch file at start-up", func(t *testing.T) { t.Parallel(); testBrokenWatchFile(t, bin) })
	t.Run("bad flags", func(t *testing.T) { t.Parallel(); testBadFlags(t, bin) })
	t.Run("demo", func(t *testing.T) { t.Parallel(); testDemo(t, bin) })
}

type process struct {
	*testenv.Process
	base string
}

// start runs bin with args and env (added to this process's, less any
// ASSURESIGN_ variable) and kills it when the test ends if it still runs.
func start(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ASSURESIGN_") && !strings.HasPrefix(kv, "TMPDIR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TMPDIR="+t.TempDir()) // --demo writes its watch file there
	cmd.Env = append(cmd.Env, env...)
	return &process{Process: testenv.Start(t, cmd)}
}

// listening waits for the exporter to log its address.
func (p *process) listening(t *testing.T) {
	t.Helper()
	p.base = "http://" + p.WaitOutput(t, testenv.ExporterListening, waitFor)[1]
}

// wait waits up to d for the process to exit and returns its exit code.
func (p *process) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.Exited():
	case <-time.After(d):
		t.Fatalf("the exporter did not exit within %s", d)
	}
	var exit *exec.ExitError
	if errors.As(p.Err(), &exit) {
		return exit.ExitCode()
	}
	require.NoError(t, p.Err())
	return 0
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

func (p *process) do(t *testing.T, method, path string, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, p.base+path, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := httpClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, res.Header, string(b)
}

func (p *process) get(t *testing.T, path string) (int, string) {
	t.Helper()
	code, _, body := p.do(t, http.MethodGet, path, nil)
	return code, body
}

// metrics scrapes /metrics as Prometheus would read it.
func (p *process) metrics(t *testing.T) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	code, body := p.get(t, "/metrics")
	require.Equal(t, http.StatusOK, code)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	return body, mfs
}

// value returns the value of the one series of family name whose labels
// include want, or NaN-like false when there is none.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// status returns the document's current status, as its state set says.
func status(mfs map[string]*dto.MetricFamily, id string) string {
	for _, st := range assuresign.Statuses {
		if v, _ := value(mfs, "assuresign_document_status", map[string]string{"document_id": id, "status": st.String()}); v == 1 {
			return st.String()
		}
	}
	return ""
}

func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	folded := strings.ToLower(text)
	for _, s := range e2eSecrets {
		for _, form := range []string{strings.ToLower(s), strings.ToLower(strings.ReplaceAll(s, "-", ""))} {
			assert.NotContains(t, folded, form, "%s holds a secret", what)
		}
	}
}

// gatedSimulator serves sim over loopback, holding every request until
// open is called.
func gatedSimulator(t *testing.T, sim *simulator.Simulator) (endpoint string, open func()) {
	t.Helper()
	gate := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		sim.ServeHTTP(w, r)
	}))
	var once sync.Once
	open = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(func() {
		open()
		srv.Close()
	})
	return srv.URL + "/Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text", open
}

func entry(id, token, extra string) string {
	return fmt.Sprintf("  - id: %s\n    auth_token: %s\n%s", id, token, extra)
}

func testServe(t *testing.T, bin string) {
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
	endpoint, open := gatedSimulator(t, sim)
	dir := t.TempDir()
	watchPath := filepath.Join(dir, "watch.yml")
	first := "documents:\n" + entry(e2eDocA, e2eTokenA, "    labels: {customer: acme, team: sales}\n") + entry(e2eDocB, e2eTokenB, "") + entry(e2eDocC, e2eTokenC, "")
	require.NoError(t, os.WriteFile(watchPath, []byte(first), 0o600))

	p := start(t, bin, []string{"ASSURESIGN_CONTEXT_IDENTIFIER=" + e2eContext},
		"--watch.file="+watchPath, "--watch.poll-interval=1h", "--assuresign.endpoint="+endpoint,
		"--assuresign.max-retries=0", "--web.listen-address=127.0.0.1:0", "--log.level=debug")
	p.listening(t)

	code, body := p.get(t, "/-/healthy")
	assert.Equal(t, http.StatusOK, code)
	code, body = p.get(t, "/-/ready")
	assert.Equal(t, http.StatusServiceUnavailable, code, "not ready before the first round: %s", body)
	_, body = p.get(t, "/")
	assert.Contains(t, body, "Waiting for the first refresh round.")

	open()
	testenv.WaitHTTP(t, p.base+"/-/ready", http.StatusOK, waitFor)

	text, mfs := p.metrics(t)
	assert.Equal(t, "SigningStepInProgress", status(mfs, e2eDocA))
	assert.Equal(t, "Completed", status(mfs, e2eDocB))
	assert.Equal(t, "Declined", status(mfs, e2eDocC))
	step, _ := value(mfs, "assuresign_document_signing_step", map[string]string{"document_id": e2eDocA})
	assert.Equal(t, 2.0, step)
	ts, _ := value(mfs, "assuresign_document_status_timestamp_seconds", map[string]string{"document_id": e2eDocC})
	assert.Equal(t, float64(date.Unix()), ts)
	_, ok := value(mfs, "assuresign_document_info", map[string]string{"document_id": e2eDocA, "customer": "acme", "team": "sales"})
	assert.True(t, ok, "info carries the watch file's labels")
	for name, want := range map[string]float64{"assuresign_up": 1, "assuresign_watched_documents": 3, "assuresign_watchlist_last_reload_successful": 1} {
		v, ok := value(mfs, name, nil)
		assert.True(t, ok, name)
		assert.Equal(t, want, v, name)
	}
	assert.Contains(t, mfs, "go_goroutines")
	assert.Contains(t, mfs, "assuresign_exporter_build_info")

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
		code, hdr, body := p.do(t, http.MethodGet, "/metrics", http.Header{"Accept": {"application/openmetrics-text;version=1.0.0"}})
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, "application/openmetrics-text; version=1.0.0; charset=utf-8", hdr.Get("Content-Type"))
		assert.True(t, strings.HasSuffix(body, "\n# EOF\n"))
		assert.Contains(t, body, "# TYPE assuresign_document_exceptions counter\n")
		// The Go client asks for gzip and unpacks it itself.
		code, hdr, body = p.do(t, http.MethodGet, "/metrics", http.Header{"Accept-Encoding": {"gzip"}})
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, "gzip", hdr.Get("Content-Encoding"))
		assert.NotContains(t, body, "assuresign_up")
	})

	t.Run("reload over HTTP", func(t *testing.T) {
		code, hdr, _ := p.do(t, http.MethodGet, "/-/reload", nil)
		assert.Equal(t, http.StatusMethodNotAllowed, code)
		assert.Equal(t, http.MethodPost, hdr.Get("Allow"))

		require.NoError(t, os.WriteFile(watchPath, []byte(first+entry(e2eDocD, e2eTokenD, "")), 0o600))
		code, _, body := p.do(t, http.MethodPost, "/-/reload", nil)
		assert.Equal(t, http.StatusOK, code, body)
		// D was added: checked within seconds, not at the next 5m round.
		require.Eventually(t, func() bool { _, mfs := p.metrics(t); return status(mfs, e2eDocD) == "Created" }, waitFor, 20*time.Millisecond)

		require.NoError(t, os.WriteFile(watchPath, []byte("documents:\n  - id: "+e2eDocA+"\n    auth_token: [\n"), 0o600))
		code, _, body = p.do(t, http.MethodPost, "/-/reload", nil)
		assert.Equal(t, http.StatusInternalServerError, code)
		assert.Contains(t, body, watchPath)
		_, mfs := p.metrics(t)
		v, _ := value(mfs, "assuresign_watchlist_last_reload_successful", nil)
		assert.Equal(t, 0.0, v)
		v, _ = value(mfs, "assuresign_watched_documents", nil)
		assert.Equal(t, 4.0, v, "the last good list stays")
		assert.Equal(t, "Created", status(mfs, e2eDocD))
	})

	t.Run("reload on SIGHUP", func(t *testing.T) {
		require.NoError(t, os.WriteFile(watchPath, []byte(first+entry(e2eDocE, e2eTokenE, "    labels: {customer: initech}\n")), 0o600))
		require.NoError(t, p.Cmd.Process.Signal(syscall.SIGHUP))
		require.Eventually(t, func() bool { _, mfs := p.metrics(t); return status(mfs, e2eDocE) == "Expired" }, waitFor, 20*time.Millisecond)
		_, mfs := p.metrics(t)
		v, _ := value(mfs, "assuresign_watchlist_last_reload_successful", nil)
		assert.Equal(t, 1.0, v)
		_, ok := value(mfs, "assuresign_document_info", map[string]string{"document_id": e2eDocD})
		assert.False(t, ok, "D left the list")
	})

	t.Run("no secret shows", func(t *testing.T) {
		text, _ := p.metrics(t)
		assertNoSecret(t, "/metrics", text)
		_, page := p.get(t, "/")
		assert.Contains(t, page, e2eDocA)
		assertNoSecret(t, "the landing page", page)
		_, notFound := p.get(t, "/nothing-here")
		assert.Contains(t, notFound, "404")
	})

	t.Run("SIGTERM", func(t *testing.T) {
		require.NoError(t, p.Cmd.Process.Signal(syscall.SIGTERM))
		start := time.Now()
		assert.Equal(t, 0, p.wait(t, 5*time.Second))
		t.Logf("exited %s after SIGTERM", time.Since(start).Round(time.Millisecond))
		assert.Contains(t, p.Output.String(), "shutting down")
		assertNoSecret(t, "the debug log", p.Output.String())
	})
}

func testBrokenWatchFile(t *testing.T, bin string) {
	dir := t.TempDir()
	const path0 = "{path}" // the file's path, in want
	for _, tc := range []struct {
		name, file string
		env        []string
		noLine     bool // the error names the document, not a line
		want       []string
	}{
		{
			name: "bad id",
			file: "# watched\ndocuments:\n" + entry(e2eDocA, e2eTokenA, "") + "  - id: not-a-guid\n    auth_token: " + e2eTokenB + "\n",
			env:  []string{"ASSURESIGN_CONTEXT_IDENTIFIER=" + e2eContext},
			want: []string{":5: documents[1].id: ", "not-a-guid", "is not a GUID"},
		},
		{
			name: "YAML syntax",
			file: "documents:\n" + entry(e2eDocA, e2eTokenA, "    labels: {customer: acme\n"),
			env:  []string{"ASSURESIGN_CONTEXT_IDENTIFIER=" + e2eContext},
			want: []string{"YAML syntax error"},
		},
		{
			name:   "no ContextIdentifier",
			file:   "documents:\n" + entry(e2eDocA, e2eTokenA, ""),
			noLine: true,
			want:   []string{path0 + ": document " + e2eDocA + " has no context_identifier"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yml")
			require.NoError(t, os.WriteFile(path, []byte(tc.file), 0o600))
			p := start(t, bin, tc.env, "--watch.file="+path, "--web.listen-address=127.0.0.1:0", "--assuresign.endpoint=http://127.0.0.1:1/")
			assert.NotZero(t, p.wait(t, waitFor))
			out := p.Output.String()
			if !tc.noLine {
				assert.Regexp(t, regexp.QuoteMeta(path)+`:\d+: `, out, "the error names the file and line")
			}
			for _, w := range tc.want {
				assert.Contains(t, out, strings.ReplaceAll(w, path0, path))
			}
			assert.NotContains(t, out, "Listening on")
			assertNoSecret(t, "the error", out)
		})
	}
}

func testBadFlags(t *testing.T, bin string) {
	good := filepath.Join(t.TempDir(), "watch.yml")
	require.NoError(t, os.WriteFile(good, []byte("documents:\n"+entry(e2eDocA, e2eTokenA, "")), 0o600))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--watch.file is required"},
		{[]string{"--watch.file=" + good, "--watch.poll-interval=0s"}, "--watch.poll-interval must be positive"},
		{[]string{"--watch.file=" + good, "--assuresign.batch-size=0"}, "--assuresign.batch-size must be at least 1"},
		{[]string{"--watch.file=/nonexistent"}, "/nonexistent"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			p := start(t, bin, []string{"ASSURESIGN_CONTEXT_IDENTIFIER=" + e2eContext}, append(tc.args, "--web.listen-address=127.0.0.1:0")...)
			assert.Equal(t, 1, p.wait(t, waitFor))
			assert.Contains(t, p.Output.String(), tc.want)
			assert.NotContains(t, p.Output.String(), "panic")
		})
	}
}

func testDemo(t *testing.T, bin string) {
	// A terminal interval shorter than the default refresh interval is valid
	// because --demo shortens the refresh interval before flags are checked.
	tmp := t.TempDir()
	p := start(t, bin, []string{"TMPDIR=" + tmp}, "--demo", "--refresh.terminal-interval=1m", "--web.listen-address=127.0.0.1:0")
	p.listening(t)
	testenv.WaitHTTP(t, p.base+"/-/ready", http.StatusOK, waitFor)
	_, mfs := p.metrics(t)
	watched, _ := value(mfs, "assuresign_watched_documents", nil)
	assert.Equal(t, 40.0, watched)
	info := mfs["assuresign_document_info"]
	require.NotNil(t, info)
	assert.Len(t, info.GetMetric(), 40)
	for _, m := range info.GetMetric() {
		names := map[string]bool{}
		for _, lp := range m.GetLabel() {
			names[lp.GetName()] = lp.GetValue() != ""
		}
		assert.Equal(t, map[string]bool{"document_id": true, "customer": true, "team": true}, names)
	}
	up, _ := value(mfs, "assuresign_up", nil)
	assert.Equal(t, 1.0, up)
	interval, _ := value(mfs, "assuresign_refresh_interval_seconds", nil)
	assert.Equal(t, 10.0, interval)
	known := 0
	for _, m := range mfs["assuresign_document_status"].GetMetric() {
		if m.GetGauge().GetValue() == 1 && !strings.Contains(m.String(), `value:"Unknown"`) {
			known++
		}
	}
	assert.Equal(t, 40, known, "every demo document has a documented status")
	require.NoError(t, p.Cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, p.wait(t, 5*time.Second))
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "the demo's watch file outlived the process")
}
