package main

import (
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
	"github.com/assuresign-exporter/assuresign_exporter/server"
)

// TestBinaryEnvelopes runs the exporter on a watch file of envelopes only:
// within its first round every listed document is on /metrics and the
// landing page with the envelope's labels; a notification naming the
// envelope lists it again; a restart lists each envelope once and asks about
// nothing else; and no token (the envelopes' or the listed documents') is in
// anything the exporter writes.
func TestBinaryEnvelopes(t *testing.T) {
	testenv.SkipShort(t)
	const (
		envOK, envFaulty = "E0000000-0000-4000-8000-0000000000E1", "E0000000-0000-4000-8000-0000000000E2"
		hook             = "envelope-webhook-token-3c9d" //nolint:gosec // G101: a test's token
	)
	envToken := testenv.RandomGUID()
	secrets := testenv.NewSecrets(testenv.FragmentLen, e2eContext, envToken, hook)
	sim := simulator.New(e2eContext)
	var ids []string
	for i := range 3 {
		id := fmt.Sprintf("D0C0000%d-0000-4000-8000-00000000000%d", i, i)
		token := testenv.RandomGUID()
		secrets.Add("listed token", token)
		sim.Put(simulator.Document{ID: id, AuthToken: token, Status: assuresign.StatusSigningStepInProgress, Step: 1, StatusDate: time.Now().Add(-time.Hour)})
		ids = append(ids, id)
	}
	sim.PutEnvelope(simulator.Envelope{ID: envOK, AuthToken: envToken, Documents: ids})
	sim.PutEnvelope(simulator.Envelope{ID: envFaulty, AuthToken: envToken, Documents: ids[:1], Fault: true})
	endpoint, _ := serveSimulator(t, sim, false)
	dir := t.TempDir()
	watchPath, state, tokenPath := filepath.Join(dir, "watch.yml"), filepath.Join(dir, "state"), filepath.Join(dir, "hook")
	require.NoError(t, os.WriteFile(watchPath, []byte("envelopes:\n"+entry(envOK, envToken, "    labels: {customer: acme}\n")+entry(envFaulty, envToken, "")), 0o600))
	require.NoError(t, os.WriteFile(tokenPath, []byte(hook+"\n"), 0o600))
	args := []string{"--watch.file=" + watchPath, "--assuresign.endpoint=" + endpoint, "--assuresign.max-retries=0",
		"--refresh.interval=1h", "--persistence.file=" + state, "--webhook.bearer-token-file=" + tokenPath, "--web.listen-address=127.0.0.1:0"}

	first := withContext.Start(t, args...)
	testenv.WaitHTTP(t, first.URL+"/-/ready", http.StatusOK, waitFor)
	text, x := first.Metrics(t)
	for _, id := range ids {
		assert.Equal(t, "SigningStepInProgress", x.Status(id))
		assert.Contains(t, text, `assuresign_document_info{document_id="`+id+`",customer="acme"} 1`)
	}
	n, _ := x.Value(`assuresign_envelope_documents{envelope_id="` + envOK + `"}`)
	assert.Equal(t, 3.0, n)
	ok, _ := x.Value(`assuresign_envelope_list_success{envelope_id="` + envFaulty + `"}`)
	assert.Equal(t, 0.0, ok)
	up, _ := x.Value("assuresign_up")
	assert.Equal(t, 1.0, up, "a failed listing is not AssureSign down")
	code, page := first.Get(t, "/")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, page, "2 envelopes")
	assert.Contains(t, page, simulator.DocumentName(3))

	// A notification naming the envelope lists it again at once.
	before := sim.Stats().Listings
	res, body, err := testenv.Fetch(nil, http.MethodPost, first.URL+server.WebhookPath,
		http.Header{"Authorization": {"Bearer " + hook}, "Content-Type": {"application/json"}}, []byte(`{"envelope_id":"`+strings.ToLower(envOK)+`"}`))
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, res.StatusCode, string(body))
	testenv.Eventually(t, waitFor, "the envelope listed again", func() (bool, string) {
		return sim.Stats().Listings > before, fmt.Sprint(sim.Stats().Listings)
	})
	_, page2 := first.Get(t, "/")
	first.Stop(10 * time.Second)
	data, err := os.ReadFile(state)
	require.NoError(t, err)
	for _, id := range ids {
		assert.Contains(t, string(data), id, "the listed documents are persisted")
	}

	// The restart lists each envelope once and asks about nothing else.
	sim.ResetStats()
	second := withContext.Start(t, args...)
	// A scrape's own metrics may come from a moment later than its
	// documents: wait for both the round and the restored documents.
	testenv.Eventually(t, waitFor, "the first round after the restart", func() (bool, string) {
		_, x = second.Metrics(t)
		v, _ := x.Value("assuresign_last_refresh_success_timestamp_seconds")
		return v > 0 && x.Status(ids[2]) != "", "no round yet"
	})
	st := sim.Stats()
	assert.Equal(t, 2, st.Listings, "one listing per envelope")
	assert.Zero(t, st.Documents, "no document was asked about again")
	assert.Equal(t, "SigningStepInProgress", x.Status(ids[2]))
	second.Stop(10 * time.Second)

	for what, s := range map[string]string{
		"/metrics": text, "the landing page": page + page2, "the persistence file": string(data),
		"the first run's output": first.Output.String(), "the second run's output": second.Output.String(),
	} {
		secrets.AssertNone(t, what, s)
	}
}
