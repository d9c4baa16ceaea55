package main

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/rest"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

const (
	testContext = "0A1B2C3D-4E5F-4A6B-8C7D-8E9FA0B1C2D3"
	docA        = "2CE11EF1-8938-DD11-8735-00065B8CE99B"
	tokenA      = "8CC9A84B-693C-46CC-4342-40A8215AD76A"
	docB        = "3DF22F02-9A49-4E22-9846-11176C9DF0AC"
	tokenB      = "9DDAB95C-7A4D-47DD-5453-51B9326BE87B"
)

// start runs the command with args and returns its base URL.
func start(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := run(ctx, args, pw, io.Discard)
		pw.CloseWithError(fmt.Errorf("run returned: %w", err))
		errc <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "listening on http://127.0.0.1:"), line)
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("run did not return after its context ended")
		}
	})
	return strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
}

func checkStatus(t *testing.T, url string, docs ...[2]string) (int, string) {
	t.Helper()
	var b strings.Builder
	b.WriteString(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><CheckStatus xmlns="https://www.assuresign.net/Services/DocumentNOW/CheckStatus"><DocumentStatusChecks>`)
	for _, d := range docs {
		fmt.Fprintf(&b, `<DocumentStatusCheck ContextIdentifier="%s" Id="%s" AuthToken="%s"/>`, testContext, d[0], d[1])
	}
	b.WriteString(`</DocumentStatusChecks></CheckStatus></s:Body></s:Envelope>`)
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(b.String()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", assuresign.CheckStatusAction)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func admin(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

type result struct {
	ID            string `xml:"Id,attr"`
	StatusType    string `xml:"StatusType,attr"`
	StatusDetails string `xml:"StatusDetails,attr"`
	StatusDate    string `xml:"StatusDate,attr"`
	Exceptions    []struct {
		Severity string `xml:"Severity,attr"`
		Text     string `xml:",chardata"`
	} `xml:"Exceptions>StatusCheckException"`
}

func parseResults(t *testing.T, body string) []result {
	t.Helper()
	var env struct {
		Results []result `xml:"Body>CheckStatusResponse>DocumentStatusCheckResults>DocumentStatusCheckResult"`
	}
	require.NoError(t, xml.Unmarshal([]byte(body), &env), body)
	return env.Results
}

func TestCommand(t *testing.T) {
	ctxFile := testenv.WriteFile(t, filepath.Join(t.TempDir(), "context"), "\ufeff"+strings.ToLower(testContext)+"\n", 0o600)
	docsFile := testenv.WriteFile(t, filepath.Join(t.TempDir(), "docs.json"), `[
		{"id": "`+docA+`", "auth_token": "`+tokenA+`", "status": "SigningStepInProgress", "step": 2},
		{"id": "`+docB+`", "auth_token": "`+tokenB+`", "status": "OnHold", "status_date": "2008-03-19T11:24:08.5231954-04:00",
		 "exceptions": [{"severity": "Warning", "message": "w"}]}
	]`, 0o600)

	base := start(t, "--listen", "127.0.0.1:0", "--context-file", ctxFile, "--documents", docsFile)
	endpoint := base + "/Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text"

	code, body := checkStatus(t, endpoint, [2]string{docA, tokenA}, [2]string{docB, tokenB})
	require.Equal(t, 200, code, body)
	got := parseResults(t, body)
	require.Len(t, got, 2)
	assert.Equal(t, "SigningStepInProgress", got[0].StatusType)
	assert.Equal(t, "Step 2", got[0].StatusDetails)
	assert.Equal(t, "OnHold", got[1].StatusType, "an undocumented status is sent verbatim")
	assert.Equal(t, "2008-03-19T11:24:08.5231954-04:00", got[1].StatusDate)
	require.Len(t, got[1].Exceptions, 1)
	assert.Equal(t, "Warning", got[1].Exceptions[0].Severity)

	t.Run("documents", func(t *testing.T) {
		code, body := admin(t, http.MethodPost, base+"/admin/documents", `{"id":"`+docA+`","auth_token":"`+tokenA+`","status":"Completed"}`)
		require.Equal(t, http.StatusNoContent, code, body)
		_, body = checkStatus(t, endpoint, [2]string{docA, tokenA})
		assert.Equal(t, "Completed", parseResults(t, body)[0].StatusType)

		code, body = admin(t, http.MethodGet, base+"/admin/documents", "")
		require.Equal(t, 200, code)
		var docs []jsonDocument
		require.NoError(t, json.Unmarshal([]byte(body), &docs))
		require.Len(t, docs, 2)
		assert.Equal(t, docA, docs[0].ID)
		assert.Equal(t, "Completed", docs[0].Status)
		assert.Equal(t, "OnHold", docs[1].Status)

		code, _ = admin(t, http.MethodPost, base+"/admin/documents", `{"id":"`+docA+`"}`)
		assert.Equal(t, http.StatusBadRequest, code, "auth_token is required")
		code, _ = admin(t, http.MethodPost, base+"/admin/documents", `{"id":"`+docA+`","token":"x"}`)
		assert.Equal(t, http.StatusBadRequest, code, "unknown fields are refused")
		code, _ = admin(t, http.MethodPost, base+"/admin/documents", `[{"id":"`+docA+`","auth_token":"`+tokenA+`","status":"Declined"}]`)
		assert.Equal(t, http.StatusNoContent, code, "an array is fine too")
	})

	t.Run("fault", func(t *testing.T) {
		code, body := admin(t, http.MethodPost, base+"/admin/fault", `{"kind":"429","retry_after_seconds":1,"times":0}`)
		require.Equal(t, http.StatusNoContent, code, body)
		for range 2 {
			resp, err := http.Post(endpoint, "text/xml", strings.NewReader("x"))
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, 429, resp.StatusCode)
			assert.Equal(t, "1", resp.Header.Get("Retry-After"))
		}
		code, _ = admin(t, http.MethodDelete, base+"/admin/fault", "")
		require.Equal(t, http.StatusNoContent, code)
		code, _ = checkStatus(t, endpoint, [2]string{docA, tokenA})
		assert.Equal(t, 200, code)

		code, _ = admin(t, http.MethodPost, base+"/admin/fault", `{"kind":"http500","times":1}`)
		require.Equal(t, http.StatusNoContent, code)
		code, _ = checkStatus(t, endpoint, [2]string{docA, tokenA})
		assert.Equal(t, 500, code)
		code, _ = checkStatus(t, endpoint, [2]string{docA, tokenA})
		assert.Equal(t, 200, code, "times:1 clears itself")

		code, body = admin(t, http.MethodPost, base+"/admin/fault", `{"kind":"meteor"}`)
		assert.Equal(t, http.StatusBadRequest, code)
		assert.Contains(t, body, "unknown fault kind")
		code, _ = admin(t, http.MethodPost, base+"/admin/fault", `{"kind":"http500","times":-1}`)
		assert.Equal(t, http.StatusBadRequest, code)
	})

	t.Run("latency", func(t *testing.T) {
		code, _ := admin(t, http.MethodPost, base+"/admin/latency?ms=120", "")
		require.Equal(t, http.StatusNoContent, code)
		start := time.Now()
		checkStatus(t, endpoint, [2]string{docA, tokenA})
		assert.GreaterOrEqual(t, time.Since(start), 120*time.Millisecond)
		code, _ = admin(t, http.MethodPost, base+"/admin/latency?ms=0", "")
		require.Equal(t, http.StatusNoContent, code)
		code, body := admin(t, http.MethodPost, base+"/admin/latency?ms=soon", "")
		assert.Equal(t, http.StatusBadRequest, code)
		assert.JSONEq(t, `{"error":"ms must be a whole number of milliseconds, 0 or more"}`, body)
	})

	t.Run("options", func(t *testing.T) {
		code, body := admin(t, http.MethodPost, base+"/admin/options", `{"prefix":"soap","lower_case_ids":true}`)
		require.Equal(t, http.StatusNoContent, code, body)
		_, body = checkStatus(t, endpoint, [2]string{docA, tokenA})
		assert.True(t, strings.HasPrefix(body, "<soap:Envelope"), body)
		assert.Equal(t, strings.ToLower(docA), parseResults(t, body)[0].ID)
		code, _ = admin(t, http.MethodPost, base+"/admin/options", `{}`)
		require.Equal(t, http.StatusNoContent, code)
	})

	t.Run("stats", func(t *testing.T) {
		code, _ := admin(t, http.MethodDelete, base+"/admin/stats", "")
		require.Equal(t, http.StatusNoContent, code)
		code, body := admin(t, http.MethodGet, base+"/admin/stats", "")
		require.Equal(t, 200, code)
		assert.JSONEq(t, `{"requests":0,"documents_per_request":[],"documents":0,"per_document":{},"listings":0,"rest_authentications":0,"rest_histories":0,"rest_statuses":0,"notifications":0,"notifications_dropped":0,"notification_retries":0}`, body)

		checkStatus(t, endpoint, [2]string{docA, tokenA}, [2]string{docB, tokenB})
		checkStatus(t, endpoint, [2]string{docA, tokenA})
		admin(t, http.MethodGet, base+"/admin/documents", "") // admin calls are not counted
		_, body = admin(t, http.MethodGet, base+"/admin/stats", "")
		assert.JSONEq(t, fmt.Sprintf(`{"requests":2,"documents_per_request":[2,1],"documents":3,"per_document":{%q:2,%q:1},"listings":0,"rest_authentications":0,"rest_histories":0,"rest_statuses":0,"notifications":0,"notifications_dropped":0,"notification_retries":0}`,
			docA, docB), body)
	})

	t.Run("notifications", func(t *testing.T) {
		code, body := admin(t, http.MethodPost, base+"/admin/notifications", `{"drop_statuses":["Signed"]}`)
		assert.Equal(t, http.StatusBadRequest, code)
		assert.Contains(t, body, `drop_statuses: \"Signed\" is not a status`)
		code, _ = admin(t, http.MethodPost, base+"/admin/notifications", `{"stopp":true}`)
		assert.Equal(t, http.StatusBadRequest, code, "an unknown field")
		code, _ = admin(t, http.MethodPost, base+"/admin/notifications", `{"every":2,"drop_statuses":["Declined"]}`)
		assert.Equal(t, http.StatusNoContent, code)
	})

	t.Run("admin routing", func(t *testing.T) {
		code, _ := admin(t, http.MethodGet, base+"/admin/nothing", "")
		assert.Equal(t, http.StatusNotFound, code)
		code, _ = admin(t, http.MethodPut, base+"/admin/fault", "{}")
		assert.Equal(t, http.StatusMethodNotAllowed, code)
		code, _ = admin(t, http.MethodGet, endpoint, "")
		assert.Equal(t, http.StatusMethodNotAllowed, code, "CheckStatus paths take POST")
	})
}

