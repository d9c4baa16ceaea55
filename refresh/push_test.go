package refresh

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/internal/storetest"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// pushOn is the webhook's part of the configuration at the flags' defaults.
var pushOn = PushConfig{Enabled: true, NotifiedStatuses: DefaultNotifiedStatuses, HealthWindow: 6 * time.Hour, ReconcileInterval: 6 * time.Hour}

// newPushRig watches three open documents, answered once at T0, with the webhook on.
func newPushRig(t *testing.T) *rig {
	t.Helper()
	r := newRig(t, rigOptions{cfg: Config{Push: pushOn}})
	r.put(assuresign.StatusSigningStepInProgress, 1, testenv.DocA, testenv.DocB, testenv.DocC)
	r.watch(testenv.DocA, testenv.DocB, testenv.DocC)
	r.round(0)
	return r
}

// notify delivers a notification for id at offset at, and its urgent round.
func (r *rig) notify(t *testing.T, id string, at time.Duration) {
	t.Helper()
	r.clock.Set(testenv.T0.Add(at))
	require.True(t, r.refresher.CheckNow(id, r.clock.Now()))
	r.refresher.round(t.Context(), true)
}

// move changes id's status in the account, dated at offset at.
func (r *rig) move(id string, st assuresign.Status, at time.Duration) {
	r.sim.Update(id, func(d *simulator.Document) { d.Status, d.Step, d.StatusDate = st, 0, testenv.T0.Add(at) })
}

func bandsOf(r *rig) map[string]int {
	out := map[string]int{}
	for _, b := range r.refresher.CheckIntervals() {
		if b.Documents > 0 {
			out[b.Band] = b.Documents
		}
	}
	return out
}

func TestMissedChangeIsCountedLoggedAndEndsTrust(t *testing.T) {
	r := newPushRig(t)
	m := r.refresher.metrics
	// A notified change: push works, and is trusted from the next round on.
	r.move(testenv.DocA, assuresign.StatusCompleted, time.Minute)
	r.notify(t, testenv.DocA, time.Minute)
	r.round(5 * time.Minute)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.pushTrusted))
	assert.Equal(t, map[string]int{"6h": 2, "terminal": 1}, bandsOf(r), "open documents are reconciled every 6h")
	assert.Empty(t, storetest.DueIDs(r.store.Due(testenv.T0.Add(2*time.Hour), 0, false, 1, "")), "nothing is due for hours")

	// A decline nobody announced, found by a later check.
	r.move(testenv.DocB, assuresign.StatusDeclined, 10*time.Minute)
	r.clock.Set(testenv.T0.Add(6*time.Hour + 5*time.Minute))
	r.refresher.round(t.Context(), false)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.missedChanges.WithLabelValues("Declined")))
	assert.Equal(t, 0.0, testutil.ToFloat64(m.missedChanges.WithLabelValues("Completed")), "the notified change is not missed")
	assert.Equal(t, float64(testenv.T0.Add(6*time.Hour+5*time.Minute).Unix()), testutil.ToFloat64(m.lastMissed))
	assert.Equal(t, 0.0, testutil.ToFloat64(m.pushTrusted))
	assert.Equal(t, 1, strings.Count(r.logs.String(), "did not announce"), "logged once")
	assert.Contains(t, r.logs.String(), testenv.DocB)
	v := r.refresher.Upstream().Push
	require.NotNil(t, v)
	assert.Equal(t, PushView{Missed: 1, LastMissed: testenv.T0.Add(6*time.Hour + 5*time.Minute), LastMissedID: testenv.DocB, LastMissedStatus: "Declined",
		LastNotification: testenv.T0.Add(time.Minute), ReconcileInterval: 6 * time.Hour}, *v)

	// Trust comes back only once the window has passed without a miss, with notifications.
	r.notify(t, testenv.DocC, 7*time.Hour)
	r.round(7*time.Hour + 5*time.Minute)
	assert.Equal(t, 0.0, testutil.ToFloat64(m.pushTrusted), "a miss within the window")
	r.notify(t, testenv.DocC, 12*time.Hour+10*time.Minute)
	r.round(12*time.Hour + 15*time.Minute)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.pushTrusted))
	assert.Equal(t, 2.0, testutil.ToFloat64(m.notificationsUnmoved), "DocC's notifications found nothing moved")
}

func TestFirstMissReturnsEveryDocumentToTheNormalSchedule(t *testing.T) {
	r := newPushRig(t)
	r.notify(t, testenv.DocC, time.Minute)
	r.round(5 * time.Minute)
	require.Equal(t, map[string]int{"6h": 3}, bandsOf(r))
	// DocA's notification fills its request with DocB and DocC: DocB's
	// decline, never announced, is found there, after DocA was given 6h.
	r.move(testenv.DocB, assuresign.StatusDeclined, time.Hour)
	r.notify(t, testenv.DocA, 2*time.Hour)
	require.Equal(t, 1.0, testutil.ToFloat64(r.refresher.metrics.missedChanges.WithLabelValues("Declined")))
	assert.Equal(t, []string{testenv.DocA, testenv.DocC}, storetest.DueIDs(r.store.Due(testenv.T0.Add(2*time.Hour+5*time.Minute), 0, false, 1, "")),
		"every open document is back on 5m at once")
	assert.Equal(t, map[string]int{"5m": 2, "terminal": 1}, bandsOf(r))
}

