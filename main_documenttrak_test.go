package main

// The DocumentTRAK webhook through the real binary: built into a temporary
// directory, run with --refresh.interval=1h against an in-process AssureSign
// simulator, and driven over HTTP as DocumentTRAK would drive it.

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

const (
	dtToken   = "dt-bin-bearer-Hx4cJ8rN2qV6tK9s" // distinctive, so a leak is easy to find
	dtContext = "06C4A84A-693C-46CB-8DF2-40A8215AA056"
	dtPath    = "/webhooks/documenttrak"
	dtDocs    = 3
)

func dtDocID(i int) string     { return fmt.Sprintf("B1C0%04X-1111-4222-8333-%012X", i, i) }
func dtAuthToken(i int) string { return fmt.Sprintf("B1E0%04X-5555-4666-8777-%012X", i, i) }

func dtStatusLine(id string, st assuresign.Status, value int) string {
	return fmt.Sprintf("assuresign_document_status{document_id=%q,status=%q} %d\n", id, st.String(), value)
}

// dtSimulator serves an account holding dtDocs documents, all in progress.
func dtSimulator(t *testing.T) (*simulator.Simulator, string) {
	t.Helper()
	sim := simulator.New(dtContext)
	for i := range dtDocs {
		sim.Put(simulator.Document{
			ID: dtDocID(i), AuthToken: dtAuthToken(i), Status: assuresign.StatusSigningStepInProgress, Step: 1,
			StatusDate: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC),
		})
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

// dtFiles writes the watch file and the token file; it returns their paths.
func dtFiles(t *testing.T) (watch, token string) {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("documents:\n")
	for i := range dtDocs {
		fmt.Fprintf(&b, "  - id: %s\n    auth_token: %s\n", dtDocID(i), dtAuthToken(i))
	}
	watch = filepath.Join(dir, "watch.yml")
	require.NoError(t, os.WriteFile(watch, []byte(b.String()), 0o600))
	token = filepath.Join(dir, "documenttrak-token")
	require.NoError(t, os.WriteFile(token, []byte("  "+dtToken+"\n"), 0o600))
	return watch, token
}

type dtExporter struct {
	*testenv.Process
	t    *testing.T
	base string

	mu      sync.Mutex
	answers []string // every body the exporter sent us, searched for the token
}

// dtRunExporter starts the binary and waits until it is ready. When
// listenAddress is empty it listens on a free port and finds it in the log.
func dtRunExporter(t *testing.T, bin, listenAddress string, args ...string) *dtExporter {
	t.Helper()
	if listenAddress == "" {
		listenAddress = "127.0.0.1:0"
	}
	args = append([]string{"--web.listen-address=" + listenAddress, "--log.level=debug"}, args...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "ASSURESIGN_CONTEXT_IDENTIFIER="+dtContext)
	e := &dtExporter{t: t, Process: testenv.Start(t, cmd)}
	t.Cleanup(func() { e.stop() })

	addr := e.WaitOutput(t, testenv.ExporterListening, 20*time.Second)[1]
	if !strings.HasSuffix(listenAddress, ":0") {
		addr = listenAddress
	}
	e.base = "http://" + addr
	testenv.WaitHTTP(t, e.base+"/-/ready", http.StatusOK, 20*time.Second)
	return e
}

// stop ends the exporter with SIGTERM (a kill if it lingers) and returns its output.
func (e *dtExporter) stop() string {
	if !e.Stop(10 * time.Second) {
		e.t.Errorf("the exporter ignored SIGTERM for 10s")
	}
	return e.Output.String()
}

func (e *dtExporter) keep(body string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.answers = append(e.answers, body)
}

// do sends one request to the exporter and returns the answer.
func (e *dtExporter) do(method, url, auth, contentType, body string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(e.t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	e.keep(string(b))
	return resp, string(b)
}

func (e *dtExporter) scrape() string {
	e.t.Helper()
	resp, body := e.do(http.MethodGet, e.base+"/metrics", "", "", "")
	require.Equal(e.t, http.StatusOK, resp.StatusCode)
	return body
}

const dtLatencyCount = "assuresign_webhook_notification_to_update_seconds_count"

func dtResults(result string) string {
	return `assuresign_webhook_requests_total{result="` + result + `"}`
}

// waitFor polls /metrics until it holds every want; it returns how long since
// start that took, and false if it gave up after limit.
func (e *dtExporter) waitFor(start time.Time, limit time.Duration, want ...string) (time.Duration, bool) {
	e.t.Helper()
	for {
		body := e.scrape()
		all := true
		for _, w := range want {
			all = all && strings.Contains(body, w)
		}
		if all {
			return time.Since(start), true
		}
		if time.Since(start) > limit {
			return time.Since(start), false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDocumentTRAKBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the exporter binary")
	}
	bin := testenv.BuildBinary(t, testenv.ExporterPkg)

	t.Run("notifications", func(t *testing.T) {
		sim, endpoint := dtSimulator(t)
		watch, token := dtFiles(t)
		e := dtRunExporter(t, bin, "",
			"--watch.file="+watch, "--assuresign.endpoint="+endpoint, "--assuresign.max-retries=0",
			"--refresh.interval=1h", "--webhook.bearer-token-file="+token)
		url := e.base + dtPath
		bearer := "Bearer " + dtToken

		before := e.scrape()
		for i := range dtDocs {
			require.Contains(t, before, dtStatusLine(dtDocID(i), assuresign.StatusSigningStepInProgress, 1))
		}
		require.Equal(t, []int{dtDocs}, sim.Stats().DocumentsPerRequest, "the first round")
		sim.ResetStats()

		// One status change and one notification each, in the three body
		// shapes. The JSON one claims Completed while AssureSign says
		// Declined: the claim is ignored.
		for i, tc := range []struct {
			name, contentType, body string
			to                      assuresign.Status
		}{
			{"json", "application/json", `{"documentId":"` + strings.ToLower(dtDocID(0)) + `","status":"Completed"}`, assuresign.StatusDeclined},
			{"xml", "text/xml; charset=utf-8", `<?xml version="1.0"?><DocumentTRAK><Event>cancelled</Event><DocumentId>` + dtDocID(1) + `</DocumentId></DocumentTRAK>`, assuresign.StatusCancelled},
			{"form", "application/x-www-form-urlencoded", "event=completed&document_id=" + dtDocID(2), assuresign.StatusCompleted},
		} {
			id := dtDocID(i)
			count0 := testenv.Sample(t, e.scrape(), dtLatencyCount)
			require.True(t, sim.Update(id, func(d *simulator.Document) {
				d.Status, d.Step, d.StatusDate = tc.to, 0, d.StatusDate.Add(time.Hour)
			}))
			start := time.Now()
			resp, _ := e.do(http.MethodPost, url, bearer, tc.contentType, tc.body)
			require.Equal(t, http.StatusAccepted, resp.StatusCode, tc.name)
			took, ok := e.waitFor(start, 5*time.Second, dtStatusLine(id, tc.to, 1))
			require.True(t, ok, "%s: %s never reached /metrics", tc.name, tc.to)
			t.Logf("binary: %s notification to %s in /metrics after %s", tc.name, tc.to, took)
			assert.Less(t, took, time.Second, tc.name)
			body := e.scrape()
			assert.Contains(t, body, dtStatusLine(id, assuresign.StatusCompleted, dtBoolInt(tc.to == assuresign.StatusCompleted)))
			assert.Equal(t, count0+1, testenv.Sample(t, body, dtLatencyCount), "%s: notification-to-update histogram count", tc.name)
		}
		assert.Equal(t, []int{1, 1, 1}, sim.Stats().DocumentsPerRequest, "one check per notification")

		// Every other answer.
		resp, _ := e.do(http.MethodPost, url, bearer, "application/json", `{"documentId":"0A0A0A0A-0000-4000-8000-000000000000"}`)
		assert.Equal(t, http.StatusAccepted, resp.StatusCode, "a document not watched: accepted so DocumentTRAK does not retry")
		for _, auth := range []string{"", "Bearer wrong-" + dtToken, "Basic " + base64.StdEncoding.EncodeToString([]byte("documenttrak:"+dtToken)), dtToken} {
			resp, _ := e.do(http.MethodPost, url, auth, "application/json", `{"documentId":"`+dtDocID(0)+`"}`)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			assert.Equal(t, "Bearer", resp.Header.Get("WWW-Authenticate"))
		}
		resp, _ = e.do(http.MethodPost, url, bearer, "application/json", `{"event":"completed"}`)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "no document id")
		resp, _ = e.do(http.MethodPost, url, bearer, "application/xml", `<n><DocumentID>[Document ID]</DocumentID></n>`)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "an unfilled merge field")
		resp, _ = e.do(http.MethodPost, url, bearer, "application/json", `{"pad":"`+strings.Repeat("x", 64<<10)+`","documentId":"`+dtDocID(0)+`"}`)
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		for _, method := range []string{http.MethodGet, http.MethodPut} {
			resp, _ := e.do(method, url, bearer, "application/json", `{"documentId":"`+dtDocID(0)+`"}`)
			assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, method)
			assert.Equal(t, http.MethodPost, resp.Header.Get("Allow"))
		}

		body := e.scrape()
		for result, want := range map[string]float64{
			"accepted": 3, "unwatched": 1, "unauthorized": 4, "bad_request": 2, "too_large": 1, "method_not_allowed": 2,
		} {
			assert.Equal(t, want, testenv.Sample(t, body, dtResults(result)), result)
		}
		assert.Equal(t, []int{1, 1, 1}, sim.Stats().DocumentsPerRequest, "refused and unwatched notifications ask AssureSign nothing")

		logs := e.stop()
		require.Contains(t, logs, "level=DEBUG", "the exporter logged at debug level")
		require.Contains(t, logs, `msg="DocumentTRAK notification refused"`)
		require.Contains(t, logs, `msg="DocumentTRAK notification"`)
		assert.NotContains(t, logs, dtToken, "the bearer token is in the log")
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, answer := range e.answers {
			assert.NotContains(t, answer, dtToken, "the bearer token is in an answer or /metrics")
		}
	})

	t.Run("disabled", func(t *testing.T) {
		_, endpoint := dtSimulator(t)
		watch, _ := dtFiles(t)
		e := dtRunExporter(t, bin, "", "--watch.file="+watch, "--assuresign.endpoint="+endpoint, "--refresh.interval=1h")
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			resp, _ := e.do(method, e.base+dtPath, "Bearer "+dtToken, "application/json", `{"documentId":"`+dtDocID(0)+`"}`)
			assert.Equal(t, http.StatusNotFound, resp.StatusCode, method)
		}
		assert.NotContains(t, e.scrape(), "assuresign_webhook_requests_total")
	})

	// With basic auth on the main listener, the webhook gets its own address.
	t.Run("own_listener", func(t *testing.T) {
		sim, endpoint := dtSimulator(t)
		watch, token := dtFiles(t)
		webhookAddress := testenv.FreeAddr(t)
		e := dtRunExporter(t, bin, testenv.FreeAddr(t),
			"--watch.file="+watch, "--assuresign.endpoint="+endpoint, "--refresh.interval=1h",
			"--webhook.bearer-token-file="+token, "--webhook.listen-address="+webhookAddress)
		resp, _ := e.do(http.MethodPost, e.base+dtPath, "Bearer "+dtToken, "application/json", `{"documentId":"`+dtDocID(0)+`"}`)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "not on the main listener")

		require.True(t, sim.Update(dtDocID(0), func(d *simulator.Document) { d.Status = assuresign.StatusExpired }))
		require.Eventually(t, func() bool { // the second listener may start a moment after the first
			resp, err := http.Post("http://"+webhookAddress+dtPath, "text/plain", strings.NewReader("x"))
			if err == nil {
				resp.Body.Close()
			}
			return err == nil
		}, 10*time.Second, 10*time.Millisecond)
		start := time.Now()
		resp, _ = e.do(http.MethodPost, "http://"+webhookAddress+dtPath, "Bearer "+dtToken, "application/json", `{"documentId":"`+dtDocID(0)+`"}`)
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		took, ok := e.waitFor(start, 5*time.Second, dtStatusLine(dtDocID(0), assuresign.StatusExpired, 1))
		require.True(t, ok, "Expired never reached /metrics")
		t.Logf("binary, own webhook listener: Expired in /metrics after %s", took)
		assert.Less(t, took, time.Second)
		assert.NotContains(t, e.stop(), dtToken)
	})
}

func dtBoolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
