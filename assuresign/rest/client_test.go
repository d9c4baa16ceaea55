package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

const (
	envID    = "5B2C9F4E-1A2B-4C3D-8E9F-0A1B2C3D4E5F"
	docOne   = "2CE11EF1-8938-DD11-8735-00065B8CE99B"
	docTwo   = "3DF22F02-9A49-4E22-9846-11176C9DF0AC"
	apiKey   = "K3y-0f-Th3-4P1-Us3r-Wh1ch-1s-S3cr3t"
	ctxID    = "06C4A84A-693C-46CB-8DF2-40A8215AA056"
	apiUser  = "api.user"
	ctxUser  = "jane@example.com"
	docTwoLC = "3df22f02-9a49-4e22-9846-11176c9df0ac"
	liveBody = `{"result": {"envelopeID": "` + envID + `", "status": "iN_PROGRESS", "documentList": [` +
		`{"documentID": "` + docOne + `", "name": "Contract", "status": {"statusType": "signinG_STEP_PROGRESS", "statusDetails": "Step 1"}},` +
		`{"documentID": "` + docTwoLC + `", "name": "Annex", "status": {"statusType": "completed", "statusDetails": ""}}]}}`
)

// fakeAPI is a scripted REST API: auth answers from authAnswer, status
// answers from status (default: liveBody for a valid token).
type fakeAPI struct {
	t          *testing.T
	authCalls  atomic.Int32
	statusHits atomic.Int32
	mu         sync.Mutex
	tokenN     int
	valid      map[string]bool
	authAnswer func(n int) (int, string)                                // status and body of the n-th auth call (from 1)
	status     func(w http.ResponseWriter, r *http.Request, n int) bool // true when it answered
	lastAuth   authRequest
	lastHeader http.Header
}

func newFake(t *testing.T) (*fakeAPI, *httptest.Server) {
	f := &fakeAPI{t: t, valid: map[string]bool{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/auth":
		n := int(f.authCalls.Add(1))
		var ar authRequest
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &ar); err != nil || r.Method != http.MethodPost {
			w.WriteHeader(400)
			return
		}
		f.mu.Lock()
		f.lastAuth = ar
		f.tokenN++
		tok := fmt.Sprintf("tok-%d-abcdefghijklmnop", f.tokenN)
		f.valid[tok] = true
		f.mu.Unlock()
		code, answer := 200, fmt.Sprintf(`{"result": {"token": %q, "expires": %q}}`, tok, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		if f.authAnswer != nil {
			code, answer = f.authAnswer(n)
			answer = strings.ReplaceAll(answer, "TOKEN", tok)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, answer)
	case strings.HasPrefix(r.URL.Path, "/api/envelopes/"):
		n := int(f.statusHits.Add(1))
		f.mu.Lock()
		f.lastHeader = r.Header.Clone()
		ok := f.valid[strings.TrimPrefix(r.Header.Get("Authorization"), "bearer ")]
		f.mu.Unlock()
		if f.status != nil && f.status(w, r, n) {
			return
		}
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, liveBody)
	default:
		w.WriteHeader(404)
	}
}

func (f *fakeAPI) revokeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.valid)
}