func TestCommandDefaultsAndDemo(t *testing.T) {
	base := start(t, "--demo", "5", "--lifecycle", "10ms", "--seed", "3", "--bom")
	code, body := admin(t, http.MethodGet, base+"/admin/documents", "")
	require.Equal(t, 200, code)
	var docs []jsonDocument
	require.NoError(t, json.Unmarshal([]byte(body), &docs))
	require.Len(t, docs, 5)

	// Without --context-file the account is the vendor sample's.
	var b strings.Builder
	fmt.Fprintf(&b, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><CheckStatus xmlns="https://www.assuresign.net/Services/DocumentNOW/CheckStatus"><DocumentStatusChecks><DocumentStatusCheck ContextIdentifier="%s" Id="%s" AuthToken="%s"/></DocumentStatusChecks></CheckStatus></s:Body></s:Envelope>`,
		sampleContext, docs[0].ID, docs[0].AuthToken)
	req, err := http.NewRequest(http.MethodPost, base+simulator.CheckStatusPath, strings.NewReader(b.String()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"`+assuresign.CheckStatusAction+`"`)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.True(t, strings.HasPrefix(string(raw), "\ufeff<s:Envelope"))
	assert.NotContains(t, string(raw), "StatusCheckException Severity=\"Error\"")
}

