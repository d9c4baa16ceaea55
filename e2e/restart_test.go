//go:build unix

package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// away is how long the exporter stays stopped: five evaluations of the test
// copy's rule groups (1s), with every scrape failing.
const away = 5 * time.Second

// TestRestartKeepsAlerts restarts the exporter, with its persistence file,
// under a firing AssureSignDocumentDeclined alert, as a deploy does: while it
// is away Prometheus' scrapes fail and the document series go stale; the
// alert is kept firing by the shipped keep_firing_for, and the restarted
// exporter serves the saved statuses from its first scrape. Alertmanager's
// receiver gets the decline once, never "resolved", and AssureSign is not
// asked about a closed document after the restart.
func TestRestartKeepsAlerts(t *testing.T) {
	testenv.SkipShort(t) // builds binaries, starts Prometheus and Alertmanager
	tools := requireTools(t, "prometheus", "promtool", "prometheus-alertmanager", "amtool")
	testStart := time.Now()
	s := startStack(t, tools, "--persistence.file="+filepath.Join(t.TempDir(), "state"))
	s.testDecline(t)
	if t.Failed() {
		return
	}
	declined := map[string]string{"alertname": "AssureSignDocumentDeclined", "document_id": docDeclined.id}
	before := s.firing(t, declined)
	require.Nil(t, before.KeepFiringSince, "the alert's condition holds before the restart")

	// Stop it as Kubernetes does (SIGTERM: the state file is written), and
	// count AssureSign's requests from now on.
	require.True(t, s.exporter.Stop(10*time.Second), "the exporter stops on SIGTERM")
	stoppedAt := time.Now()
	simDelete(t, s.simURL+"/admin/stats")

	// While it is away: failed scrapes, stale series, the alert still firing
	// (by keep_firing_for) at every look.
	var sawDown, sawStale, sawKept bool
	for time.Since(stoppedAt) < away {
		up, err := s.prom.query(`up{job="assuresign"}`)
		require.NoError(t, err)
		sawDown = sawDown || (len(up) == 1 && up[0].value() == 0)
		status, err := s.prom.query(fmt.Sprintf(`assuresign_document_status{document_id=%q}`, docDeclined.id))
		require.NoError(t, err)
		sawStale = sawStale || len(status) == 0
		a := s.firing(t, declined)
		sawKept = sawKept || a.KeepFiringSince != nil
		time.Sleep(100 * time.Millisecond)
	}
	require.True(t, sawDown, "Prometheus saw failed scrapes (up 0) while the exporter was away")
	require.True(t, sawStale, "the document's series went stale while the exporter was away")
	assert.True(t, sawKept, "the alert fired by keep_firing_for while the exporter was away")

	s.runExporter(t, s.exporterAddr) // the same target for Prometheus
	restartedAt := time.Now()
	t.Logf("exporter away for %.1fs", restartedAt.Sub(stoppedAt).Seconds())

	// Prometheus scrapes it again and the alert's condition holds again.
	s.eventually(t, 15*time.Second, 100*time.Millisecond, "alert held by its condition again", func() (bool, string) {
		a := s.firing(t, declined)
		return a.KeepFiringSince == nil, fmt.Sprint("keepFiringSince ", a.KeepFiringSince)
	})
	// The exporter refreshes again (the open documents), ...
	s.eventually(t, 15*time.Second, 100*time.Millisecond, "a refresh round after the restart", func() (bool, string) {
		st := simStats(t, s.simURL)
		return st.PerDocument[docInProgress.id] > 0, fmt.Sprint(st.PerDocument)
	})
	// ... and several evaluations and Alertmanager group intervals (1s each)
	// pass, in which a resolve or a second notification would be sent.
	time.Sleep(5 * time.Second)

	after := s.firing(t, declined)
	assert.Equal(t, before.ActiveAt, after.ActiveAt, "the same alert in Prometheus, never resolved")
	var got []string
	for _, a := range s.sink.matching(declined) {
		got = append(got, a.status)
	}
	assert.Equal(t, []string{"firing"}, got, "notifications for the declined document: once, never resolved")
	st := simStats(t, s.simURL)
	for _, d := range []document{docDeclined, docCompleted} {
		assert.Zero(t, st.PerDocument[d.id], "AssureSign asked about closed document %s after the restart", d.id)
	}
	t.Logf("after the restart AssureSign was asked %v; total %.1fs", st.PerDocument, time.Since(testStart).Seconds())
}

// firing returns the one firing Prometheus alert with labels, failing t if
// there is none.
func (s *stack) firing(t *testing.T, labels map[string]string) promAlert {
	t.Helper()
	alerts, err := s.prom.alerts()
	require.NoError(t, err)
	for _, a := range alerts {
		if a.State == "firing" && hasLabels(a.Labels, labels) {
			return a
		}
	}
	t.Fatalf("no firing alert %v in Prometheus: %v", labels, alerts)
	return promAlert{}
}

type simulatorStats struct {
	PerDocument map[string]int `json:"per_document"`
}

func simStats(t *testing.T, simURL string) simulatorStats {
	t.Helper()
	var st simulatorStats
	require.NoError(t, getJSON(simURL+"/admin/stats", &st))
	return st
}

func simDelete(t *testing.T, rawURL string) {
	t.Helper()
	res, body, err := testenv.Fetch(nil, http.MethodDelete, rawURL, nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, res.StatusCode, "DELETE %s: %s", rawURL, body)
}
