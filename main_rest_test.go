package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/internal/check"
	"github.com/assuresign-exporter/assuresign_exporter/internal/demo"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// restAccount is a simulated account on the REST API: its API user, with a
// random key, and envelopes of the given sizes, their documents in progress.
// The server records every bearer token the exporter sends in secrets.
type restAccount struct {
	sim       *simulator.Simulator
	url       string
	envelopes []string
	documents []string
	user      simulator.APIUser
}

func newRESTAccount(t *testing.T, secrets *testenv.Secrets, sizes ...int) *restAccount {
	t.Helper()
	a := &restAccount{sim: simulator.New(e2eContext),
		user: simulator.APIUser{Username: "api.user", Key: testenv.RandomGUID(), ContextUsername: "jane@example.com"}}
	secrets.Add("API key", a.user.Key)
	a.sim.SetAPIUser(a.user)
	a.envelopes, a.documents = a.sim.PutEnvelopes(sizes...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "bearer "); ok {
			secrets.Add("bearer token", tok)
		}
		a.sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

// args writes a's watch file (envelope ids only) and key file to dir and
// returns the flags of a run against a.
func (a *restAccount) args(t *testing.T, dir string, extra ...string) (testenv.ExporterOptions, []string) {
	t.Helper()
	watch, key := filepath.Join(dir, "watch.yml"), filepath.Join(dir, "api-key")
	var b strings.Builder
	b.WriteString("envelopes:\n")
	for _, e := range a.envelopes {
		fmt.Fprintf(&b, "  - id: %s\n    labels: {customer: acme}\n", e)
	}
	require.NoError(t, os.WriteFile(watch, []byte(b.String()), 0o600))
	require.NoError(t, os.WriteFile(key, []byte(a.user.Key+"\n"), 0o600))
	env := testenv.ExporterOptions{Env: []string{"ASSURESIGN_CONTEXT_IDENTIFIER=" + e2eContext,
		"ASSURESIGN_API_USERNAME=" + a.user.Username, "ASSURESIGN_CONTEXT_USERNAME=" + a.user.ContextUsername}}
	return env, append([]string{"--watch.file=" + watch, "--assuresign.api=rest",
		"--assuresign.rest.url=" + a.url + simulator.RESTBasePath, "--assuresign.rest.auth-url=" + a.url + simulator.RESTAuthPath,
		"--assuresign.rest.api-key-file=" + key, "--assuresign.max-retries=0", "--web.listen-address=127.0.0.1:0"}, extra...)
}

// TestBinaryREST runs the exporter on the REST API with a watch file of
// envelope ids: within its first round every document of the envelopes is on
// /metrics and the landing page; a 401 mid-run (the tokens expired) costs
// one renewal and no lost round; and no API key, token or ContextIdentifier
// is in anything the exporter writes.
func TestBinaryREST(t *testing.T) {
	testenv.SkipShort(t)
	secrets := testenv.NewSecrets(testenv.FragmentLen, e2eContext)
	a := newRESTAccount(t, secrets, 3, 2)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	env, args := a.args(t, dir, "--refresh.interval=1s", "--persistence.file="+state, "--persistence.interval=1s")

	// Declined three days before the exporter starts: its envelope's history
	// dates it, so it is past the alert window at once.
	old := a.documents[len(a.documents)-1]
	declined := time.Now().Add(-72 * time.Hour).Truncate(time.Second)
	a.sim.Update(old, func(d *simulator.Document) { d.Status, d.StatusDate = assuresign.StatusDeclined, declined })
	started := time.Now()
	p := env.Start(t, args...)
	testenv.WaitHTTP(t, p.URL+"/-/ready", http.StatusOK, waitFor)
	text, x := p.Metrics(t)
	statusDate := func(id string) float64 {
		date, ok := x.Value(`assuresign_document_status_timestamp_seconds{document_id="` + id + `"}`)
		assert.True(t, ok, "%s: no status timestamp", id)
		return date
	}
	for _, id := range a.documents {
		assert.Contains(t, text, `assuresign_document_info{document_id="`+id+`",customer="acme"} 1`)
		if id == old {
			assert.Equal(t, "Declined", x.Status(id))
			assert.Equal(t, float64(declined.Unix()), statusDate(id), "dated by the envelope's history")
			continue
		}
		assert.Equal(t, "SigningStepInProgress", x.Status(id), id)
		// REST answers no date: an open step dates from the first answer, for the Stuck alert.
		assert.InDelta(t, float64(started.Unix()), statusDate(id), waitFor.Seconds(), id)
	}
	histories, _ := x.Value(`assuresign_api_requests_total{operation="envelope_history",result="ok"}`)
	assert.Equal(t, 1.0, histories, "one history request: the envelope with a closed document")
	auth, _ := x.Value(`assuresign_api_requests_total{operation="authenticate",result="ok"}`)
	assert.Equal(t, 1.0, auth)
	expiry, _ := x.Value("assuresign_rest_token_expiry_timestamp_seconds")
	assert.Greater(t, expiry, float64(time.Now().Unix()))
	_, soap := x.Value(`assuresign_api_requests_total{operation="check_status",result="ok"}`)
	assert.False(t, soap, "only the chosen API's operations are exported")
	code, page := p.Get(t, "/")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, page, "2 envelopes")
	assert.Contains(t, page, simulator.DocumentName(2))

	// The tokens expire: the next round renews once and its statuses land.
	a.sim.ExpireTokens()
	a.sim.Update(a.documents[0], func(d *simulator.Document) { d.Status, d.Step = assuresign.StatusDeclined, 0 })
	testenv.Eventually(t, waitFor, "the declined document after the renewal", func() (bool, string) {
		_, x = p.Metrics(t)
		return x.Status(a.documents[0]) == "Declined", x.Status(a.documents[0])
	})
	assert.Equal(t, 2, a.sim.Stats().RESTAuthentications, "one renewal")
	up, _ := x.Value("assuresign_up")
	assert.Equal(t, 1.0, up)
	text2, _ := p.Metrics(t)
	_, page2 := p.Get(t, "/")
	p.Stop(10 * time.Second)
	data, err := os.ReadFile(state)
	require.NoError(t, err)
	assert.Contains(t, string(data), a.documents[0])

	for what, s := range map[string]string{
		"/metrics": text + text2, "the landing page": page + page2, "the persistence file": string(data), "the output": p.Output.String(),
	} {
		secrets.AssertNone(t, what, s)
	}
}