func TestCommandErrors(t *testing.T) {
	ctx := context.Background()
	bad := testenv.WriteFile(t, filepath.Join(t.TempDir(), "context"), "acme", 0o600)
	assert.ErrorContains(t, run(ctx, []string{"--context-file", bad}, io.Discard, io.Discard), "not a GUID")
	assert.Error(t, run(ctx, []string{"--context-file", filepath.Join(t.TempDir(), "missing")}, io.Discard, io.Discard))
	docs := testenv.WriteFile(t, filepath.Join(t.TempDir(), "docs.json"), `{"id":"x"}`, 0o600)
	assert.Error(t, run(ctx, []string{"--documents", docs}, io.Discard, io.Discard), "an array is required")
	assert.Error(t, run(ctx, []string{"--listen", "256.0.0.1:0"}, io.Discard, io.Discard))
	assert.Error(t, run(ctx, []string{"--no-such-flag"}, io.Discard, io.Discard))
	assert.Error(t, run(ctx, []string{"extra"}, io.Discard, io.Discard))
}

// --demo-envelopes adds envelopes whose documents are listed, the last one faulting.
func TestCommandDemoEnvelopes(t *testing.T) {
	base := start(t, "--demo-envelopes", "2", "--seed", "5")
	envs, docs := simulator.DemoEnvelopes(2, 5)
	code, body := admin(t, http.MethodGet, base+"/admin/documents", "")
	require.Equal(t, 200, code)
	var got []jsonDocument
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	assert.Len(t, got, len(docs))
	c, err := assuresign.NewClient(assuresign.Config{Endpoint: base + "/Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text", MaxRetries: -1})
	require.NoError(t, err)
	l, err := c.ListEnvelopeDocuments(t.Context(), assuresign.EnvelopeRequest{ID: envs[0].ID, AuthToken: envs[0].AuthToken, ContextIdentifier: sampleContext})
	require.NoError(t, err)
	assert.Len(t, l.Documents, len(envs[0].Documents))
	_, err = c.ListEnvelopeDocuments(t.Context(), assuresign.EnvelopeRequest{ID: envs[1].ID, AuthToken: envs[1].AuthToken, ContextIdentifier: sampleContext})
	assert.Equal(t, "soap_fault", assuresign.Outcome(err))
}