func newClient(t *testing.T, srv *httptest.Server, mod ...func(*Config)) *Client {
	cfg := Config{
		BaseURL: srv.URL + "/api", AuthURL: srv.URL + "/auth",
		APIUsername: apiUser, APIKey: apiKey, ContextUsername: ctxUser, ContextIdentifier: ctxID,
		BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	require.NoError(t, err)
	return c
}

func TestEnvelopeStatusLiveShape(t *testing.T) {
	f, srv := newFake(t)
	c := newClient(t, srv)
	st, err := c.EnvelopeStatus(context.Background(), strings.ToLower(envID))
	require.NoError(t, err)
	assert.Equal(t, &EnvelopeStatus{
		EnvelopeID: envID, RawStatus: "iN_PROGRESS", Status: assuresign.StatusSigningStepInProgress,
		Documents: []Document{
			{ID: docOne, Name: "Contract", RawStatus: "signinG_STEP_PROGRESS", Status: assuresign.StatusSigningStepInProgress, StatusDetails: "Step 1", Step: 1},
			{ID: docTwo, Name: "Annex", RawStatus: "completed", Status: assuresign.StatusCompleted},
		},
	}, st)
	// The wire: the token request and the status request's headers.
	assert.Equal(t, apiUser, f.lastAuth.Request.APIUsername)
	assert.Equal(t, apiKey, f.lastAuth.Request.Key)
	assert.Equal(t, ctxUser, f.lastAuth.Request.ContextUsername)
	assert.Equal(t, 60, f.lastAuth.Request.SessionLengthInMinutes)
	assert.Equal(t, "bearer tok-1-abcdefghijklmnop", f.lastHeader.Get("Authorization"))
	assert.Equal(t, "application/json", f.lastHeader.Get("Accept"))
	assert.Equal(t, ctxUser+":"+ctxID, f.lastHeader.Get("X-AS-UserContext"))
	assert.WithinDuration(t, time.Now().Add(time.Hour), c.TokenExpiry(), 5*time.Second)

	// Without a ContextIdentifier no user context is sent; the token is reused.
	c2 := newClient(t, srv, func(cfg *Config) { cfg.ContextIdentifier = "" })
	_, err = c2.EnvelopeStatus(context.Background(), envID)
	require.NoError(t, err)
	_, err = c2.EnvelopeStatus(context.Background(), envID)
	require.NoError(t, err)
	assert.Empty(t, f.lastHeader.Values("X-AS-UserContext"))
	assert.EqualValues(t, 2, f.authCalls.Load(), "one token per client, reused")
}

// The history's dates are read as ISO 8601 (the format is not confirmed),
// one without an offset as UTC; the newest of the envelope's and its
// documents' events wins, and an unreadable one is passed over.
func TestParseEnvelopeHistory(t *testing.T) {
	body := `{"envelopeID": "` + strings.ToLower(envID) + `", "envelopeHistoryEvents": [
		{"id": 1, "date": "2026-12-01T09:30:00.1234567-05:00", "details": "Document 1 declined"},
		{"id": 2, "date": "yesterday", "details": "?"}],
		"documentList": [{"history": [{"id": 3, "date": "2026-12-01T14:00:00", "details": "viewed"}]}, {"history": []}]}`
	h, err := ParseEnvelopeHistory([]byte(body))
	require.NoError(t, err)
	assert.Equal(t, envID, h.EnvelopeID)
	assert.Equal(t, time.Date(2026, 12, 1, 14, 30, 0, 123456700, time.UTC), h.Newest.UTC(), "the declined event, 14:30 UTC, after 14:00")
	require.Len(t, h.Documents, 2, "one date per documentList entry")
	assert.Equal(t, time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC), h.Documents[0].UTC(), "the first document's own history")
	assert.Zero(t, h.Documents[1], "an empty history")

	h, err = ParseEnvelopeHistory([]byte(`{"envelopeID": "` + envID + `", "envelopeHistoryEvents": [{"date": ""}]}`))
	require.NoError(t, err)
	assert.Zero(t, h.Newest, "no readable date")
	for _, bad := range []string{`{"result": {"envelopeID": "` + envID + `"}}`, `{"envelopeID": "x"}`, `[]`} {
		_, err := ParseEnvelopeHistory([]byte(bad))
		var e *assuresign.Error
		require.ErrorAs(t, err, &e, bad)
		assert.Equal(t, assuresign.KindMalformed, e.Kind, bad)
	}
}

func TestTokenAnswerShapes(t *testing.T) {
	for name, body := range map[string]string{
		"result wrapper": `{"result": {"token": "TOKEN", "expires": "2099-01-01T00:00:00Z"}}`,
		"top level":      `{"token": "TOKEN", "expires": "2099-01-01T00:00:00Z"}`,
		"no offset":      `{"token": "TOKEN", "expires": "2099-01-01T00:00:00"}`,
		"no expiry":      `{"token": "TOKEN"}`,
	} {
		t.Run(name, func(t *testing.T) {
			f, srv := newFake(t)
			f.authAnswer = func(int) (int, string) { return 200, body }
			c := newClient(t, srv)
			before := time.Now()
			_, err := c.EnvelopeStatus(context.Background(), envID)
			require.NoError(t, err)
			// A stated expiry beyond the asked-for hour is bounded by it.
			assert.WithinDuration(t, before.Add(time.Hour), c.TokenExpiry(), 5*time.Second)
		})
	}
	t.Run("stated expiry sooner", func(t *testing.T) {
		f, srv := newFake(t)
		exp := time.Now().Add(30 * time.Minute).UTC().Truncate(time.Second)
		f.authAnswer = func(int) (int, string) {
			return 200, `{"token": "TOKEN", "expires": "` + exp.Format(time.RFC3339) + `"}`
		}
		c := newClient(t, srv)
		_, err := c.EnvelopeStatus(context.Background(), envID)
		require.NoError(t, err)
		assert.True(t, exp.Equal(c.TokenExpiry()), "%v != %v", exp, c.TokenExpiry())
	})
	for name, body := range map[string]string{
		"no token": `{"result": {"expires": "2099-01-01T00:00:00Z"}}`,
		"not json": `<html>`,
	} {
		t.Run(name, func(t *testing.T) {
			f, srv := newFake(t)
			f.authAnswer = func(int) (int, string) { return 200, body }
			_, err := newClient(t, srv).EnvelopeStatus(context.Background(), envID)
			assertKind(t, err, assuresign.KindMalformed)
		})
	}
}

