//go:build unix

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// The scenario's account and documents. Ids are upper-case GUIDs, as the
// exporter exports them.
const (
	contextID    = "0E2E0E2E-C0DE-4ABC-8DEF-0123456789AB"
	webhookToken = "e2e-documenttrak-token-7f9c2a4b1d"
)

type document struct {
	id, token      string
	status         string // initial status in the simulator
	step           int
	customer, team string
}

var (
	// docDeclined starts SigningStepInProgress; the test declines it.
	docDeclined = document{"DEC11AED-0E2E-4000-8000-000000000001", "A0000000-0E2E-4000-8000-000000000001", "SigningStepInProgress", 2, "acme", "sales"}
	// docCompleted must never get a document alert.
	docCompleted = document{"C0371E7E-0E2E-4000-8000-000000000002", "A0000000-0E2E-4000-8000-000000000002", "Completed", 0, "globex", "legal"}
	// docCreated gets an Error StatusCheckException injected through the simulator's admin API.
	docCreated = document{"C4EA7ED0-0E2E-4000-8000-000000000003", "A0000000-0E2E-4000-8000-000000000003", "Created", 0, "acme", "sales"}
	// docInProgress stays SigningStepInProgress (the open-documents table's step column needs one).
	docInProgress = document{"1A9A0CE5-0E2E-4000-8000-000000000004", "A0000000-0E2E-4000-8000-000000000004", "SigningStepInProgress", 1, "acme", "sales"}

	allDocs = []document{docDeclined, docCompleted, docCreated, docInProgress}
)

// The document alerts of alerts.yml: none may exist for docCompleted.
var documentAlerts = []string{
	"AssureSignDocumentDeclined", "AssureSignDocumentExpired", "AssureSignDocumentCancelled",
	"AssureSignSignerAuthenticationFailed", "AssureSignDocumentStuck", "AssureSignDocumentExceptions",
}

// stack is the running system: simulator -> exporter -> Prometheus -> Alertmanager -> webhook sink.
type stack struct {
	t            *testing.T
	procs        []*testenv.Process // every process of the stack, watched while polling
	dir          string             // the stack's files
	examples     string
	sim          *testenv.Simulator
	simURL       string
	exporterArgs []string // less --web.listen-address
	exporterEnv  []string // beside the ContextIdentifier (the REST API's user)
	exporter     *testenv.Exporter
	exporterAddr string
	exporterURL  string
	prom         prometheusAPI
	amURL        string
	sink         *webhookSink
}

// TestAlertingEndToEnd runs the shipped alerts.yml, rules.yml and
// grafana-dashboard.json against a real Prometheus and Alertmanager fed by the
// exporter and the AssureSign simulator:
//   - a decline becomes a firing AssureSignDocumentDeclined in Prometheus and
//     reaches Alertmanager (and its webhook receiver) with the document's id
//     and watch-file labels, within a bounded, measured time;
//   - no document alert ever exists for a Completed document, and every rule
//     evaluates without error;
//   - every dashboard query (and variable query) is accepted by Prometheus,
//     and returns the data this scenario should give;
//   - stopping AssureSign makes AssureSignUpstreamUnreachable go pending,
//     then firing.
func TestAlertingEndToEnd(t *testing.T) {
	testenv.SkipShort(t) // builds binaries, starts Prometheus and Alertmanager
	tools := requireTools(t, "prometheus", "promtool", "prometheus-alertmanager", "amtool")
	// The shipped rules and dashboard must work with the state set and with
	// --metrics.current-status-only alike.
	for _, form := range []struct {
		name string
		args []string
	}{{"state set", nil}, {"current status only", []string{"--metrics.current-status-only"}}} {
		t.Run(form.name, func(t *testing.T) {
			testStart := time.Now()
			s := startStack(t, tools, form.args...)
			t.Logf("stack up in %.1fs (since test start)", time.Since(testStart).Seconds())

			t.Run("decline reaches Alertmanager", s.testDecline)
			if t.Failed() {
				return
			}
			t.Run("dashboard queries", s.testDashboard)
			t.Run("no alert for the Completed document", s.testNoCompletedAlert)
			t.Run("rules evaluate without error", s.testRuleHealth)
			t.Run("upstream unreachable goes pending then firing", s.testUpstreamUnreachable)
			t.Logf("total: %.1fs", time.Since(testStart).Seconds())
		})
	}
}