// --envelopes FILE adds the file's envelopes of --documents' documents; an
// unknown field is refused with the file's name.
func TestCommandEnvelopesFile(t *testing.T) {
	const (
		doc   = "D0C00000-0000-4000-8000-000000000001"
		env   = "E0000000-0000-4000-8000-0000000000E1"
		token = "7A0E0000-0000-4000-8000-000000000001"
	)
	docs := testenv.WriteFile(t, filepath.Join(t.TempDir(), "docs.json"), `[{"id":"`+doc+`","auth_token":"`+token+`"}]`, 0o600)
	envs := testenv.WriteFile(t, filepath.Join(t.TempDir(), "envs.json"), `[{"id":"`+env+`","auth_token":"`+token+`","documents":["`+doc+`"]},{"id":"`+strings.Replace(env, "E1", "E2", 1)+`","auth_token":"`+token+`","documents":[],"fault":true}]`, 0o600)
	base := start(t, "--documents", docs, "--envelopes", envs)
	c, err := assuresign.NewClient(assuresign.Config{Endpoint: base + simulator.CheckStatusPath, MaxRetries: -1})
	require.NoError(t, err)
	l, err := c.ListEnvelopeDocuments(t.Context(), assuresign.EnvelopeRequest{ID: env, AuthToken: token, ContextIdentifier: sampleContext})
	require.NoError(t, err)
	require.Len(t, l.Documents, 1)
	assert.Equal(t, doc, l.Documents[0].ID)
	_, err = c.ListEnvelopeDocuments(t.Context(), assuresign.EnvelopeRequest{ID: strings.Replace(env, "E1", "E2", 1), AuthToken: token, ContextIdentifier: sampleContext})
	assert.Equal(t, "soap_fault", assuresign.Outcome(err))

	bad := testenv.WriteFile(t, filepath.Join(t.TempDir(), "bad.json"), `[{"id":"`+env+`","token":"`+token+`"}]`, 0o600)
	err = run(t.Context(), []string{"--envelopes", bad}, io.Discard, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), bad)
	assert.Contains(t, err.Error(), "unknown field")
}

