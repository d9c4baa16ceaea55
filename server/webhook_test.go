package server

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

const (
	whToken   = "tok-Zq8vX2pL9mN4rT7w" // distinctive, so leaks are easy to find
	whOld     = "old-Hk3jD6sF1gA5yU0e"
	whID      = "9f3c2a71-4b8e-4d2a-a1c5-0e6f7b8c9d10"
	whIDUpper = "9F3C2A71-4B8E-4D2A-A1C5-0E6F7B8C9D10"
)

type whCall struct {
	id       string
	received time.Time
}

// whTrigger records calls; ids in watched are on the watch list.
type whTrigger struct {
	mu      sync.Mutex
	watched map[string]bool
	calls   []whCall
}

func (f *whTrigger) CheckNow(id string, received time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, whCall{id, received})
	return f.watched[id]
}

func (f *whTrigger) recorded() []whCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]whCall(nil), f.calls...)
}

type whFixture struct {
	h       *WebhookHandler
	trigger *whTrigger
	reg     *prometheus.Registry
	logs    *bytes.Buffer
	file    string
	bodies  []string // every response body, to search for leaks
}

func newWHFixture(t *testing.T) *whFixture {
	t.Helper()
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte("\n  "+whToken+"  \n"), 0o600))
	fx := &whFixture{
		trigger: &whTrigger{watched: map[string]bool{whIDUpper: true}},
		reg:     prometheus.NewRegistry(),
		logs:    &bytes.Buffer{},
		file:    file,
	}
	logger := slog.New(slog.NewTextHandler(fx.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := NewWebhookHandler(file, fx.trigger, nil, fx.reg, logger)
	require.NoError(t, err)
	fx.h = h
	return fx
}

func (fx *whFixture) do(method, auth, contentType, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/webhook", strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	fx.h.ServeHTTP(rec, req)
	fx.bodies = append(fx.bodies, rec.Body.String())
	return rec
}

func (fx *whFixture) count(result string) float64 {
	return testutil.ToFloat64(fx.h.requests.WithLabelValues(result))
}

func TestWebhookAcceptsEachFormat(t *testing.T) {
	bodies := []struct{ name, ct, body string }{
		{"json", "application/json", `{"event":"completed","documentId":"` + whID + `"}`},
		{"xml", "application/xml", `<Notification><DocumentID>` + whID + `</DocumentID></Notification>`},
		{"form", "application/x-www-form-urlencoded", "event=completed&document_id=" + whID},
	}
	for _, b := range bodies {
		t.Run(b.name, func(t *testing.T) {
			fx := newWHFixture(t)
			fx.h.now = func() time.Time { return time.Unix(1700000000, 0) }
			rec := fx.do(http.MethodPost, "Bearer "+whToken, b.ct, b.body)
			assert.Equal(t, http.StatusAccepted, rec.Code)
			assert.Equal(t, []whCall{{whIDUpper, time.Unix(1700000000, 0)}}, fx.trigger.recorded())
			assert.Equal(t, 1.0, fx.count("accepted"))
		})
	}
}

func TestWebhookMetricsStartAtZero(t *testing.T) {
	fx := newWHFixture(t)
	for _, r := range webhookResults {
		assert.Equal(t, 0.0, fx.count(r), r)
	}
	n, err := testutil.GatherAndCount(fx.reg, "assuresign_webhook_requests_total")
	require.NoError(t, err)
	assert.Equal(t, len(webhookResults), n)
}

func TestWebhookUnauthorized(t *testing.T) {
	fx := newWHFixture(t)
	body := `{"documentId":"` + whID + `"}`
	for _, auth := range []string{
		"",
		"Bearer",
		"Bearer ",
		"Bearer " + whToken + "x",
		"Bearer " + whToken[:len(whToken)-1],
		"Basic " + whToken,
		whToken,
	} {
		rec := fx.do(http.MethodPost, auth, "application/json", body)
		assert.Equal(t, http.StatusUnauthorized, rec.Code, "auth %q", auth)
		assert.Equal(t, "Bearer", rec.Header().Get("WWW-Authenticate"))
	}
	assert.Empty(t, fx.trigger.recorded())
	assert.Equal(t, 7.0, fx.count("unauthorized"))

	// The scheme is case-insensitive.
	rec := fx.do(http.MethodPost, "bearer "+whToken, "application/json", body)
	assert.Equal(t, http.StatusAccepted, rec.Code)
}

func TestWebhookBadRequest(t *testing.T) {
	fx := newWHFixture(t)
	for _, b := range []struct{ ct, body string }{
		{"application/json", `{"documentId":"not-a-guid"}`},
		{"application/json", `{"documentId":`},
		{"application/xml", `<n><Other>x</Other></n>`},
		{"", ""},
	} {
		rec := fx.do(http.MethodPost, "Bearer "+whToken, b.ct, b.body)
		assert.Equal(t, http.StatusBadRequest, rec.Code)
		assert.Equal(t, "text/plain; charset=utf-8", rec.Header().Get("Content-Type"))
		assert.Less(t, rec.Body.Len(), 100)
		assert.NotContains(t, rec.Body.String(), "not-a-guid")
	}
	assert.Empty(t, fx.trigger.recorded())
	assert.Equal(t, 4.0, fx.count("bad_request"))
}

func TestWebhookTooLarge(t *testing.T) {
	fx := newWHFixture(t)
	// The id comes first: a parser reading a prefix would have found it.
	body := `{"documentId":"` + whID + `","pad":"` + strings.Repeat("a", webhookMaxBody) + `"}`
	rec := fx.do(http.MethodPost, "Bearer "+whToken, "application/json", body)
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	assert.Empty(t, fx.trigger.recorded())
	assert.Equal(t, 1.0, fx.count("too_large"))

	// Exactly at the limit is fine.
	body = `{"documentId":"` + whID + `"}`
	body += strings.Repeat(" ", webhookMaxBody-len(body))
	rec = fx.do(http.MethodPost, "Bearer "+whToken, "application/json", body)
	assert.Equal(t, http.StatusAccepted, rec.Code)
}

func TestWebhookMethodNotAllowed(t *testing.T) {
	fx := newWHFixture(t)
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodHead, http.MethodDelete} {
		rec := fx.do(m, "Bearer "+whToken, "application/json", `{"documentId":"`+whID+`"}`)
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, m)
		assert.Equal(t, "POST", rec.Header().Get("Allow"))
	}
	assert.Empty(t, fx.trigger.recorded())
	assert.Equal(t, 5.0, fx.count("method_not_allowed"))
}

