package server

import (
	"bytes"
	"context"
	"flag"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
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
	fx := newFixture(t, fixtureOptions{docs: wl, checker: checker, version: "0.2.0", cfg: collector.RefreshConfig{BatchSize: 500, Concurrency: 4}})
	srv := httptest.NewServer(fx.handler)
	t.Cleanup(srv.Close)
	declined, stuck := testGUID(0x1A4D, n-1), testGUID(0x1A4D, n-2)

	dom := chromium(t, "--dump-dom", srv.URL+"/")
	assert.Contains(t, dom, "10000 documents by status")
	assert.Regexp(t, `<b>1</b>Declined</a>`, dom)
	assert.Contains(t, dom, "<h2>Problems: 3</h2>")
	problems := regexp.MustCompile(`<tr class="problem">.*?</tr>`).FindAllString(dom, -1)
	require.Len(t, problems, 3)
	assert.Contains(t, problems[0], declined, "the declined document is at the top")
	assert.Contains(t, problems[0], "Declined 3 days ago")
	assert.Contains(t, problems[1], stuck)
	assert.Contains(t, dom, "Showing 1–100 of 10000, by id.")
	testenv.KnownSecrets.AssertNone(t, "the page in the browser", dom)

	found := chromium(t, "--dump-dom", srv.URL+"/?q=wayne")
	assert.Contains(t, found, "Showing 1–1 of 1 matching, by id.")
	rows := regexp.MustCompile(`<tr><td class="id">([0-9A-F-]{36})</td>`).FindAllStringSubmatch(found, -1)
	require.Len(t, rows, 1)
	assert.Equal(t, testGUID(0x1A4D, n/2), rows[0][1])

	png := filepath.Join(t.TempDir(), "landing-page.png")
	chromium(t, "--screenshot="+png, "--window-size=1280,1100", srv.URL+"/?refresh=off")
	data, err := os.ReadFile(png)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")), "a PNG")
	if *updateScreenshot {
		require.NoError(t, os.WriteFile(filepath.Join("..", "docs", "landing-page.png"), data, 0o644))
	}
}
