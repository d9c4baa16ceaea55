package simulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/rest"
)

const (
	restEnv  = "6A1B2C3D-4E5F-4A6B-8C7D-8E9FA0B1C2D3"
	faultEnv = "7B2C3D4E-5F6A-4B7C-9D8E-9FA0B1C2D3E4"
	restKey  = "Th3-4P1-K3y-0f-Th3-S1mul4t3d-Us3r"
)

var restUser = APIUser{Username: "api.user", Key: restKey, ContextUsername: "jane@example.com"}

// newRESTSimulator holds newTestSimulator's documents in one envelope, and a
// faulting envelope, for the REST API user restUser.
func newRESTSimulator() *Simulator {
	s := newTestSimulator()
	s.PutEnvelope(Envelope{ID: restEnv, AuthToken: otherGUID, Documents: []string{docA, docB, docC}})
	s.PutEnvelope(Envelope{ID: faultEnv, AuthToken: otherGUID, Documents: []string{docA}, Fault: true})
	s.SetAPIUser(restUser)
	return s
}

func restClient(t *testing.T, srv string, mod ...func(*rest.Config)) *rest.Client {
	t.Helper()
	cfg := rest.Config{
		BaseURL: srv + RESTBasePath, AuthURL: srv + RESTAuthPath,
		APIUsername: restUser.Username, APIKey: restKey, ContextUsername: restUser.ContextUsername,
		ContextIdentifier: testContext, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := rest.New(cfg)
	require.NoError(t, err)
	return c
}

func TestRESTEnvelopeStatus(t *testing.T) {
	s := newRESTSimulator()
	srv := startServer(t, s)
	c := restClient(t, srv.URL)
	st, err := c.EnvelopeStatus(t.Context(), restEnv)
	require.NoError(t, err)
	assert.Equal(t, &rest.EnvelopeStatus{
		EnvelopeID: restEnv, RawStatus: "iN_PROGRESS", Status: assuresign.StatusSigningStepInProgress,
		Documents: []rest.Document{
			{ID: docA, Name: "Document 1", RawStatus: "signinG_STEP_PROGRESS", Status: assuresign.StatusSigningStepInProgress, StatusDetails: "Step 2", Step: 2},
			{ID: docB, Name: "Document 2", RawStatus: "completed", Status: assuresign.StatusCompleted},
			{ID: docC, Name: "Document 3", RawStatus: "created", Status: assuresign.StatusCreated},
		},
	}, st)
	assert.WithinDuration(t, time.Now().Add(time.Hour), c.TokenExpiry(), 5*time.Second)

	// Changes to the documents (the life cycle's among them) show at once.
	s.Update(docA, func(d *Document) { d.Status, d.Step = assuresign.StatusSignerAuthenticationFailed, 2 })
	s.Update(docC, func(d *Document) { d.RawStatus = "ON_HOLD" })
	st, err = c.EnvelopeStatus(t.Context(), strings.ToLower(restEnv))
	require.NoError(t, err)
	assert.Equal(t, "signeR_AUTHENTICATION_FAILED", st.Documents[0].RawStatus)
	assert.Equal(t, assuresign.StatusSignerAuthenticationFailed, st.Documents[0].Status)
	assert.Equal(t, "ON_HOLD", st.Documents[2].RawStatus, "a RawStatus goes out verbatim")
	assert.Equal(t, assuresign.StatusUnknown, st.Documents[2].Status)

	stats := s.Stats()
	assert.Equal(t, 1, stats.RESTAuthentications)
	assert.Equal(t, 2, stats.RESTStatuses)
	assert.Equal(t, 3, stats.Requests)
	assert.Zero(t, stats.Documents, "not CheckStatus requests")
}

// The wire as the reference shows it: lower-case GUIDs, the live spelling.
func TestRESTEnvelopeStatusWire(t *testing.T) {
	s := newRESTSimulator()
	srv := startServer(t, s)
	tok := authenticate(t, srv.URL, `{"request": {"apiUsername": "API.USER", "key": "`+restKey+`", "contextUsername": "jane@example.com", "sessionLengthInMinutes": 60}}`)
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/API/DocumentNOW/v3.7/envelopes/"+restEnv+"/STATUS", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, body := do(t, srv.Client(), req)
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	assert.Equal(t, "application/json; charset=utf-8", res.Header.Get("Content-Type"))
	assert.JSONEq(t, `{"result": {"envelopeID": "`+strings.ToLower(restEnv)+`", "status": "iN_PROGRESS", "documentList": [
		{"documentID": "`+strings.ToLower(docA)+`", "name": "Document 1", "status": {"statusType": "signinG_STEP_PROGRESS", "statusDetails": "Step 2"}},
		{"documentID": "`+strings.ToLower(docB)+`", "name": "Document 2", "status": {"statusType": "completed", "statusDetails": ""}},
		{"documentID": "`+strings.ToLower(docC)+`", "name": "Document 3", "status": {"statusType": "created", "statusDetails": ""}}]}}`, string(body))

	// The history, as verified live: no "result" wrapper; an event per
	// document at its StatusDate.
	req, err = http.NewRequest(http.MethodGet, srv.URL+RESTBasePath+"/envelopes/"+restEnv+"/History", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, body = do(t, srv.Client(), req)
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	event := func(id int, date, details string) string {
		return fmt.Sprintf(`{"id": %d, "date": %q, "details": %q}`, id, date, details)
	}
	e1, e2, e3 := event(1, "2008-03-19T11:24:08.5231954-04:00", "Document 1: SIGNING_STEP_PROGRESS"),
		event(2, "2008-03-19T12:24:08.5231954-04:00", "Document 2: COMPLETED"),
		event(3, "2008-03-19T11:24:08.5231954-04:00", "Document 3: CREATED")
	assert.JSONEq(t, `{"envelopeID": "`+strings.ToLower(restEnv)+`", "envelopeHistoryEvents": [`+e1+`, `+e2+`, `+e3+`],
		"documentList": [{"history": [`+e1+`]}, {"history": [`+e2+`]}, {"history": [`+e3+`]}]}`, string(body))

	for name, tc := range map[string]struct {
		method, path, context string
		want                  int
	}{
		"post":          {http.MethodPost, RESTBasePath + "/envelopes/" + restEnv + "/status", "", http.StatusMethodNotAllowed},
		"unknown":       {http.MethodGet, RESTBasePath + "/envelopes/" + otherGUID + "/status", "", http.StatusNotFound},
		"not a GUID":    {http.MethodGet, RESTBasePath + "/envelopes/x/status", "", http.StatusNotFound},
		"fault":         {http.MethodGet, RESTBasePath + "/envelopes/" + faultEnv + "/status", "", http.StatusInternalServerError},
		"context":       {http.MethodGet, RESTBasePath + "/envelopes/" + restEnv + "/status", "jane@example.com:" + strings.ToLower(testContext), http.StatusOK},
		"wrong context": {http.MethodGet, RESTBasePath + "/envelopes/" + restEnv + "/status", "jane@example.com:" + otherGUID, http.StatusForbidden},
		"other path":    {http.MethodGet, RESTBasePath + "/envelopes/" + restEnv + "/documents", "", http.StatusNotFound},
		"history":       {http.MethodGet, RESTBasePath + "/envelopes/" + restEnv + "/history", "", http.StatusOK},
		"history fault": {http.MethodGet, RESTBasePath + "/envelopes/" + faultEnv + "/history", "", http.StatusInternalServerError},
	} {
		req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "bearer "+tok)
		if tc.context != "" {
			req.Header.Set("X-AS-UserContext", tc.context)
		}
		res, body := do(t, srv.Client(), req)
		assert.Equal(t, tc.want, res.StatusCode, "%s: %s", name, body)
	}
}

func authenticate(t *testing.T, base, body string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+RESTAuthPath, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	res, b := do(t, http.DefaultClient, req)
	require.Equal(t, http.StatusOK, res.StatusCode, string(b))
	var a struct {
		Result struct{ Token, Expires string }
	}
	require.NoError(t, json.Unmarshal(b, &a))
	exp, err := time.Parse(time.RFC3339, a.Result.Expires)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Hour), exp, 5*time.Second)
	return a.Result.Token
}

