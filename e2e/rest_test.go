//go:build unix

package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// TestRESTEnvelopeDeclineEndToEnd is TestEnvelopeDeclineEndToEnd through the
// REST API: the exporter knows the envelope by its id alone and an API user;
// when one of its three documents declines, Alertmanager sends exactly one
// notification, the envelope's.
func TestRESTEnvelopeDeclineEndToEnd(t *testing.T) {
	testenv.SkipShort(t) // builds binaries, starts Prometheus and Alertmanager
	tools := requireTools(t, "prometheus", "promtool", "prometheus-alertmanager", "amtool")
	s := &stack{t: t, dir: t.TempDir(), examples: filepath.Join(moduleRoot(t), "examples")}
	var simDocs []map[string]any
	var ids []string
	for _, d := range envelopeDocs {
		simDocs = append(simDocs, map[string]any{"id": d.id, "auth_token": d.token, "status": d.status, "step": d.step})
		ids = append(ids, d.id)
	}
	docsJSON, err := json.Marshal(simDocs)
	assert.NoError(t, err)
	envJSON, err := json.Marshal([]map[string]any{{"id": e2eEnvelope, "auth_token": e2eEnvelopeToken, "documents": ids}})
	assert.NoError(t, err)
	const apiUser, contextUser = "api.user", "jane@example.com"
	apiKey := testenv.RandomGUID()
	keyFile := filepath.Join(s.dir, "api-key")
	testenv.WriteFile(t, filepath.Join(s.dir, "documents.json"), string(docsJSON), 0o600)
	testenv.WriteFile(t, filepath.Join(s.dir, "envelopes.json"), string(envJSON), 0o600)
	testenv.WriteFile(t, filepath.Join(s.dir, "context"), contextID+"\n", 0o600)
	testenv.WriteFile(t, keyFile, apiKey+"\n", 0o600)
	s.sim = testenv.StartSimulator(t, "--listen", "127.0.0.1:0", "--context-file", filepath.Join(s.dir, "context"),
		"--documents", filepath.Join(s.dir, "documents.json"), "--envelopes", filepath.Join(s.dir, "envelopes.json"),
		"--api-username", apiUser, "--api-key-file", keyFile, "--context-username", contextUser)
	s.procs = append(s.procs, s.sim.Process)
	s.simURL = s.sim.URL
	testenv.WriteFile(t, filepath.Join(s.dir, "watch.yml"), fmt.Sprintf(
		"envelopes:\n  - id: %s\n    labels:\n      customer: acme\n      team: sales\n", e2eEnvelope), 0o600)

	testenv.WriteFile(t, filepath.Join(s.dir, "webhook-token"), webhookToken+"\n", 0o600)
	s.exporterEnv = []string{"ASSURESIGN_API_USERNAME=" + apiUser, "ASSURESIGN_CONTEXT_USERNAME=" + contextUser}
	s.exporterArgs = []string{"--refresh.interval=2s", "--assuresign.api=rest",
		"--assuresign.rest.url=" + s.simURL + simulator.RESTBasePath, "--assuresign.rest.auth-url=" + s.simURL + simulator.RESTAuthPath,
		"--assuresign.rest.api-key-file=" + keyFile}
	s.runExporter(t, "127.0.0.1:0")
	s.startMonitoring(t, tools, s.exporterAddr)

	s.eventually(t, 30*time.Second, 100*time.Millisecond, "Prometheus sees the envelope's documents", func() (bool, string) {
		docs, err1 := s.prom.query(fmt.Sprintf(`assuresign_document_info{customer="acme", team="sales"} and on(document_id) assuresign_envelope_document_info{envelope_id=%q}`, e2eEnvelope))
		st, err2 := s.prom.query(fmt.Sprintf(`assuresign_envelope_status{envelope_id=%q, status="SigningStepInProgress"} == 1`, e2eEnvelope))
		return err1 == nil && err2 == nil && len(docs) == 3 && len(st) == 1, fmt.Sprint(docs, st, err1, err2)
	})

	declined := envelopeDocs[1]
	declinedAt := time.Now()
	s.simPost("/admin/documents", map[string]any{"id": declined.id, "auth_token": declined.token, "status": "Declined"})
	want := map[string]string{"alertname": "AssureSignEnvelopeDeclined", "envelope_id": e2eEnvelope, "customer": "acme", "team": "sales", "severity": "critical"}
	s.eventually(t, 30*time.Second, 100*time.Millisecond, "the envelope's decline notified", func() (bool, string) {
		a, ok := s.sink.find(want)
		return ok && a.status == "firing", fmt.Sprint(s.sink.matching(nil))
	})
	t.Logf("decline -> envelope notification in %.1fs", time.Since(declinedAt).Seconds())

	// Long enough for a second notification to arrive if one were coming.
	time.Sleep(8 * time.Second)
	envelopeNotices, documentNotices := 0, 0
	for _, a := range s.sink.matching(nil) {
		if a.status != "firing" {
			continue
		}
		switch a.labels["alertname"] {
		case "AssureSignEnvelopeDeclined":
			envelopeNotices++
		case "AssureSignDocumentDeclined":
			documentNotices++
		}
	}
	assert.Equal(t, 1, envelopeNotices, "exactly one envelope notification")
	assert.Zero(t, documentNotices, "the document's decline pages through its envelope only")
	up, err := s.prom.query(`assuresign_up == 1`)
	assert.NoError(t, err)
	assert.Len(t, up, 1)
}