func assertKind(t *testing.T, err error, kind assuresign.ErrorKind) *assuresign.Error {
	t.Helper()
	var e *assuresign.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, kind, e.Kind, "%v", err)
	return e
}

func TestUnauthorizedRenewsOnce(t *testing.T) {
	f, srv := newFake(t)
	c := newClient(t, srv)
	_, err := c.EnvelopeStatus(context.Background(), envID)
	require.NoError(t, err)
	f.revokeAll() // the token expired early on the server's side
	_, err = c.EnvelopeStatus(context.Background(), envID)
	require.NoError(t, err)
	assert.EqualValues(t, 2, f.authCalls.Load())
	assert.EqualValues(t, 3, f.statusHits.Load())
}

func TestUnauthorizedTwiceIsCredentials(t *testing.T) {
	f, srv := newFake(t)
	f.status = func(w http.ResponseWriter, _ *http.Request, _ int) bool {
		w.WriteHeader(http.StatusUnauthorized)
		return true
	}
	var ops []string
	c := newClient(t, srv, func(cfg *Config) {
		cfg.Observe = func(op, outcome string, _ time.Duration) { ops = append(ops, op+":"+outcome) }
	})
	_, err := c.EnvelopeStatus(context.Background(), envID)
	e := assertKind(t, err, assuresign.KindHTTPStatus)
	assert.Equal(t, 401, e.StatusCode)
	assert.ErrorIs(t, err, ErrCredentialsRefused)
	assert.Contains(t, err.Error(), "the API user's credentials were refused")
	assert.Equal(t, "http_4xx", assuresign.Outcome(err))
	assert.EqualValues(t, 2, f.authCalls.Load(), "one renewal only")
	assert.Equal(t, []string{"authenticate:ok", "envelope_status:http_4xx", "authenticate:ok", "envelope_status:http_4xx"}, ops)
}

func TestAuthenticationRefused(t *testing.T) {
	for _, code := range []int{401, 403} {
		f, srv := newFake(t)
		f.authAnswer = func(int) (int, string) { return code, `{"message": "bad key ` + apiKey + `"}` }
		_, err := newClient(t, srv).EnvelopeStatus(context.Background(), envID)
		assert.ErrorIs(t, err, ErrCredentialsRefused)
		assert.NotContains(t, err.Error(), apiKey[:8])
		assert.EqualValues(t, 1, f.authCalls.Load(), "no retry of refused credentials")
	}
}

func TestRenewsBeforeExpiry(t *testing.T) {
	f, srv := newFake(t)
	now := time.Now()
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	c := newClient(t, srv, func(cfg *Config) { cfg.Now = func() time.Time { return time.Unix(0, clock.Load()) } })
	ask := func() {
		_, err := c.EnvelopeStatus(context.Background(), envID)
		require.NoError(t, err)
	}
	ask()
	clock.Store(now.Add(54 * time.Minute).UnixNano())
	ask()
	assert.EqualValues(t, 1, f.authCalls.Load(), "still valid at 54 minutes")
	clock.Store(now.Add(55*time.Minute + time.Second).UnixNano())
	ask()
	assert.EqualValues(t, 2, f.authCalls.Load(), "renewed at 55 of 60 minutes")
	assert.EqualValues(t, 3, f.statusHits.Load(), "no request spent on a 401")
}

func TestConcurrentRequestsShareOneToken(t *testing.T) {
	f, srv := newFake(t)
	f.authAnswer = func(int) (int, string) {
		time.Sleep(20 * time.Millisecond) // let every caller pile up behind the fetch
		return 200, `{"result": {"token": "TOKEN"}}`
	}
	c := newClient(t, srv)
	run := func() {
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.EnvelopeStatus(context.Background(), envID)
				assert.NoError(t, err)
				_ = c.TokenExpiry()
			}()
		}
		wg.Wait()
	}
	run()
	assert.EqualValues(t, 1, f.authCalls.Load())
	f.revokeAll() // every caller now meets a 401 at once
	run()
	assert.EqualValues(t, 2, f.authCalls.Load(), "one renewal for all the 401s")
}