func TestRESTAuthentication(t *testing.T) {
	s := newRESTSimulator()
	srv := startServer(t, s)
	for name, mod := range map[string]func(*rest.Config){
		"wrong key":          func(c *rest.Config) { c.APIKey = "not-the-key" },
		"wrong user":         func(c *rest.Config) { c.APIUsername = "someone.else" },
		"wrong context user": func(c *rest.Config) { c.ContextUsername = "joe@example.com" },
	} {
		_, err := restClient(t, srv.URL, mod).EnvelopeStatus(t.Context(), restEnv)
		assert.ErrorIs(t, err, rest.ErrCredentialsRefused, name)
	}
	for name, tc := range map[string]struct{ method, ct, body string }{
		"get":        {http.MethodGet, "application/json", ""},
		"not json":   {http.MethodPost, "application/json", "key=x"},
		"no request": {http.MethodPost, "application/json", `{"apiUsername": "api.user"}`},
		"xml":        {http.MethodPost, "text/xml", `{"request": {}}`},
		"session":    {http.MethodPost, "application/json", `{"request": {"apiUsername": "api.user", "key": "` + restKey + `", "contextUsername": "jane@example.com", "sessionLengthInMinutes": 100000}}`},
	} {
		req, err := http.NewRequest(tc.method, srv.URL+RESTAuthPath, strings.NewReader(tc.body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", tc.ct)
		res, body := do(t, srv.Client(), req)
		assert.Contains(t, []int{http.StatusBadRequest, http.StatusMethodNotAllowed}, res.StatusCode, name)
		assert.NotContains(t, string(body), restKey[:8], name)
	}

	// Without an API user every authentication is refused.
	bare := New(testContext)
	_, err := restClient(t, startServer(t, bare).URL).EnvelopeStatus(t.Context(), restEnv)
	assert.ErrorIs(t, err, rest.ErrCredentialsRefused)

	// The top-level token answer serves the client as well.
	s.SetRESTOptions(RESTOptions{TopLevelToken: true})
	_, err = restClient(t, srv.URL).EnvelopeStatus(t.Context(), restEnv)
	require.NoError(t, err)
}

func TestRESTTokenExpiry(t *testing.T) {
	s := newRESTSimulator()
	srv := startServer(t, s)
	c := restClient(t, srv.URL)
	ask := func() error {
		_, err := c.EnvelopeStatus(t.Context(), restEnv)
		return err
	}
	require.NoError(t, ask())
	s.ExpireTokens()
	require.NoError(t, ask(), "renewed after the 401")
	assert.Equal(t, 2, s.Stats().RESTAuthentications)

	// A token past its expiry is refused.
	s.mu.Lock()
	s.rest.now = func() time.Time { return time.Now().Add(61 * time.Minute) }
	s.mu.Unlock()
	require.NoError(t, ask(), "renewed after the 401")
	assert.Equal(t, 3, s.Stats().RESTAuthentications)
	s.mu.Lock()
	s.rest.now = nil
	s.mu.Unlock()

	s.RefuseNext(1)
	require.NoError(t, ask())
	assert.Equal(t, 4, s.Stats().RESTAuthentications)
	s.RefuseNext(2)
	err := ask()
	assert.ErrorIs(t, err, rest.ErrCredentialsRefused)
	assert.Equal(t, "http_4xx", assuresign.Outcome(err))
	require.NoError(t, ask(), "refusal used up")
}

func TestRESTFaults(t *testing.T) {
	s := newRESTSimulator()
	srv := startServer(t, s)
	c := restClient(t, srv.URL, func(cfg *rest.Config) { cfg.MaxRetries = -1; cfg.MaxBodyBytes = 64 << 10 })
	for _, tc := range []struct {
		fault   Fault
		outcome string
	}{
		{Fault{Kind: FaultTooManyRequests, RetryAfter: 2 * time.Second}, "http_429"},
		{Fault{Kind: FaultHTTP500}, "http_5xx"},
		{Fault{Kind: FaultHTMLMaintenance}, "content_type"},
		{Fault{Kind: FaultMalformedXML}, "malformed"},
		{Fault{Kind: FaultOversizeBody, Size: 1 << 20}, "too_large"},
		{Fault{Kind: FaultTruncatedBody}, "transport"},
		{Fault{Kind: FaultCloseConnection}, "transport"},
	} {
		s.SetFault(tc.fault)
		_, err := c.EnvelopeStatus(t.Context(), restEnv)
		assert.Equal(t, tc.outcome, assuresign.Outcome(err), "%v: %v", tc.fault.Kind, err)
		if tc.fault.Kind == FaultTooManyRequests {
			var e *assuresign.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, 2*time.Second, e.RetryAfter)
		}
	}
	s.ClearFault()

	// With retries, a 429 once is waited out for its Retry-After.
	c = restClient(t, srv.URL)
	s.SetFault(Fault{Kind: FaultTooManyRequests, RetryAfter: time.Second, Times: 1})
	start := time.Now()
	_, err := c.EnvelopeStatus(t.Context(), restEnv)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), time.Second)

	// A faulting envelope answers 500 every time; the others are unaffected.
	_, err = c.EnvelopeStatus(t.Context(), faultEnv)
	assert.Equal(t, "http_5xx", assuresign.Outcome(err))
	_, err = c.EnvelopeStatus(t.Context(), otherGUID)
	assert.Equal(t, "http_4xx", assuresign.Outcome(err))
	_, err = c.EnvelopeStatus(t.Context(), restEnv)
	require.NoError(t, err)
}

func TestRESTEnvelopeStatusRule(t *testing.T) {
	doc := func(st assuresign.Status) Document { return Document{Status: st} }
	for want, docs := range map[string][]Document{
		"CREATED":     {doc(assuresign.StatusCreated), doc(assuresign.StatusCreated)},
		"IN_PROGRESS": {doc(assuresign.StatusCreated), doc(assuresign.StatusCompleted)},
		"COMPLETED":   {doc(assuresign.StatusCompleted), doc(assuresign.StatusCompleted)},
		"DECLINED":    {doc(assuresign.StatusDeclined), doc(assuresign.StatusCompleted)},
		"EXPIRED":     {doc(assuresign.StatusExpired)},
		"STALED":      {doc(assuresign.StatusStaled), doc(assuresign.StatusCreated)},
	} {
		assert.Equal(t, want, envelopeStatus(docs))
	}
	assert.Equal(t, "CREATED", envelopeStatus(nil))
}
