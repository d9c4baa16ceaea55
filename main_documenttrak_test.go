//go:build unix

package main

// The DocumentTRAK webhook through the real binary: built into a temporary
// directory, run with --refresh.interval=1h against an in-process AssureSign
// simulator, and driven over HTTP as DocumentTRAK would drive it.

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
	endpoint, _ := serveSimulator(t, sim, false)
	return sim, endpoint
}

// dtFiles writes the watch file and the token file; it returns their paths.
func dtFiles(t *testing.T) (watch, token string) {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("documents:\n")
	for i := range dtDocs {
		b.WriteString(entry(dtDocID(i), dtAuthToken(i), ""))
	}
	watch = filepath.Join(dir, "watch.yml")
	require.NoError(t, os.WriteFile(watch, []byte(b.String()), 0o600))
	token = filepath.Join(dir, "documenttrak-token")
	require.NoError(t, os.WriteFile(token, []byte("  "+dtToken+"\n"), 0o600))
	return watch, token
}

// dtSecrets is the bearer token: no answer, scrape or log line may hold it.
var dtSecrets = testenv.NewSecrets(testenv.FragmentLen, dtToken)

type dtExporter struct {
	*testenv.Exporter
	t *testing.T
}

// dtRunExporter starts the binary and waits until it is ready.
func dtRunExporter(t *testing.T, listenAddress string, args ...string) *dtExporter {
	t.Helper()
	if listenAddress == "" {
		listenAddress = "127.0.0.1:0"
	}
	args = append([]string{"--web.listen-address=" + listenAddress, "--log.level=debug"}, args...)
	e := &dtExporter{t: t, Exporter: testenv.ExporterOptions{Env: []string{"ASSURESIGN_CONTEXT_IDENTIFIER=" + dtContext}}.Start(t, args...)}
	testenv.WaitHTTP(t, e.URL+"/-/ready", http.StatusOK, 20*time.Second)
	return e
}

// stop ends the exporter with SIGTERM and returns its output.
func (e *dtExporter) stop() string {
	if !e.Stop(10 * time.Second) {
		e.t.Errorf("the exporter ignored SIGTERM for 10s")
	}
	return e.Output.String()
}

// post sends one notification (or other request) to url and returns the
// answer; the body must not hold the bearer token.
func (e *dtExporter) post(method, url, auth, contentType, body string) *http.Response {
	e.t.Helper()
	header := http.Header{}
	if auth != "" {
		header.Set("Authorization", auth)
	}
	if contentType != "" {
		header.Set("Content-Type", contentType)
	}
	res, out, err := testenv.Fetch(nil, method, url, header, []byte(body))
	require.NoError(e.t, err)
	dtSecrets.AssertNone(e.t, method+" "+url, string(out))
	return res
}

func (e *dtExporter) scrape() string {
	e.t.Helper()
	text, _ := e.Metrics(e.t)
	dtSecrets.AssertNone(e.t, "/metrics", text)
	return text
}

const dtLatencyCount = "assuresign_webhook_notification_to_update_seconds_count"

func dtResults(result string) string {
	return `assuresign_webhook_requests_total{result="` + result + `"}`
}

// waitStatus waits until the document shows status on /metrics, and returns
// how long since start that took.
func (e *dtExporter) waitStatus(start time.Time, id string, status assuresign.Status) time.Duration {
	e.t.Helper()
	testenv.Eventually(e.t, 10*time.Second, id+" "+status.String()+" on /metrics", func() (bool, string) {
		_, x := e.Metrics(e.t)
		return x.Status(id) == status.String(), x.Status(id)
	})
	return time.Since(start)
}

// dtStatus returns the value of the document's state-set sample for status.
func dtStatus(t *testing.T, text, id string, status assuresign.Status) float64 {
	t.Helper()
	x, err := testenv.ParseExposition(text)
	require.NoError(t, err)
	v, ok := x.Find("assuresign_document_status", map[string]string{"document_id": id, "status": status.String()})
	require.True(t, ok, "no %s sample for %s", status, id)
	return v
}