// ---------------------------------------------------------------- set-up

// startStack starts the simulator, the exporter (with extra flags), Alertmanager
// and Prometheus.
func startStack(t *testing.T, tools map[string]string, exporterArgs ...string) *stack {
	s := newStack(t, allDocs)
	s.exporterArgs = append([]string{"--refresh.interval=2s"}, exporterArgs...)
	s.runExporter(t, "127.0.0.1:0")

	// An Error exception on docCreated, so that the exception panels have data
	// (and AssureSignDocumentExceptions goes pending; its for: 30m keeps it
	// from firing). The document keeps its status.
	s.simPost("/admin/documents", map[string]any{
		"id": docCreated.id, "auth_token": docCreated.token, "status": docCreated.status,
		"exceptions": []map[string]string{{"severity": "Error", "message": "e2e: injected error"}},
	})

	s.startMonitoring(t, tools, s.exporterAddr)

	// The baseline: Prometheus has scraped the exporter, evaluated rules.yml,
	// and sees docDeclined in progress with its watch labels.
	s.eventually(t, 30*time.Second, 100*time.Millisecond, "Prometheus sees the documents", func() (bool, string) {
		ss, err := s.prom.query(fmt.Sprintf(`assuresign:document_status:with_info{document_id=%q, status="SigningStepInProgress", customer=%q, team=%q}`,
			docDeclined.id, docDeclined.customer, docDeclined.team))
		return err == nil && len(ss) == 1, fmt.Sprint(ss, err)
	})
	// One DocumentTRAK notification, so that the webhook panel shows a rate.
	// Sent once Prometheus has scraped the counters at 0: rate() cannot see
	// an increase that happened before a series' first sample.
	notify(t, s.exporterURL, docInProgress.id)
	return s
}

// newStack starts the AssureSign simulator with docs, and writes their watch
// file (with their customer and team labels) and the webhook's token.
func newStack(t *testing.T, docs []document) *stack { return newNotifyingStack(t, docs, "") }

// newNotifyingStack is newStack with the simulator sending DocumentTRAK
// notifications to notifyURL, with the webhook's token ("": none).
func newNotifyingStack(t *testing.T, docs []document, notifyURL string) *stack {
	s := &stack{t: t, dir: t.TempDir(), examples: filepath.Join(moduleRoot(t), "examples")}
	var simDocs []map[string]any
	var watch strings.Builder
	watch.WriteString("documents:\n")
	for _, d := range docs {
		simDocs = append(simDocs, map[string]any{"id": d.id, "auth_token": d.token, "status": d.status, "step": d.step})
		fmt.Fprintf(&watch, "  - id: %s\n    auth_token: %s\n    labels:\n      customer: %s\n      team: %s\n", d.id, d.token, d.customer, d.team)
	}
	docsJSON, err := json.Marshal(simDocs)
	require.NoError(t, err)
	testenv.WriteFile(t, filepath.Join(s.dir, "documents.json"), string(docsJSON), 0o600)
	testenv.WriteFile(t, filepath.Join(s.dir, "context"), contextID+"\n", 0o600)
	testenv.WriteFile(t, filepath.Join(s.dir, "webhook-token"), webhookToken+"\n", 0o600)
	simArgs := []string{"--listen", "127.0.0.1:0", "--context-file", filepath.Join(s.dir, "context"), "--documents", filepath.Join(s.dir, "documents.json")}
	if notifyURL != "" {
		simArgs = append(simArgs, "--notify-url", notifyURL, "--notify-token-file", filepath.Join(s.dir, "webhook-token"))
	}
	s.sim = testenv.StartSimulator(t, simArgs...)
	s.procs = append(s.procs, s.sim.Process)
	s.simURL = s.sim.URL
	testenv.WriteFile(t, filepath.Join(s.dir, "watch.yml"), watch.String(), 0o600)
	return s
}