func TestFreshChangeWaitsForALateNotification(t *testing.T) {
	r := newPushRig(t)
	m := r.refresher.metrics
	// Found 2 s after it happened: its notification may still be on its way.
	r.move(testenv.DocA, assuresign.StatusDeclined, 5*time.Minute-2*time.Second)
	r.move(testenv.DocB, assuresign.StatusDeclined, 5*time.Minute-2*time.Second)
	r.round(5 * time.Minute)
	assert.Equal(t, 0.0, testutil.ToFloat64(m.missedChanges.WithLabelValues("Declined")))
	// DocA's arrives late; DocB's never does.
	r.clock.Set(testenv.T0.Add(5*time.Minute + 3*time.Second))
	r.refresher.CheckNow(testenv.DocA, r.clock.Now())
	r.round(5*time.Minute + 10*time.Second)
	assert.Equal(t, 0.0, testutil.ToFloat64(m.missedChanges.WithLabelValues("Declined")), "within the grace")
	r.round(10 * time.Minute)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.missedChanges.WithLabelValues("Declined")), "DocB only")
	assert.Contains(t, r.logs.String(), testenv.DocB)
	assert.Equal(t, 1, strings.Count(r.logs.String(), "did not announce"))
}

func TestChangesNotMissed(t *testing.T) {
	r := newPushRig(t)
	m := r.refresher.metrics
	// Into a status with no configured event (Staled has none).
	r.move(testenv.DocA, assuresign.StatusStaled, time.Minute)
	// A step, not a status.
	r.sim.Update(testenv.DocB, func(d *simulator.Document) { d.Step, d.StatusDate = 2, testenv.T0.Add(time.Minute) })
	r.round(5 * time.Minute)
	for _, s := range assuresign.Statuses {
		assert.Equal(t, 0.0, testutil.ToFloat64(m.missedChanges.WithLabelValues(s.String())), s.String())
	}

	// Without the webhook, nothing is judged and nothing is registered.
	off := newRig(t, rigOptions{})
	off.put(assuresign.StatusSigningStepInProgress, 1, testenv.DocA)
	off.watch(testenv.DocA)
	off.round(0)
	off.move(testenv.DocA, assuresign.StatusDeclined, time.Minute)
	off.round(5 * time.Minute)
	assert.Nil(t, off.refresher.Upstream().Push)
	n, err := testutil.GatherAndCount(off.reg, "assuresign_webhook_missed_changes_total")
	require.NoError(t, err)
	assert.Zero(t, n)
}

// TestSchedulesWithoutTheWebhookAreUnchanged runs the same day of changes
// with the push flags set but the webhook off, with no push configuration,
// and with the webhook on but silent: every round checks the same documents.
func TestSchedulesWithoutTheWebhookAreUnchanged(t *testing.T) {
	run := func(p PushConfig) (dues [][]string, bands []map[string]int) {
		r := newRig(t, rigOptions{cfg: Config{Push: p, MaxInterval: time.Hour}})
		r.put(assuresign.StatusSigningStepInProgress, 1, testenv.DocA, testenv.DocB)
		r.put(assuresign.StatusCompleted, 0, testenv.DocC)
		r.watch(testenv.DocA, testenv.DocB, testenv.DocC)
		for k := range 24 * 12 * 2 {
			at := time.Duration(k) * 5 * time.Minute
			if k%50 == 7 {
				r.move(testenv.DocA, []assuresign.Status{assuresign.StatusCreated, assuresign.StatusSigningStepInProgress}[k%2], at-time.Minute)
			}
			dues = append(dues, storetest.DueIDs(r.store.Due(testenv.T0.Add(at), 0, false, 1, "")))
			r.round(at)
			bands = append(bands, bandsOf(r))
		}
		return dues, bands
	}
	wantDues, wantBands := run(PushConfig{})
	off := pushOn
	off.Enabled = false
	gotDues, gotBands := run(off)
	assert.Equal(t, wantDues, gotDues)
	assert.Equal(t, wantBands, gotBands)
	// The webhook on but never notified: push is never trusted, and its code
	// (trust, reconciliation, missed changes) leaves the schedule as it is.
	gotDues, gotBands = run(pushOn)
	assert.Equal(t, wantDues, gotDues, "the webhook on, no notification")
	assert.Equal(t, wantBands, gotBands, "the webhook on, no notification")
}
