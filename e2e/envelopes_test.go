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

// The envelope scenario: an envelope of three documents being signed, watched
// by its id and token alone.
const (
	e2eEnvelope      = "E4E10BE0-0E2E-4000-8000-000000000001"
	e2eEnvelopeToken = "B0000000-0E2E-4000-8000-0000000000E1"
)

var envelopeDocs = []document{
	{"E4D0C001-0E2E-4000-8000-000000000001", "B0000000-0E2E-4000-8000-000000000011", "SigningStepInProgress", 1, "", ""},
	{"E4D0C002-0E2E-4000-8000-000000000002", "B0000000-0E2E-4000-8000-000000000012", "SigningStepInProgress", 1, "", ""},
	{"E4D0C003-0E2E-4000-8000-000000000003", "B0000000-0E2E-4000-8000-000000000013", "SigningStepInProgress", 1, "", ""},
}

// TestEnvelopeDeclineEndToEnd: under each API the exporter watches an
// envelope known by its id (and, under SOAP, its token), its documents reach
// Prometheus with the envelope's labels, and when one of the three declines,
// Alertmanager sends exactly one notification: the envelope's, none for the
// document; the dashboard's envelope panels show it declined.
func TestEnvelopeDeclineEndToEnd(t *testing.T) {
	testenv.SkipShort(t) // builds binaries, starts Prometheus and Alertmanager
	tools := requireTools(t, "prometheus", "promtool", "prometheus-alertmanager", "amtool")
	for _, api := range []string{"soap", "rest"} {
		t.Run(api, func(t *testing.T) { envelopeDecline(t, tools, api) })
	}
}

func envelopeDecline(t *testing.T, tools map[string]string, api string) {
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
	testenv.WriteFile(t, filepath.Join(s.dir, "documents.json"), string(docsJSON), 0o600)
	testenv.WriteFile(t, filepath.Join(s.dir, "envelopes.json"), string(envJSON), 0o600)
	testenv.WriteFile(t, filepath.Join(s.dir, "context"), contextID+"\n", 0o600)
	simArgs := []string{"--listen", "127.0.0.1:0", "--context-file", filepath.Join(s.dir, "context"),
		"--documents", filepath.Join(s.dir, "documents.json"), "--envelopes", filepath.Join(s.dir, "envelopes.json")}
	// Under REST an envelope is its id alone, asked for by an API user.
	token := "    auth_token: " + e2eEnvelopeToken + "\n"
	const apiUser, contextUser = "api.user", "jane@example.com"
	keyFile := filepath.Join(s.dir, "api-key")
	if api == "rest" {
		token = ""
		testenv.WriteFile(t, keyFile, testenv.RandomGUID()+"\n", 0o600)
		simArgs = append(simArgs, "--api-username", apiUser, "--api-key-file", keyFile, "--context-username", contextUser)
	}
	s.sim = testenv.StartSimulator(t, simArgs...)
	s.procs = append(s.procs, s.sim.Process)
	s.simURL = s.sim.URL
	testenv.WriteFile(t, filepath.Join(s.dir, "watch.yml"), fmt.Sprintf(
		"envelopes:\n  - id: %s\n%s    labels:\n      customer: acme\n      team: sales\n", e2eEnvelope, token), 0o600)

	testenv.WriteFile(t, filepath.Join(s.dir, "webhook-token"), webhookToken+"\n", 0o600)
	s.exporterArgs = []string{"--refresh.interval=2s"}
	if api == "rest" {
		s.exporterEnv = []string{"ASSURESIGN_API_USERNAME=" + apiUser, "ASSURESIGN_CONTEXT_USERNAME=" + contextUser}
		s.exporterArgs = append(s.exporterArgs, "--assuresign.api=rest",
			"--assuresign.rest.url="+s.simURL+simulator.RESTBasePath, "--assuresign.rest.auth-url="+s.simURL+simulator.RESTAuthPath,
			"--assuresign.rest.api-key-file="+keyFile)
	}
	s.runExporter(t, "127.0.0.1:0")
	s.startMonitoring(t, tools, s.exporterAddr)

	// The baseline: the envelope, its three documents with its labels, in progress.
	s.eventually(t, 30*time.Second, 100*time.Millisecond, "Prometheus sees the envelope's documents", func() (bool, string) {
		docs, err1 := s.prom.query(fmt.Sprintf(`assuresign_document_info{customer="acme", team="sales"} and on(document_id) assuresign_envelope_document_info{envelope_id=%q}`, e2eEnvelope))
		st, err2 := s.prom.query(fmt.Sprintf(`assuresign_envelope_status{envelope_id=%q, status="SigningStepInProgress"} == 1`, e2eEnvelope))
		return err1 == nil && err2 == nil && len(docs) == 3 && len(st) == 1, fmt.Sprint(docs, st, err1, err2)
	})

	declined := envelopeDocs[1]
	declinedAt := time.Now()
	s.simPost("/admin/documents", map[string]any{
		"id": declined.id, "auth_token": declined.token, "status": "Declined",
		"status_date": declinedAt.UTC().Format(time.RFC3339Nano),
	})
	want := map[string]string{"alertname": "AssureSignEnvelopeDeclined", "envelope_id": e2eEnvelope, "customer": "acme", "team": "sales", "severity": "critical"}
	s.eventually(t, 30*time.Second, 100*time.Millisecond, "the envelope's decline notified", func() (bool, string) {
		a, ok := s.sink.find(want)
		return ok && a.status == "firing", fmt.Sprint(s.sink.matching(nil))
	})
	t.Logf("decline -> envelope notification in %.1fs", time.Since(declinedAt).Seconds())

	// Long enough for a second notification to arrive if one were coming:
	// several rule evaluations (1s), group intervals (1s) and refresh rounds (2s).
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
	alerts, err := s.prom.alerts()
	assert.NoError(t, err)
	for _, a := range alerts {
		assert.NotEqual(t, "AssureSignDocumentDeclined", a.Labels["alertname"], "%v", a.Labels)
	}

	// The dashboard's envelope panels show the envelope, declined, with its three documents.
	_, queries := loadDashboard(t, filepath.Join(s.examples, "grafana-dashboard.json"))
	wants := map[string]float64{"timeseries:Envelopes by state/A": 1, "table:Envelopes/A": 1, "table:Envelopes/B": 3, "table:Envelopes/C": 1}
	for _, q := range queries {
		v, ok := wants[q.key]
		if !ok {
			continue
		}
		delete(wants, q.key)
		for _, f := range []filter{filterAll, {"acme/sales", "acme", "sales"}} {
			expr, err := substitute(q.target.Expr, f.values())
			assert.NoError(t, err)
			ss, err := s.prom.query(expr)
			assert.NoError(t, err, expr)
			if assert.Len(t, ss, 1, "%s [%s]", q.key, f.name) {
				assert.Equal(t, v, ss[0].value(), "%s [%s]", q.key, f.name)
			}
		}
	}
	assert.Empty(t, wants, "envelope panels not found in the dashboard")
	st, err := s.prom.query(fmt.Sprintf(`assuresign_envelope_status{envelope_id=%q, status="Declined"} == 1`, e2eEnvelope))
	assert.NoError(t, err)
	assert.Len(t, st, 1)
	up, err := s.prom.query(`assuresign_up == 1`)
	assert.NoError(t, err)
	assert.Len(t, up, 1)
}