func TestWebhookUnwatched(t *testing.T) {
	fx := newWHFixture(t)
	other := "00000000-1111-2222-3333-444444444444"
	rec := fx.do(http.MethodPost, "Bearer "+whToken, "application/json", `{"documentId":"`+other+`"}`)
	assert.Equal(t, http.StatusAccepted, rec.Code)
	assert.Equal(t, 1.0, fx.count("unwatched"))
	assert.Equal(t, 0.0, fx.count("accepted"))
	assert.Contains(t, fx.logs.String(), "level=DEBUG")
	assert.Contains(t, fx.logs.String(), "result=unwatched")
}

// The body's claims are not trusted: the only effect is a CheckNow for the id.
func TestWebhookIgnoresStatusInBody(t *testing.T) {
	fx := newWHFixture(t)
	received := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	fx.h.now = func() time.Time { return received }
	body := `{"documentId":"` + whID + `","status":"Completed","StatusType":"Cancelled","statusDate":"2008-03-19T11:24:08Z"}`
	rec := fx.do(http.MethodPost, "Bearer "+whToken, "application/json", body)
	assert.Equal(t, http.StatusAccepted, rec.Code)
	assert.Equal(t, []whCall{{id: whIDUpper, received: received}}, fx.trigger.recorded())
}

func TestWebhookReload(t *testing.T) {
	fx := newWHFixture(t)
	post := func(tok string) int {
		return fx.do(http.MethodPost, "Bearer "+tok, "application/json", `{"documentId":"`+whID+`"}`).Code
	}
	require.Equal(t, http.StatusAccepted, post(whToken))

	require.NoError(t, os.WriteFile(fx.file, []byte(whOld+"\n"), 0o600))
	require.NoError(t, fx.h.Reload())
	assert.Equal(t, http.StatusAccepted, post(whOld))
	assert.Equal(t, http.StatusUnauthorized, post(whToken))

	// Broken files keep the token in use, and errors name the file only.
	broken := map[string][]byte{
		"empty":         {},
		"blank":         []byte(" \n\t\n"),
		"two lines":     []byte(whToken + "\n" + whToken + "\n"),
		"control char":  []byte(whToken + "\x00"),
		"over 4 KiB":    bytes.Repeat([]byte(whToken), 4096/len(whToken)+1),
		"missing (nil)": nil,
	}
	for name, content := range broken {
		if content == nil {
			require.NoError(t, os.Remove(fx.file))
		} else {
			require.NoError(t, os.WriteFile(fx.file, content, 0o600))
		}
		err := fx.h.Reload()
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), fx.file, name)
		assert.NotContains(t, err.Error(), whToken, name)
		assert.Equal(t, http.StatusAccepted, post(whOld), name)
	}
}

func TestNewWebhookHandlerErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	_, err := NewWebhookHandler(empty, &whTrigger{}, nil, prometheus.NewRegistry(), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), empty)

	_, err = NewWebhookHandler(filepath.Join(dir, "absent"), &whTrigger{}, nil, prometheus.NewRegistry(), nil)
	require.Error(t, err)

	ok := filepath.Join(dir, "ok")
	require.NoError(t, os.WriteFile(ok, []byte(whToken), 0o600))
	_, err = NewWebhookHandler(ok, nil, nil, prometheus.NewRegistry(), nil)
	require.Error(t, err)

	// A nil registerer is allowed (tests, or metrics served elsewhere).
	_, err = NewWebhookHandler(ok, &whTrigger{}, nil, nil, nil)
	require.NoError(t, err)
}