func TestRetryAfterHonoured(t *testing.T) {
	f, srv := newFake(t)
	f.status = func(w http.ResponseWriter, _ *http.Request, n int) bool {
		if n > 1 {
			return false
		}
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	}
	var outcomes []string
	c := newClient(t, srv, func(cfg *Config) {
		cfg.Observe = func(op, outcome string, _ time.Duration) { outcomes = append(outcomes, op+":"+outcome) }
	})
	start := time.Now()
	_, err := c.EnvelopeStatus(context.Background(), envID)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), time.Second)
	assert.Equal(t, []string{"authenticate:ok", "envelope_status:http_429", "envelope_status:ok"}, outcomes)

	// A deadline shorter than Retry-After ends the call with the 429.
	f.statusHits.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = c.EnvelopeStatus(ctx, envID)
	e := assertKind(t, err, assuresign.KindHTTPStatus)
	assert.Equal(t, 429, e.StatusCode)
	assert.Equal(t, time.Second, e.RetryAfter)
}

func TestAnswerFailures(t *testing.T) {
	other := "11111111-2222-4333-8444-555555555555"
	for name, tc := range map[string]struct {
		ct, body string
		code     int
		kind     assuresign.ErrorKind
	}{
		"malformed json":  {"application/json", `{"result": {"envelopeID": "` + envID + `", `, 200, assuresign.KindMalformed},
		"no result":       {"application/json", `{"envelopeID": "` + envID + `"}`, 200, assuresign.KindMalformed},
		"null result":     {"application/json", `{"result": null}`, 200, assuresign.KindMalformed},
		"wrong envelope":  {"application/json", strings.ReplaceAll(liveBody, envID, other), 200, assuresign.KindMalformed},
		"bad document id": {"application/json", strings.ReplaceAll(liveBody, docOne, "doc-1"), 200, assuresign.KindMalformed},
		"wrong types":     {"application/json", `{"result": {"envelopeID": 7}}`, 200, assuresign.KindMalformed},
		"html page":       {"text/html; charset=utf-8", "<!DOCTYPE html><html><body>Maintenance</body></html>", 200, assuresign.KindContentType},
		"oversize":        {"application/json", liveBody + strings.Repeat(" ", 2000), 200, assuresign.KindTooLarge},
		"server error":    {"text/html", "<html>oops</html>", 500, assuresign.KindHTTPStatus},
		"not found":       {"application/json", `{"message": "no such envelope"}`, 404, assuresign.KindHTTPStatus},
	} {
		t.Run(name, func(t *testing.T) {
			f, srv := newFake(t)
			f.status = func(w http.ResponseWriter, _ *http.Request, _ int) bool {
				w.Header().Set("Content-Type", tc.ct)
				w.WriteHeader(tc.code)
				_, _ = io.WriteString(w, tc.body)
				return true
			}
			c := newClient(t, srv, func(cfg *Config) { cfg.MaxBodyBytes = int64(len(liveBody) + 100) })
			_, err := c.EnvelopeStatus(context.Background(), envID)
			e := assertKind(t, err, tc.kind)
			if tc.kind == assuresign.KindHTTPStatus {
				assert.Equal(t, tc.code, e.StatusCode)
			}
			if tc.code >= 500 {
				assert.EqualValues(t, 4, f.statusHits.Load(), "5xx retried")
			} else {
				assert.EqualValues(t, 1, f.statusHits.Load(), "not retried")
			}
		})
	}
}

func TestTimeoutAndTransport(t *testing.T) {
	f, srv := newFake(t)
	f.status = func(w http.ResponseWriter, r *http.Request, _ int) bool {
		<-r.Context().Done()
		return true
	}
	c := newClient(t, srv, func(cfg *Config) { cfg.Timeout = 50 * time.Millisecond; cfg.MaxRetries = -1 })
	_, err := c.EnvelopeStatus(context.Background(), envID)
	assertKind(t, err, assuresign.KindTimeout)

	srv.Close()
	c = newClient(t, srv, func(cfg *Config) { cfg.MaxRetries = -1 })
	_, err = c.EnvelopeStatus(context.Background(), envID)
	assertKind(t, err, assuresign.KindTransport)
}