func TestDocumentTRAKBinary(t *testing.T) {
	testenv.SkipShort(t)

	t.Run("notifications", func(t *testing.T) {
		sim, endpoint := dtSimulator(t)
		watch, token := dtFiles(t)
		e := dtRunExporter(t, "",
			"--watch.file="+watch, "--assuresign.endpoint="+endpoint, "--assuresign.max-retries=0",
			"--refresh.interval=1h", "--webhook.bearer-token-file="+token)
		url := e.URL + dtPath
		bearer := "Bearer " + dtToken

		before := e.scrape()
		for i := range dtDocs {
			require.Equal(t, 1.0, dtStatus(t, before, dtDocID(i), assuresign.StatusSigningStepInProgress))
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
			resp := e.post(http.MethodPost, url, bearer, tc.contentType, tc.body)
			require.Equal(t, http.StatusAccepted, resp.StatusCode, tc.name)
			took := e.waitStatus(start, id, tc.to)
			// Only the notification can explain the change (rounds are an hour
			// apart); its latency is a figure of BenchmarkNotificationToMetrics.
			t.Logf("binary: %s notification to %s in /metrics after %s", tc.name, tc.to, took)
			body := e.scrape()
			assert.Equal(t, float64(dtBoolInt(tc.to == assuresign.StatusCompleted)), dtStatus(t, body, id, assuresign.StatusCompleted), tc.name)
			assert.Equal(t, count0+1, testenv.Sample(t, body, dtLatencyCount), "%s: notification-to-update histogram count", tc.name)
		}
		// One request per notification, filled with the other documents:
		// from the first notification on push is trusted, and closed ones
		// ride along too (their daily check, at no extra request).
		assert.Equal(t, []int{3, 3, 3}, sim.Stats().DocumentsPerRequest, "one request per notification")

		// Every other answer.
		resp := e.post(http.MethodPost, url, bearer, "application/json", `{"documentId":"0A0A0A0A-0000-4000-8000-000000000000"}`)
		assert.Equal(t, http.StatusAccepted, resp.StatusCode, "a document not watched: accepted so DocumentTRAK does not retry")
		for _, auth := range []string{"", "Bearer wrong-" + dtToken, "Basic " + base64.StdEncoding.EncodeToString([]byte("documenttrak:"+dtToken)), dtToken} {
			resp := e.post(http.MethodPost, url, auth, "application/json", `{"documentId":"`+dtDocID(0)+`"}`)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			assert.Equal(t, "Bearer", resp.Header.Get("WWW-Authenticate"))
		}
		resp = e.post(http.MethodPost, url, bearer, "application/json", `{"event":"completed"}`)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "no document id")
		resp = e.post(http.MethodPost, url, bearer, "application/xml", `<n><DocumentID>[Document ID]</DocumentID></n>`)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "an unfilled merge field")
		resp = e.post(http.MethodPost, url, bearer, "application/json", `{"pad":"`+strings.Repeat("x", 64<<10)+`","documentId":"`+dtDocID(0)+`"}`)
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		for _, method := range []string{http.MethodGet, http.MethodPut} {
			resp := e.post(method, url, bearer, "application/json", `{"documentId":"`+dtDocID(0)+`"}`)
			assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, method)
			assert.Equal(t, http.MethodPost, resp.Header.Get("Allow"))
		}

		body := e.scrape()
		for result, want := range map[string]float64{
			"accepted": 3, "unwatched": 1, "unauthorized": 4, "bad_request": 2, "too_large": 1, "method_not_allowed": 2,
		} {
			assert.Equal(t, want, testenv.Sample(t, body, dtResults(result)), result)
		}
		assert.Equal(t, []int{3, 3, 3}, sim.Stats().DocumentsPerRequest, "refused and unwatched notifications ask AssureSign nothing")

		logs := e.stop()
		require.Contains(t, logs, "level=DEBUG", "the exporter logged at debug level")
		require.Contains(t, logs, `msg="DocumentTRAK notification refused"`)
		require.Contains(t, logs, `msg="DocumentTRAK notification"`)
		dtSecrets.AssertNone(t, "the log", logs)
	})

	t.Run("disabled", func(t *testing.T) {
		_, endpoint := dtSimulator(t)
		watch, _ := dtFiles(t)
		e := dtRunExporter(t, "", "--watch.file="+watch, "--assuresign.endpoint="+endpoint, "--refresh.interval=1h")
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			resp := e.post(method, e.URL+dtPath, "Bearer "+dtToken, "application/json", `{"documentId":"`+dtDocID(0)+`"}`)
			assert.Equal(t, http.StatusNotFound, resp.StatusCode, method)
		}
		_, x := e.Metrics(t)
		assert.NotContains(t, x.Families, "assuresign_webhook_requests_total")
		assert.NotContains(t, x.Families, "assuresign_webhook_notification_to_update_seconds", "the latency histogram exists only with the webhook on")
	})

	// With basic auth on the main listener, the webhook gets its own address.
	t.Run("own_listener", func(t *testing.T) {
		sim, endpoint := dtSimulator(t)
		watch, token := dtFiles(t)
		webhookAddress := testenv.FreeAddr(t)
		e := dtRunExporter(t, testenv.FreeAddr(t),
			"--watch.file="+watch, "--assuresign.endpoint="+endpoint, "--refresh.interval=1h",
			"--webhook.bearer-token-file="+token, "--webhook.listen-address="+webhookAddress)
		resp := e.post(http.MethodPost, e.URL+dtPath, "Bearer "+dtToken, "application/json", `{"documentId":"`+dtDocID(0)+`"}`)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "not on the main listener")
		assert.Contains(t, e.Output.String(), "the webhook's own listener serves plain HTTP", "no TLS on the webhook's listener is warned about")

		require.True(t, sim.Update(dtDocID(0), func(d *simulator.Document) { d.Status = assuresign.StatusExpired }))
		// The second listener may start a moment after the first.
		testenv.WaitHTTP(t, "http://"+webhookAddress+dtPath, http.StatusMethodNotAllowed, 10*time.Second)
		start := time.Now()
		resp = e.post(http.MethodPost, "http://"+webhookAddress+dtPath, "Bearer "+dtToken, "application/json", `{"documentId":"`+dtDocID(0)+`"}`)
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		took := e.waitStatus(start, dtDocID(0), assuresign.StatusExpired)
		t.Logf("binary, own webhook listener: Expired in /metrics after %s", took)
		dtSecrets.AssertNone(t, "the log", e.stop())
	})
}

func dtBoolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