// runCheckBinary runs the binary's --check with env and args, returning
// its standard output, its log (standard error) and its exit code.
func runCheckBinary(t *testing.T, env testenv.ExporterOptions, args ...string) (out, log string, code int) {
	t.Helper()
	cmd := exec.Command(testenv.BuildBinary(t, testenv.ExporterPkg), append([]string{"--check"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return stdout.String(), stderr.String(), exit.ExitCode()
	}
	require.NoError(t, err, "%s%s", &stdout, &stderr)
	return stdout.String(), stderr.String(), 0
}

// --check under REST asks about every envelope's documents and reports the
// REST endpoints; refused credentials and missing ones are named.
func TestCheckREST(t *testing.T) {
	testenv.SkipShort(t)
	secrets := testenv.NewSecrets(testenv.FragmentLen, e2eContext)
	a := newRESTAccount(t, secrets, 3, 2)
	env, args := a.args(t, t.TempDir())

	out, log, code := runCheckBinary(t, env, args...)
	assert.Equal(t, check.OK, code, "%s", out)
	secrets.AssertNone(t, "the --check log", log)
	assert.Contains(t, out, "5 of 5 documents have a status; requests to "+a.url+simulator.RESTBasePath+"/envelopes/{envelopeID}/status")
	assert.Contains(t, out, "tokens from "+a.url+simulator.RESTAuthPath)
	secrets.AssertNone(t, "the --check table", out)

	out, _, code = runCheckBinary(t, env, append(args, "--check.output=json")...)
	assert.Equal(t, check.OK, code, "%s", out)
	var rep check.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	assert.Equal(t, a.url+simulator.RESTAuthPath, rep.AuthEndpoint)
	assert.Equal(t, 5, rep.WithStatus)
	assert.Equal(t, 2, rep.EnvelopesListed)
	secrets.AssertNone(t, "the --check JSON", out)

	// A wrong key: the set-up's problem (exit 2, as a wrong ContextIdentifier under SOAP), and what to look at.
	a.sim.SetAPIUser(simulator.APIUser{Username: a.user.Username, Key: "another-key", ContextUsername: a.user.ContextUsername})
	out, log, code = runCheckBinary(t, env, append(args, "--check.output=json")...)
	assert.Equal(t, check.Unreachable, code, "%s", out)
	secrets.AssertNone(t, "the refused --check's log", log)
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	assert.Contains(t, rep.LikelyCause, "ASSURESIGN_API_USERNAME")
	assert.Contains(t, rep.LikelyCause, "--assuresign.rest.auth-url")
	secrets.AssertNone(t, "the refused --check", out)

	// No API user: named before anything is asked.
	env.Env = env.Env[:1]
	_, log, code = runCheckBinary(t, env, args...)
	assert.Equal(t, check.Incomplete, code, "%s", log)
	out = log
	assert.Contains(t, out, "$ASSURESIGN_API_USERNAME (the API user's name) is empty")
	assert.Contains(t, out, "$ASSURESIGN_CONTEXT_USERNAME")
}

// The demo runs on the simulator's REST side, envelopes only, and the
// --check line it prints works against it.
func TestDemoREST(t *testing.T) {
	testenv.SkipShort(t)
	tmp := t.TempDir()
	e := testenv.ExporterOptions{Env: []string{"TMPDIR=" + tmp}}.
		Start(t, "--demo", "--assuresign.api=rest", "--refresh.interval=1h", "--web.listen-address="+testenv.FreeAddr(t))
	testenv.WaitHTTP(t, e.URL+"/-/ready", http.StatusOK, waitFor)
	_, x := e.Metrics(t)
	watched, _ := x.Value("assuresign_watched_documents")
	assert.Equal(t, float64(demo.WatchedDocuments()), watched)
	ok, _ := x.Value(`assuresign_api_requests_total{operation="envelope_status",result="ok"}`)
	assert.Positive(t, ok)
	m := e.WaitOutput(t, regexp.MustCompile(`(?m)^  (.*ASSURESIGN_API_USERNAME=.*--check .*)$`), waitFor)
	cmd := exec.Command("sh", "-c", m[1])
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), fmt.Sprintf("%d of %d documents have a status", demo.WatchedDocuments(), demo.WatchedDocuments()))
	files, err := filepath.Glob(filepath.Join(tmp, "assuresign-demo-*", "api-key"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	key, err := os.ReadFile(files[0])
	require.NoError(t, err)
	secrets := testenv.NewSecrets(testenv.FragmentLen, strings.TrimSpace(string(key)))
	secrets.AssertNone(t, "the demo's output", e.Output.String())
	secrets.AssertNone(t, "the --check output", string(out))
}