// A server that echoes the secrets (key, token, ContextIdentifier) must not
// get them into errors or the answer's text.
func TestSecretsRedacted(t *testing.T) {
	f, srv := newFake(t)
	var token string
	f.status = func(w http.ResponseWriter, r *http.Request, _ int) bool {
		token = strings.TrimPrefix(r.Header.Get("Authorization"), "bearer ")
		echo := apiKey + " " + token + " " + ctxID
		w.Header().Set("Content-Type", "application/json")
		body := strings.Replace(liveBody, `"Contract"`, fmt.Sprintf("%q", "name "+echo), 1)
		body = strings.Replace(body, `"Step 1"`, fmt.Sprintf("%q", "Step 1 "+echo), 1)
		body = strings.Replace(body, `"completed"`, fmt.Sprintf("%q", echo), 1)
		_, _ = io.WriteString(w, body)
		return true
	}
	var reported []string
	c := newClient(t, srv, func(cfg *Config) { cfg.UnknownStatus = func(v string) { reported = append(reported, v) } })
	st, err := c.EnvelopeStatus(context.Background(), envID)
	require.NoError(t, err)
	secrets := testenv.NewSecrets(8, ctxID)
	secrets.Add("API key", apiKey)
	secrets.Add("token", token)
	text := fmt.Sprintf("%+v %v", st, reported)
	secrets.AssertNone(t, "answer", text)
	for _, secret := range []string{apiKey, token} {
		assert.NotContains(t, text, secret[:8])
	}
	assert.Equal(t, 1, st.Documents[0].Step)
	assert.Equal(t, assuresign.StatusUnknown, st.Documents[1].Status)
	require.Len(t, reported, 1)

	// Malformed-answer errors quote the answer: redacted too.
	f.status = func(w http.ResponseWriter, _ *http.Request, _ int) bool {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"result": {"envelopeID": "`+apiKey[3:]+" "+strings.ToLower(ctxID[:20])+`"}}`)
		return true
	}
	_, err = c.EnvelopeStatus(context.Background(), envID)
	assertKind(t, err, assuresign.KindMalformed)
	secrets.AssertNone(t, "error", err.Error())
	assert.NotContains(t, err.Error(), apiKey[3:11])
	assert.Contains(t, err.Error(), "<secret>")
}

func TestUnknownStatusReportedOnce(t *testing.T) {
	f, srv := newFake(t)
	f.status = func(w http.ResponseWriter, _ *http.Request, _ int) bool {
		w.Header().Set("Content-Type", "application/json")
		body := strings.Replace(liveBody, "iN_PROGRESS", "paused", 1)
		_, _ = io.WriteString(w, strings.Replace(body, "completed", "archiveD_SOON", 1))
		return true
	}
	var reported []string
	c := newClient(t, srv, func(cfg *Config) { cfg.UnknownStatus = func(v string) { reported = append(reported, v) } })
	for range 3 {
		st, err := c.EnvelopeStatus(context.Background(), envID)
		require.NoError(t, err)
		assert.Equal(t, assuresign.StatusUnknown, st.Status)
		assert.Equal(t, assuresign.StatusSigningStepInProgress, st.Documents[0].Status)
		assert.Equal(t, assuresign.StatusUnknown, st.Documents[1].Status)
	}
	assert.Equal(t, []string{"paused", "archiveD_SOON"}, reported)
}

// A server sending huge made-up values must not have the client hold them:
// what is remembered and reported is cut to a bounded length.
func TestUnknownStatusBounded(t *testing.T) {
	f, srv := newFake(t)
	n := 0
	f.status = func(w http.ResponseWriter, _ *http.Request, _ int) bool {
		n++
		w.Header().Set("Content-Type", "application/json")
		huge := fmt.Sprintf("%d%s", n, strings.Repeat("x", 100_000))
		_, _ = io.WriteString(w, strings.Replace(liveBody, "iN_PROGRESS", huge, 1))
		return true
	}
	var reported []string
	c := newClient(t, srv, func(cfg *Config) { cfg.UnknownStatus = func(v string) { reported = append(reported, v) } })
	for range 3 {
		_, err := c.EnvelopeStatus(context.Background(), envID)
		require.NoError(t, err)
	}
	require.Len(t, reported, 3)
	for _, v := range reported {
		assert.LessOrEqual(t, len(v), 64+len("…"))
		assert.True(t, strings.HasSuffix(v, "…"))
	}
}

// A bad id is quoted in the error cut short on a rune boundary, as all
// server text is (assuresign.Truncate), not mid-character.
func TestParseQuotesBadIDsCut(t *testing.T) {
	bad := strings.Repeat("a", 39) + strings.Repeat("€", 20)
	for _, body := range []string{
		strings.ReplaceAll(liveBody, envID, bad),
		strings.ReplaceAll(liveBody, docOne, bad),
	} {
		_, err := ParseEnvelopeStatus([]byte(body))
		require.Error(t, err)
		assert.Contains(t, err.Error(), `"`+strings.Repeat("a", 39)+`…"`)
		assert.NotContains(t, err.Error(), `\x`)
	}
}

func TestParseStatusSpellings(t *testing.T) {
	for live, upper := range map[string]string{
		"signinG_STEP_PROGRESS": "SIGNING_STEP_PROGRESS", "iN_PROGRESS": "IN_PROGRESS",
		"completed": "COMPLETED", "signeR_AUTHENTICATION_FAILED": "SIGNER_AUTHENTICATION_FAILED",
	} {
		assert.Equal(t, live, LiveSpelling(upper))
	}
	// The reference's own spellings, each to the SOAP StatusType it names
	// (as the reference writes it), so a wrong row in statusNames fails here;
	// each name's other spelling, and Name's, parse the same.
	for v, soap := range map[string]string{
		"iN_PROGRESS": "SigningStepInProgress", "signinG_STEP_PROGRESS": "SigningStepInProgress",
		"completed": "Completed", "signeR_AUTHENTICATION_FAILED": "SignerAuthenticationFailed",
		"CREATED": "Created", "SIGNING_STEP_PROGRESS": "SigningStepInProgress", "IN_PROGRESS": "SigningStepInProgress",
		"COMPLETED": "Completed", "EXPIRED": "Expired", "DECLINED": "Declined", "CANCELLED": "Cancelled",
		"SIGNER_AUTHENTICATION_FAILED": "SignerAuthenticationFailed", "STALED": "Staled",
	} {
		want := assuresign.ParseStatus(soap)
		assert.Equal(t, soap, ParseStatus(v).String(), v)
		assert.Equal(t, want, ParseStatus(v), v)
		assert.Equal(t, want, ParseStatus(LiveSpelling(strings.ToUpper(v))), LiveSpelling(strings.ToUpper(v)))
		assert.Equal(t, want, ParseStatus(Name(want)), v)
	}
	for _, v := range []string{"", "Paused", "SIGNING", "SigningStepInProgress"} {
		assert.Equal(t, assuresign.StatusUnknown, ParseStatus(v), v)
	}
	assert.Empty(t, Name(assuresign.StatusUnknown))
}

func TestNewValidates(t *testing.T) {
	ok := Config{APIUsername: apiUser, APIKey: apiKey, ContextUsername: ctxUser}
	c, err := New(ok)
	require.NoError(t, err)
	assert.Equal(t, DefaultBaseURL, c.BaseURL())
	assert.True(t, c.TokenExpiry().IsZero())
	for name, tc := range map[string]struct {
		mod  func(*Config)
		want string // the error, when it is fixed
	}{
		"no user":         {func(c *Config) { c.APIUsername = "" }, "rest: the API username is empty"},
		"no key":          {func(c *Config) { c.APIKey = "" }, "rest: the API key is empty"},
		"no context user": {func(c *Config) { c.ContextUsername = "" }, ""},
		"colon in user":   {func(c *Config) { c.ContextUsername = "a:b" }, ""},
		"ftp base":        {func(c *Config) { c.BaseURL = "ftp://x/y" }, `rest: the REST base URL "ftp://x/y" is not an http(s) URL`},
		"creds in auth":   {func(c *Config) { c.AuthURL = "https://u:" + apiKey + "@x/auth" }, "rest: the REST authentication URL must not carry credentials"},
		"bad auth URL":    {func(c *Config) { c.AuthURL = "https://u:" + apiKey + "@x/%zz" }, "rest: the REST authentication URL is not a valid URL"},
	} {
		cfg := ok
		tc.mod(&cfg)
		_, err := New(cfg)
		require.Error(t, err, name)
		assert.NotContains(t, err.Error(), apiKey[:8], name)
		if tc.want != "" {
			assert.EqualError(t, err, tc.want, name)
		}
	}
	_, err = c.EnvelopeStatus(context.Background(), "../../admin")
	require.Error(t, err)
	var e *assuresign.Error
	assert.False(t, errors.As(err, &e), "a caller's mistake, not an upstream failure")
}