// Every path runs with debug logging; the configured and the presented tokens
// must appear in no log line, metric or response body.
func TestWebhookTokenNeverLeaks(t *testing.T) {
	fx := newWHFixture(t)
	good := `{"documentId":"` + whID + `"}`
	fx.do(http.MethodGet, "Bearer "+whToken, "application/json", good)
	fx.do(http.MethodPost, "", "application/json", good)
	fx.do(http.MethodPost, "Bearer "+whOld, "application/json", good)
	fx.do(http.MethodPost, "Bearer "+whToken, "application/json", good)
	fx.do(http.MethodPost, "Bearer "+whToken, "application/json", `{"documentId":"00000000-0000-0000-0000-000000000000"}`)
	fx.do(http.MethodPost, "Bearer "+whToken, "application/json", `{"documentId":"`+whToken+`"}`)
	fx.do(http.MethodPost, "Bearer "+whToken, "application/json", strings.Repeat(" ", webhookMaxBody+1))
	require.NoError(t, os.WriteFile(fx.file, []byte(whOld), 0o600))
	require.NoError(t, fx.h.Reload())
	fx.do(http.MethodPost, "Bearer "+whToken, "application/json", good)

	require.NotEmpty(t, fx.logs.String())
	var metrics bytes.Buffer
	mfs, err := fx.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		metrics.WriteString(mf.String())
	}
	require.Contains(t, metrics.String(), "assuresign_webhook_requests_total")

	tokens := testenv.NewSecrets(testenv.FragmentLen, whToken, whOld)
	tokens.AssertNone(t, "the debug log", fx.logs.String())
	tokens.AssertNone(t, "the webhook's metrics", metrics.String())
	for _, b := range fx.bodies {
		tokens.AssertNone(t, "a response body", b)
	}
	want := map[string]float64{"unauthorized": 3} // missing, old before reload, new after
	for _, r := range webhookResults {
		n, ok := want[r]
		if !ok {
			n = 1
		}
		assert.Equal(t, n, fx.count(r), r)
	}
}

// Reload races with requests: run under -race.
func TestWebhookReloadConcurrent(t *testing.T) {
	fx := newWHFixture(t)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Go(func() {
			for j := 0; j < 50; j++ {
				req := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(`{"documentId":"`+whID+`"}`))
				req.Header.Set("Authorization", "Bearer "+whToken)
				rec := httptest.NewRecorder()
				fx.h.ServeHTTP(rec, req)
				_, _ = io.Copy(io.Discard, rec.Body)
			}
		})
	}
	for j := 0; j < 50; j++ {
		require.NoError(t, fx.h.Reload())
	}
	wg.Wait()
	assert.Len(t, fx.trigger.recorded(), 200)
}

// A token file saved by an editor that starts it with a UTF-8 byte order mark
// holds the token all the same: the mark is not part of it (before the fix
// every notification was refused with 401, without a word). The token
// redacted is the one accepted, from the same read of the file.
func TestWebhookTokenFileWithBOM(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte("\ufeffs3cret-token\n"), 0o600))
	trigger := &whTrigger{watched: map[string]bool{whIDUpper: true}}
	secrets := assuresign.NewSecrets()
	h, err := NewWebhookHandler(file, trigger, secrets, prometheus.NewRegistry(), nil)
	require.NoError(t, err)
	redacted := func(token string) bool {
		return !strings.Contains(secrets.Redact("a fault echoing "+token+" back"), token)
	}
	assert.True(t, redacted("s3cret-token"), "the token loaded is not redacted")

	post := func(auth string) int {
		req := httptest.NewRequest(http.MethodPost, WebhookPath, strings.NewReader(`{"documentId":"`+whID+`"}`))
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	assert.Equal(t, http.StatusAccepted, post("Bearer s3cret-token"))
	assert.Len(t, trigger.recorded(), 1)
	// The mark is not a way in either.
	assert.Equal(t, http.StatusUnauthorized, post("Bearer \ufeffs3cret-token"))

	// The same holds after a reload.
	require.NoError(t, os.WriteFile(file, []byte("\ufeffn3w-token\r\n"), 0o600))
	require.NoError(t, h.Reload())
	assert.Equal(t, http.StatusAccepted, post("Bearer n3w-token"))
	assert.Equal(t, http.StatusUnauthorized, post("Bearer s3cret-token"))
	assert.True(t, redacted("n3w-token"), "the token reloaded is not redacted")

	// A bad file keeps the old token, in the handler and in the redaction.
	require.NoError(t, os.WriteFile(file, []byte("bad\x01token"), 0o600))
	require.Error(t, h.Reload())
	assert.Equal(t, http.StatusAccepted, post("Bearer n3w-token"))
	assert.True(t, redacted("n3w-token"), "a failed reload dropped the token from the redaction")
}