// startExporter starts an exporter watching the stack's documents on the
// simulator, with the webhook on (the dashboard's webhook panel needs data),
// and more flags.
func (s *stack) startExporter(t *testing.T, args ...string) *testenv.Exporter {
	e := testenv.ExporterOptions{Env: append([]string{"ASSURESIGN_CONTEXT_IDENTIFIER=" + contextID}, s.exporterEnv...)}.Start(t, append([]string{
		"--watch.file=" + filepath.Join(s.dir, "watch.yml"),
		"--assuresign.endpoint=" + s.sim.Endpoint(),
		"--webhook.bearer-token-file=" + filepath.Join(s.dir, "webhook-token"),
	}, args...)...)
	s.procs = append(s.procs, e.Process)
	return e
}

// startMonitoring starts Alertmanager, notifying s.sink, and Prometheus,
// scraping targets in one job and loading the test's copy of alerts.yml and
// the shipped rules.yml, and waits until both are ready with every rule
// group at 1s.
func (s *stack) startMonitoring(t *testing.T, tools map[string]string, targets ...string) {
	dir := s.dir
	// --- Alertmanager, notifying a webhook in this process
	s.sink = &webhookSink{}
	sinkSrv := httptest.NewServer(s.sink)
	t.Cleanup(sinkSrv.Close)
	amAddr := testenv.FreeAddr(t)
	s.amURL = "http://" + amAddr
	amConfig := filepath.Join(dir, "alertmanager.yml")
	testenv.WriteFile(t, amConfig, fmt.Sprintf(`route:
  receiver: e2e
  group_by: [alertname, document_id]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: e2e
    webhook_configs:
      - url: %q
        send_resolved: true
`, sinkSrv.URL+"/alertmanager"), 0o600)

	runTool(t, tools["amtool"], "check-config", amConfig)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "alertmanager-data"), 0o700))
	am := testenv.Start(t, exec.Command(tools["prometheus-alertmanager"],
		"--config.file="+amConfig,
		"--storage.path="+filepath.Join(dir, "alertmanager-data"),
		"--web.listen-address="+amAddr,
		"--cluster.listen-address=", // no gossip: a single, local instance
	))
	s.procs = append(s.procs, am)

	// --- Prometheus
	// alerts.yml is loaded from a copy (see rewriteAlerts): its document
	// group pins `interval: 15s`, rewritten to 1s, and the exporter-health
	// alerts' `for:` (5m/10m) is rewritten to 5s so that the upstream alert can
	// be seen firing in seconds. rules.yml is loaded from examples/ unchanged.
	src, err := os.ReadFile(filepath.Join(s.examples, "alerts.yml"))
	require.NoError(t, err)
	alertsCopy, err := rewriteAlerts(string(src))
	require.NoError(t, err)
	testenv.WriteFile(t, filepath.Join(dir, "alerts.yml"), alertsCopy, 0o600)
	promAddr := testenv.FreeAddr(t)
	targetsJSON, err := json.Marshal(targets) // a YAML flow sequence
	require.NoError(t, err)
	promConfig := filepath.Join(dir, "prometheus.yml")
	testenv.WriteFile(t, promConfig, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
  - %q
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
scrape_configs:
  # The job name is the one alerts.yml and the dashboard use.
  - job_name: assuresign
    static_configs:
      - targets: %s
`, filepath.Join(dir, "alerts.yml"), filepath.Join(s.examples, "rules.yml"), amAddr, targetsJSON), 0o600)

	// Checks the generated configuration and the edited copy of alerts.yml
	// (check.sh checks the shipped files).
	runTool(t, tools["promtool"], "check", "config", promConfig)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "prometheus-data"), 0o700))
	prom := testenv.Start(t, exec.Command(tools["prometheus"],
		"--config.file="+promConfig,
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus-data"),
		"--web.listen-address="+promAddr,
	))
	s.procs = append(s.procs, prom)
	s.prom = prometheusAPI{base: "http://" + promAddr}

	for name, url := range map[string]string{"Alertmanager": s.amURL, "Prometheus": s.prom.base} {
		s.eventually(t, 30*time.Second, 50*time.Millisecond, name+" ready", func() (bool, string) {
			code, body, err := httpGet(url + "/-/ready")
			return code == http.StatusOK, fmt.Sprint(code, " ", strings.TrimSpace(string(body)), " ", err)
		})
	}

	// Both rule files loaded, every group at 1s.
	var rules rulesData
	require.NoError(t, s.prom.call("/api/v1/rules", nil, &rules))
	intervals := map[string]float64{}
	for _, g := range rules.Groups {
		intervals[g.Name] = g.Interval
	}
	require.Equal(t, map[string]float64{"assuresign-documents": 1, "assuresign-exporter": 1, "assuresign-recording": 1}, intervals, "rule groups and their intervals")
}

// runExporter starts the stack's exporter, with s.exporterArgs, on listen
// and waits until it is ready (its first refresh round done, or its state
// restored).
func (s *stack) runExporter(t *testing.T, listen string) {
	s.exporter = s.startExporter(t, append(slices.Clone(s.exporterArgs), "--web.listen-address="+listen)...)
	s.exporterAddr, s.exporterURL = s.exporter.Addr, s.exporter.URL
	s.eventually(t, 20*time.Second, 50*time.Millisecond, "exporter ready", func() (bool, string) {
		code, body, err := httpGet(s.exporterURL + "/-/ready")
		return code == http.StatusOK, fmt.Sprint(code, " ", strings.TrimSpace(string(body)), " ", err)
	})
}

type rulesData struct {
	Groups []struct {
		Name     string  `json:"name"`
		File     string  `json:"file"`
		Interval float64 `json:"interval"`
		Rules    []struct {
			Name      string `json:"name"`
			Type      string `json:"type"`
			Health    string `json:"health"`
			LastError string `json:"lastError"`
		} `json:"rules"`
	} `json:"groups"`
}

func runTool(t *testing.T, bin string, args ...string) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	require.NoError(t, err, "%s %s:\n%s", filepath.Base(bin), strings.Join(args, " "), out)
}

// simPost POSTs v as JSON to the simulator's admin API.
func (s *stack) simPost(path string, v any) {
	s.t.Helper()
	b, err := json.Marshal(v)
	require.NoError(s.t, err)
	res, body, err := testenv.Fetch(nil, http.MethodPost, s.simURL+path, http.Header{"Content-Type": {"application/json"}}, b)
	require.NoError(s.t, err)
	require.Equal(s.t, http.StatusNoContent, res.StatusCode, "POST %s: %s", path, body)
}

func docLabels(d document) map[string]string {
	return map[string]string{"document_id": d.id, "customer": d.customer, "team": d.team}
}

// ---------------------------------------------------------------- decline

func (s *stack) testDecline(t *testing.T) {
	want := docLabels(docDeclined)
	want["alertname"] = "AssureSignDocumentDeclined"
	want["severity"] = "critical"
	want["job"] = "assuresign"

	alerts, err := s.prom.alerts()
	require.NoError(t, err)
	for _, a := range alerts {
		require.NotEqual(t, docDeclined.id, a.Labels["document_id"], "an alert before the decline: %v", a)
	}

	// Decline it now, as a signer would.
	declinedAt := time.Now()
	s.simPost("/admin/documents", map[string]any{
		"id": docDeclined.id, "auth_token": docDeclined.token, "status": "Declined",
		"status_date": declinedAt.UTC().Format(time.RFC3339Nano),
	})

	var exporterAt, firingAt, amAt, notifiedAt time.Time
	var promAlertSeen promAlert
	var amAlertSeen amAlert
	declinedInMetrics := func(body []byte) bool {
		x, err := testenv.ParseExposition(string(body), "assuresign_document_status")
		return err == nil && x.Status(docDeclined.id) == "Declined"
	}
	// The bound: 2s refresh (plus jitter) + 1s scrape + 1s evaluation +
	// sending, a few seconds; 30s is far above that and well under a minute.
	s.eventually(t, 30*time.Second, 100*time.Millisecond, "decline seen by exporter, Prometheus, Alertmanager and its receiver", func() (bool, string) {
		now := time.Now()
		if exporterAt.IsZero() {
			if _, body, err := httpGet(s.exporterURL + "/metrics"); err == nil && declinedInMetrics(body) {
				exporterAt = now
			}
		}
		var others []string // alerts of the name without the expected labels, for the failure message
		if firingAt.IsZero() {
			if alerts, err := s.prom.alerts(); err == nil {
				for _, a := range alerts {
					switch {
					case a.State == "firing" && hasLabels(a.Labels, want):
						firingAt, promAlertSeen = now, a
					case a.Labels["alertname"] == want["alertname"]:
						others = append(others, fmt.Sprintf("%s %v", a.State, a.Labels))
					}
				}
			}
		}
		if amAt.IsZero() {
			if alerts, err := amAlerts(s.amURL); err == nil {
				for _, a := range alerts {
					if hasLabels(a.Labels, want) {
						amAt, amAlertSeen = now, a
					}
				}
			}
		}
		if notifiedAt.IsZero() {
			if a, ok := s.sink.find(want); ok && a.status == "firing" {
				notifiedAt = a.at
			}
		}
		return !exporterAt.IsZero() && !firingAt.IsZero() && !amAt.IsZero() && !notifiedAt.IsZero(),
			fmt.Sprintf("exporter %v, Prometheus firing %v, Alertmanager %v, notified %v; want labels %v; other %s alerts in Prometheus: %v",
				!exporterAt.IsZero(), !firingAt.IsZero(), !amAt.IsZero(), !notifiedAt.IsZero(), want, want["alertname"], others)
	})
	since := func(at time.Time) string { return fmt.Sprintf("%.1fs", at.Sub(declinedAt).Seconds()) }
	t.Logf("decline -> exporter /metrics %s, -> Prometheus firing %s, -> Alertmanager /api/v2/alerts %s, -> webhook notification %s (polled every 100ms)",
		since(exporterAt), since(firingAt), since(amAt), since(notifiedAt))

	// Prometheus: the alert carries the document and its watch labels, and
	// its templates rendered (the description's query found the StatusDate).
	assert.Equal(t, want, pick(promAlertSeen.Labels, want), "Prometheus alert labels")
	assert.NotContains(t, promAlertSeen.Labels, "instance", "document alerts aggregate the exporter away")
	assert.Equal(t, "An AssureSign document was declined", promAlertSeen.Annotations["summary"])
	desc := promAlertSeen.Annotations["description"]
	assert.Contains(t, desc, docDeclined.id, "the description names the document")
	assert.Contains(t, desc, `customer="acme"`, "the description lists the watch labels")
	assert.Contains(t, desc, `team="sales"`, "the description lists the watch labels")
	assert.NotContains(t, desc, "an unknown time", "the description's query finds the StatusDate")
	assert.True(t, strings.HasSuffix(promAlertSeen.Annotations["runbook_url"], "#assuresigndocumentdeclined"), promAlertSeen.Annotations["runbook_url"])

	// Alertmanager: the same labels, active.
	assert.Equal(t, promAlertSeen.Labels, amAlertSeen.Labels, "Alertmanager has the labels Prometheus sent")
	assert.Equal(t, "active", amAlertSeen.Status.State)
}

// pick returns the labels of have that want names.
func pick(have, want map[string]string) map[string]string {
	out := map[string]string{}
	for k := range want {
		if v, ok := have[k]; ok {
			out[k] = v
		}
	}
	return out
}

// ---------------------------------------------------------------- Completed

func (s *stack) testNoCompletedAlert(t *testing.T) {
	// The rules that could wrongly fire are loaded (else their absence proves nothing).
	var rules rulesData
	require.NoError(t, s.prom.call("/api/v1/rules", nil, &rules))
	var loaded []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Type == "alerting" {
				loaded = append(loaded, r.Name)
			}
		}
	}
	for _, name := range documentAlerts {
		assert.Contains(t, loaded, name)
	}

	alerts, err := s.prom.alerts()
	require.NoError(t, err)
	for _, a := range alerts {
		assert.NotEqual(t, docCompleted.id, a.Labels["document_id"], "Prometheus alert for the Completed document: %v", a)
	}
	ams, err := amAlerts(s.amURL)
	require.NoError(t, err)
	for _, a := range ams {
		assert.NotEqual(t, docCompleted.id, a.Labels["document_id"], "Alertmanager alert for the Completed document: %v", a)
	}
	// ALERTS keeps pending alerts too: not once, at any evaluation so far.
	ss, err := s.prom.query(fmt.Sprintf(`count_over_time(ALERTS{document_id=%q}[1h])`, docCompleted.id))
	require.NoError(t, err)
	assert.Empty(t, ss, "ALERTS series for the Completed document")
	// ... while it was scraped all along.
	ss, err = s.prom.query(fmt.Sprintf(`assuresign:document_status:with_info{document_id=%q, status="Completed"}`, docCompleted.id))
	require.NoError(t, err)
	assert.Len(t, ss, 1, "the Completed document is in Prometheus")
}

// ---------------------------------------------------------------- rule health

func (s *stack) testRuleHealth(t *testing.T) {
	var rules rulesData
	require.NoError(t, s.prom.call("/api/v1/rules", nil, &rules))
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			assert.Equal(t, "ok", r.Health, "rule %s (group %s): %s", r.Name, g.Name, r.LastError)
		}
	}
	assert.Positive(t, n)
}

// ---------------------------------------------------------------- upstream

func (s *stack) testUpstreamUnreachable(t *testing.T) {
	const name = "AssureSignUpstreamUnreachable"
	alerts, err := s.prom.alerts()
	require.NoError(t, err)
	for _, a := range alerts {
		require.NotEqual(t, name, a.Labels["alertname"], "%s before AssureSign stopped: %v", name, a)
	}

	s.sim.Stop(10 * time.Second)
	stoppedAt := time.Now()
	var states []string // the distinct states seen, in order
	var firing promAlert
	s.eventually(t, 45*time.Second, 100*time.Millisecond, name+" firing", func() (bool, string) {
		alerts, err := s.prom.alerts()
		if err != nil {
			return false, err.Error()
		}
		for _, a := range alerts {
			if a.Labels["alertname"] != name {
				continue
			}
			if len(states) == 0 || states[len(states)-1] != a.State {
				states = append(states, a.State)
				t.Logf("%s %s after %.1fs", name, a.State, time.Since(stoppedAt).Seconds())
			}
			if a.State == "firing" {
				firing = a
				return true, ""
			}
		}
		return false, fmt.Sprint("states so far: ", states)
	})
	assert.Equal(t, []string{"pending", "firing"}, states, "pending, then firing")
	// Also from the TSDB, whatever the polling saw.
	ss, err := s.prom.query(`count_over_time(ALERTS{alertname="` + name + `", alertstate="pending"}[5m])`)
	require.NoError(t, err)
	assert.NotEmpty(t, ss, "ALERTS{alertstate=\"pending\"} for %s", name)
	assert.Equal(t, map[string]string{"alertname": name, "severity": "warning", "job": "assuresign", "instance": s.exporterAddr},
		pick(firing.Labels, map[string]string{"alertname": "", "severity": "", "job": "", "instance": ""}))
	ss, err = s.prom.query(`assuresign_up`)
	require.NoError(t, err)
	require.Len(t, ss, 1)
	assert.Zero(t, ss[0].value(), "assuresign_up")
	// It stays pending for its for: (5s in the test copy) before firing.
	assert.GreaterOrEqual(t, time.Since(firing.ActiveAt), 5*time.Second, "pending for its for:")

	s.eventually(t, 15*time.Second, 100*time.Millisecond, name+" in Alertmanager", func() (bool, string) {
		alerts, err := amAlerts(s.amURL)
		if err != nil {
			return false, err.Error()
		}
		return slices.ContainsFunc(alerts, func(a amAlert) bool { return a.Labels["alertname"] == name }), fmt.Sprint(len(alerts), " alerts")
	})
}
