package server

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/refresh"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write the browser test's screenshot to docs/landing-page.png")

// chromium runs headless Chromium with args and returns its standard output.
// It skips the test when Chromium is not installed, or fails it under CI=true.
func chromium(t *testing.T, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		msg := "chromium not found on PATH: install the Debian package chromium (apt-get install chromium)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--hide-scrollbars", "--user-data-dir=" + t.TempDir(),
	}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "chromium: %s", stderr.String())
	return stdout.String()
}

// TestLandingPageInABrowser renders the page at 10,000 documents in headless
// Chromium and checks what a user sees there: the counts, the declined
// document at the top of the problems, a search's result.
func TestLandingPageInABrowser(t *testing.T) {
	testenv.SkipShort(t)
	const n = 10_000
	wl, checker := landingDocs(n)
	fx := newFixture(t, fixtureOptions{docs: wl, checker: checker, version: "0.2.0", cfg: refresh.Config{BatchSize: 500, Concurrency: 4}})
	srv := httptest.NewServer(fx.handler)
	t.Cleanup(srv.Close)
	declined, stuck, failing := testenv.GUID(0x1A4D, n-1), testenv.GUID(0x1A4D, n-2), testenv.GUID(0x1A4D, n-3)

	dom := chromium(t, "--dump-dom", srv.URL+"/")
	assert.Contains(t, dom, "10000 documents by status")
	assert.Regexp(t, `<b>1</b>Declined</a>`, dom)
	assert.Contains(t, dom, "<h2>Problems: 3</h2>")
	problems := regexp.MustCompile(`<tr class="problem">.*?</tr>`).FindAllString(dom, -1)
	require.Len(t, problems, 3)
	assert.Contains(t, problems[0], failing, "newest first")
	assert.Contains(t, problems[1], declined)
	assert.Contains(t, problems[1], "Declined 3 days ago")
	assert.Contains(t, problems[2], stuck)
	assert.Contains(t, dom, "Showing 1–100 of 10000, by id.")
	testenv.KnownSecrets.AssertNone(t, "the page in the browser", dom)

	found := chromium(t, "--dump-dom", srv.URL+"/?q=wayne")
	assert.Contains(t, found, "Showing 1–1 of 1 matching, by id.")
	rows := regexp.MustCompile(`<tr><td class="id">([0-9A-F-]{36})</td>`).FindAllStringSubmatch(found, -1)
	require.Len(t, rows, 1)
	assert.Equal(t, testenv.GUID(0x1A4D, n/2), rows[0][1])

	png := filepath.Join(t.TempDir(), "landing-page.png")
	chromium(t, "--screenshot="+png, "--window-size=1280,1100", srv.URL+"/?refresh=off")
	data, err := os.ReadFile(png)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")), "a PNG")
	if *updateScreenshot {
		require.NoError(t, os.WriteFile(filepath.Join("..", "docs", "landing-page.png"), data, 0o644))
	}
}

// TestLandingPageOnANarrowScreen renders the demo's page 420 px wide, as on a
// phone: the page does not scroll sideways (a wide table scrolls in its own
// box), and the demo's marker is on screen. Headless Chromium keeps windows
// at least 500 px wide, so the page is shown in a 420 px frame.
func TestLandingPageOnANarrowScreen(t *testing.T) {
	testenv.SkipShort(t)
	wl, checker := landingDocs(1000)
	fx := newFixture(t, fixtureOptions{docs: wl, checker: checker, version: "0.2.0", demo: true, cfg: refresh.Config{BatchSize: 500}})
	mux := http.NewServeMux()
	mux.Handle("/", fx.handler)
	// The frame's onload runs before the outer page's load, so before the dump.
	mux.HandleFunc("/narrow", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="/?refresh=off" width="420" height="900" style="border:0" onload="
var d = this.contentDocument, demo = d.getElementById('demo').getBoundingClientRect();
document.body.setAttribute('data-measured', [this.contentWindow.innerWidth, d.documentElement.scrollWidth, Math.round(demo.width), Math.round(demo.right)].join(' '));
document.body.setAttribute('data-text', d.body.innerText.slice(0, 2000));
"></iframe></body></html>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	dom := chromium(t, "--window-size=800,1000", "--dump-dom", srv.URL+"/narrow")
	m := regexp.MustCompile(`data-measured="(\d+) (\d+) (\d+) (\d+)"`).FindStringSubmatch(dom)
	require.NotNil(t, m, "the frame was measured:\n%s", dom)
	viewport, scrollWidth, demoWidth, demoRight := atoi(t, m[1]), atoi(t, m[2]), atoi(t, m[3]), atoi(t, m[4])
	assert.Equal(t, 420, viewport, "the frame's width")
	assert.LessOrEqual(t, scrollWidth, viewport, "the page scrolls sideways at 420 px")
	assert.Positive(t, demoWidth, "the demo marker is laid out")
	assert.LessOrEqual(t, demoRight, viewport, "the demo marker is on screen")
	assert.Contains(t, dom, "Demo: simulated AssureSign, made-up documents")
	assert.Contains(t, dom, "Problems: 3", "the page rendered")
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}