// The REST API answers for the --api-* user, with the admin API's 401s.
func TestCommandREST(t *testing.T) {
	const key = "0p3n-S3s4m3-K3y"
	envs, _ := simulator.DemoEnvelopes(1, 3)
	keyFile := testenv.WriteFile(t, filepath.Join(t.TempDir(), "key"), "\ufeff"+key+"\n", 0o600)
	base := start(t, "--demo-envelopes", "1", "--seed", "3", "--api-username", "api.user", "--api-key-file", keyFile,
		"--context-username", "jane@example.com", "--context-file", testenv.WriteFile(t, filepath.Join(t.TempDir(), "ctx"), testContext, 0o600))
	client := func(key string) *rest.Client {
		c, err := rest.New(rest.Config{
			BaseURL: base + simulator.RESTBasePath, AuthURL: base + simulator.RESTAuthPath, APIUsername: "api.user",
			APIKey: key, ContextUsername: "jane@example.com", ContextIdentifier: testContext, MaxRetries: -1,
		})
		require.NoError(t, err)
		return c
	}
	c := client(key)
	st, err := c.EnvelopeStatus(t.Context(), envs[0].ID)
	require.NoError(t, err)
	assert.Len(t, st.Documents, len(envs[0].Documents))
	_, err = client("wrong").EnvelopeStatus(t.Context(), envs[0].ID)
	assert.ErrorIs(t, err, rest.ErrCredentialsRefused)

	code, _ := admin(t, http.MethodPost, base+"/admin/rest/expire-tokens", "")
	require.Equal(t, http.StatusNoContent, code)
	_, err = c.EnvelopeStatus(t.Context(), envs[0].ID)
	require.NoError(t, err, "renewed")
	code, _ = admin(t, http.MethodPost, base+"/admin/rest/refuse?n=2", "")
	require.Equal(t, http.StatusNoContent, code)
	_, err = c.EnvelopeStatus(t.Context(), envs[0].ID)
	assert.ErrorIs(t, err, rest.ErrCredentialsRefused)
	code, body := admin(t, http.MethodPost, base+"/admin/rest/refuse?n=-1", "")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.JSONEq(t, `{"error":"n must be a whole number, 0 or more"}`, body)

	code, body = admin(t, http.MethodGet, base+"/admin/stats", "")
	require.Equal(t, 200, code)
	var stats simulator.Stats
	require.NoError(t, json.Unmarshal([]byte(body), &stats))
	assert.Equal(t, 4, stats.RESTAuthentications, "first, wrong key, after expiry, after the first refusal")
	assert.Equal(t, 5, stats.RESTStatuses)
}

// Without --api-* flags the sample user is accepted; bad values are refused.
func TestCommandRESTDefaultsAndErrors(t *testing.T) {
	envs, _ := simulator.DemoEnvelopes(1, 3)
	base := start(t, "--demo-envelopes", "1", "--seed", "3")
	c, err := rest.New(rest.Config{
		BaseURL: base + simulator.RESTBasePath, AuthURL: base + simulator.RESTAuthPath, APIUsername: sampleAPIUser.Username,
		APIKey: sampleAPIUser.Key, ContextUsername: sampleAPIUser.ContextUsername, MaxRetries: -1,
	})
	require.NoError(t, err)
	_, err = c.EnvelopeStatus(t.Context(), envs[0].ID)
	require.NoError(t, err)

	ctx := t.Context()
	assert.ErrorContains(t, run(ctx, []string{"--api-key-file", testenv.WriteFile(t, filepath.Join(t.TempDir(), "empty"), " \n", 0o600)}, io.Discard, io.Discard), "the API key is empty")
	assert.Error(t, run(ctx, []string{"--api-key-file", filepath.Join(t.TempDir(), "missing")}, io.Discard, io.Discard))
	assert.ErrorContains(t, run(ctx, []string{"--context-username", "a:b"}, io.Discard, io.Discard), "must not contain ':'")
	assert.ErrorContains(t, run(ctx, []string{"--api-username", ""}, io.Discard, io.Discard), "must not be empty")
}
