//go:build unix

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// TestDocumentTRAKMissedChangeEndToEnd: the simulator announces every change
// to the exporter's webhook, as DocumentTRAK would. Once a step's
// notification has made the exporter trust push, the simulator drops a
// decline's notification: the exporter's reconciliation finds the decline,
// counts it missed, returns to the normal schedule, and the shipped
// AssureSignDocumentTRAKMissedChanges fires once in Prometheus and reaches
// Alertmanager's receiver once, within one reconcile interval (30s here) and
// the grace a notification gets (30s from its StatusDate).
func TestDocumentTRAKMissedChangeEndToEnd(t *testing.T) {
	testenv.SkipShort(t) // builds binaries, starts Prometheus and Alertmanager
	tools := requireTools(t, "prometheus", "promtool", "prometheus-alertmanager", "amtool")
	addr := testenv.FreeAddr(t)
	s := newNotifyingStack(t, allDocs, "http://"+addr+"/webhooks/documenttrak")
	const reconcile = 30 * time.Second
	s.exporterArgs = []string{"--refresh.interval=2s", "--refresh.max-interval=4s", "--webhook.reconcile-interval=" + reconcile.String()}
	s.runExporter(t, addr)
	s.startMonitoring(t, tools, s.exporterAddr)
	metric := func(line string) (bool, string) {
		_, body, err := httpGet(s.exporterURL + "/metrics")
		return err == nil && strings.Contains(string(body), "\n"+line+"\n"), line
	}

	// A step, announced: push is trusted, open documents go on 30s.
	s.simPost("/admin/documents", map[string]any{"id": docInProgress.id, "auth_token": docInProgress.token, "status": "SigningStepInProgress", "step": 2})
	s.eventually(t, 20*time.Second, 100*time.Millisecond, "push trusted", func() (bool, string) {
		return metric("assuresign_webhook_push_trusted 1")
	})
	s.eventually(t, 20*time.Second, 100*time.Millisecond, "Prometheus scraped the missed changes at 0", func() (bool, string) {
		ss, err := s.prom.query(`assuresign_webhook_missed_changes_total{status="Declined"} == 0`)
		return err == nil && len(ss) == 1, fmt.Sprint(ss, err)
	})

	// The decline's notification is dropped.
	s.simPost("/admin/notifications", map[string]any{"drop_statuses": []string{"Declined"}})
	declinedAt := time.Now()
	s.simPost("/admin/documents", map[string]any{
		"id": docDeclined.id, "auth_token": docDeclined.token, "status": "Declined",
		"status_date": declinedAt.UTC().Format(time.RFC3339Nano),
	})
	want := map[string]string{"alertname": "AssureSignDocumentTRAKMissedChanges", "severity": "warning", "job": "assuresign"}
	var countedAt, firingAt, notifiedAt time.Time
	s.eventually(t, 2*reconcile+30*time.Second, 100*time.Millisecond, "the missed decline counted, firing and notified", func() (bool, string) {
		now := time.Now()
		if ok, _ := metric(`assuresign_webhook_missed_changes_total{status="Declined"} 1`); ok && countedAt.IsZero() {
			countedAt = now
		}
		if alerts, err := s.prom.alerts(); err == nil && firingAt.IsZero() {
			for _, a := range alerts {
				if a.State == "firing" && hasLabels(a.Labels, want) {
					firingAt = now
				}
			}
		}
		if a, ok := s.sink.find(want); ok && a.status == "firing" && notifiedAt.IsZero() {
			notifiedAt = a.at
		}
		return !countedAt.IsZero() && !firingAt.IsZero() && !notifiedAt.IsZero(),
			fmt.Sprintf("counted %v, firing %v, notified %v", countedAt, firingAt, notifiedAt)
	})
	t.Logf("decline to missed-change metric %.1fs, to firing %.1fs, to the receiver %.1fs (reconcile interval %s, grace 30s)",
		countedAt.Sub(declinedAt).Seconds(), firingAt.Sub(declinedAt).Seconds(), notifiedAt.Sub(declinedAt).Seconds(), reconcile)
	assert.Less(t, countedAt.Sub(declinedAt), reconcile+10*time.Second, "counted within one reconcile interval (and a round or two)")
	ok, _ := metric("assuresign_webhook_push_trusted 0")
	assert.True(t, ok, "push is no longer trusted")

	// Once: a few more evaluations and notification rounds change nothing.
	time.Sleep(5 * time.Second)
	assert.Len(t, s.sink.matching(map[string]string{"alertname": want["alertname"]}), 1, "one notification of the alert")
	_, body, err := httpGet(s.exporterURL + "/")
	require.NoError(t, err)
	assert.Contains(t, string(body), docDeclined.id+" to Declined, found", "the landing page names the missed change")
}
