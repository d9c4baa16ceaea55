package refresh

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/internal/storetest"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

const day = 24 * time.Hour

func TestScheduleDoublesPerIdleDay(t *testing.T) {
	backoff := schedule{interval: 5 * time.Minute, maxInterval: time.Hour, terminal: day}
	for _, tc := range []struct {
		name       string
		sched      schedule
		status     assuresign.Status
		lastChange time.Time // zero: never answered
		want       time.Duration
	}{
		{"never answered", backoff, assuresign.StatusUnknown, time.Time{}, 5 * time.Minute},
		{"moved an hour ago", backoff, assuresign.StatusCreated, testenv.T0.Add(-time.Hour), 5 * time.Minute},
		{"moved just under a day ago", backoff, assuresign.StatusSigningStepInProgress, testenv.T0.Add(-day + time.Second), 5 * time.Minute},
		{"still for a day", backoff, assuresign.StatusSigningStepInProgress, testenv.T0.Add(-day), 10 * time.Minute},
		{"still for two days", backoff, assuresign.StatusSigningStepInProgress, testenv.T0.Add(-2 * day), 20 * time.Minute},
		{"still for three days", backoff, assuresign.StatusSigningStepInProgress, testenv.T0.Add(-3 * day), 40 * time.Minute},
		{"still for four days: capped", backoff, assuresign.StatusSigningStepInProgress, testenv.T0.Add(-4 * day), time.Hour},
		{"still for a year", backoff, assuresign.StatusSignerAuthenticationFailed, testenv.T0.Add(-365 * day), time.Hour},
		{"changed in the future (a skewed clock)", backoff, assuresign.StatusCreated, testenv.T0.Add(day), 5 * time.Minute},
		{"closed", backoff, assuresign.StatusDeclined, testenv.T0.Add(-time.Minute), day},
		{"max interval equal to the interval: no backoff", schedule{interval: time.Hour, maxInterval: time.Hour, terminal: day},
			assuresign.StatusCreated, testenv.T0.Add(-30 * day), time.Hour},
		{"a max interval off the doublings", schedule{interval: 5 * time.Minute, maxInterval: 30 * time.Minute, terminal: day},
			assuresign.StatusCreated, testenv.T0.Add(-3 * day), 30 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.sched.Next(tc.status, tc.lastChange, testenv.T0)
			assert.Equal(t, tc.want, got)
			if !tc.status.Terminal() {
				assert.Contains(t, tc.sched.bands(), got, "every interval has its band")
			}
		})
	}
}

// scheduleRig is a rig whose simulated documents moved at the given times.
func scheduleRig(t *testing.T, batch int, moved map[string]time.Time, closed ...string) *rig {
	t.Helper()
	r := newRig(t, rigOptions{cfg: Config{Interval: 5 * time.Minute, MaxInterval: time.Hour, BatchSize: batch}})
	var ids []string
	for id, at := range moved {
		r.sim.Put(simulator.Document{ID: id, AuthToken: tokenFor(id), Status: assuresign.StatusSigningStepInProgress, Step: 1, StatusDate: at})
		ids = append(ids, id)
	}
	for _, id := range closed {
		r.sim.Put(simulator.Document{ID: id, AuthToken: tokenFor(id), Status: assuresign.StatusCompleted, StatusDate: testenv.T0.Add(-10 * day)})
		ids = append(ids, id)
	}
	r.watch(ids...)
	return r
}

// checkedAt runs a scheduled round every 5 minutes from testenv.T0 to until and
// returns, for each document, the offsets of the rounds that checked it.
func (r *rig) checkedAt(t *testing.T, from, until time.Duration) map[string][]time.Duration {
	t.Helper()
	out := map[string][]time.Duration{}
	for at := from; at <= until; at += 5 * time.Minute {
		r.round(at)
		docs, _ := r.store.Snapshot(0)
		for _, d := range docs {
			if d.LastCheck.Equal(testenv.T0.Add(at)) {
				out[d.ID] = append(out[d.ID], at)
			}
		}
	}
	return out
}

func minutes(ms ...int) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = time.Duration(m) * time.Minute
	}
	return out
}

func TestIdleDocumentsAreAskedLessOften(t *testing.T) {
	// Batches of one: no request has room for a document not yet due.
	r := scheduleRig(t, 1, map[string]time.Time{
		testenv.DocA: testenv.T0.Add(-time.Hour),              // moving: every 5 minutes
		testenv.DocB: testenv.T0.Add(-day - 12*time.Hour),     // still for a day and a half: every 10
		testenv.DocC: testenv.T0.Add(-5*day + 17*time.Minute), // still for days (StatusDate only): every hour
	}, testenv.DocD)
	got := r.checkedAt(t, 0, 2*time.Hour)
	assert.Len(t, got[testenv.DocA], 25)
	assert.Equal(t, minutes(0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120), got[testenv.DocB])
	assert.Equal(t, minutes(0, 60, 120), got[testenv.DocC])
	assert.Equal(t, minutes(0), got[testenv.DocD], "closed documents keep the terminal interval")
	assert.Equal(t, []CheckInterval{
		{"5m", 1}, {"10m", 1}, {"20m", 0}, {"40m", 0}, {"1h", 1}, {"terminal", 1},
	}, r.refresher.CheckIntervals())
	r.reg.MustRegister(NewCheckIntervalCollector(r.refresher.CheckIntervals))
	problems, err := testutil.GatherAndLint(r.reg, "assuresign_documents_by_check_interval")
	require.NoError(t, err)
	assert.Empty(t, problems)
	assert.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(`
# HELP assuresign_documents_by_check_interval Watched documents by how often they are checked now: open ones by their interval (it doubles for each day a document sits still, from --refresh.interval up to --refresh.max-interval), closed ones under band="terminal".
# TYPE assuresign_documents_by_check_interval gauge
assuresign_documents_by_check_interval{band="10m"} 1
assuresign_documents_by_check_interval{band="1h"} 1
assuresign_documents_by_check_interval{band="20m"} 0
assuresign_documents_by_check_interval{band="40m"} 0
assuresign_documents_by_check_interval{band="5m"} 1
assuresign_documents_by_check_interval{band="terminal"} 1
`), "assuresign_documents_by_check_interval"))
	assert.Equal(t, 25+13+3+1, r.sim.Stats().Requests, "batches of one: one request per check, none for a document not due")
}

func TestChangesNotificationsAndReloadsResetTheInterval(t *testing.T) {
	idle := testenv.T0.Add(-5 * day)
	r := scheduleRig(t, 1, map[string]time.Time{testenv.DocA: idle, testenv.DocB: idle, testenv.DocC: idle})
	r.round(0)
	for _, id := range []string{testenv.DocA, testenv.DocB, testenv.DocC} {
		require.Equal(t, testenv.T0.Add(-5*day), statusOf(t, r.store, id).StatusDate)
	}

	// A moves at 20m: the next check, an hour after the last, sees it; from
	// then it is asked every 5 minutes.
	r.sim.Update(testenv.DocA, func(d *simulator.Document) { d.Step, d.StatusDate = 2, testenv.T0.Add(20*time.Minute) })
	// B is named by a notification at 30m, with nothing new to see.
	r.clock.Set(testenv.T0.Add(30 * time.Minute))
	require.True(t, r.refresher.CheckNow(testenv.DocB, r.clock.Now()))
	r.refresher.round(context.Background(), true)
	// C's AuthToken is corrected by a reload at 40m.
	r.sim.Update(testenv.DocC, func(d *simulator.Document) { d.AuthToken = testenv.SecretTokenC })
	r.clock.Set(testenv.T0.Add(40 * time.Minute))
	r.store.SetWatchList(&watchlist.List{Documents: []watchlist.Entry{
		{ID: testenv.DocA, AuthToken: tokenFor(testenv.DocA)}, {ID: testenv.DocB, AuthToken: tokenFor(testenv.DocB)}, {ID: testenv.DocC, AuthToken: testenv.SecretTokenC},
	}})
	r.refresher.round(context.Background(), true)

	got := r.checkedAt(t, 45*time.Minute, 80*time.Minute)
	assert.Equal(t, minutes(60, 65, 70, 75, 80), got[testenv.DocA], "a change")
	assert.Equal(t, minutes(45, 50, 55, 60, 65, 70, 75, 80), got[testenv.DocB], "a notification")
	assert.Equal(t, minutes(45, 50, 55, 60, 65, 70, 75, 80), got[testenv.DocC], "a reload that changed its credentials")
	assert.Equal(t, 2, statusOf(t, r.store, testenv.DocA).Step)

	// A relabelling says nothing of the document: no reset.
	r.clock.Set(testenv.T0.Add(81 * time.Minute))
	r.store.SetWatchList(&watchlist.List{Documents: []watchlist.Entry{
		{ID: testenv.DocA, AuthToken: tokenFor(testenv.DocA)}, {ID: testenv.DocB, AuthToken: tokenFor(testenv.DocB), Labels: map[string]string{"team": "legal"}}, {ID: testenv.DocC, AuthToken: testenv.SecretTokenC},
	}})
	assert.Empty(t, storetest.DueChecks(r.store.Due(r.clock.Now(), 0, true, 1, "")))
}

func TestRequestsAreFilledWithTheDocumentsDueSoonest(t *testing.T) {
	idle := testenv.T0.Add(-5 * day)
	r := scheduleRig(t, 3, map[string]time.Time{testenv.DocA: testenv.T0, testenv.DocB: idle, testenv.DocC: idle, testenv.DocD: idle}, testenv.GUID(0xC105ED, 1))
	// 5 due: ceil(5/3) = 2 requests, the second filled by nothing (none left).
	assert.Equal(t, roundStats{Documents: 5, Requests: 2}, r.round(0))

	// Only A is due: its request carries the two idle documents due soonest
	// (in id order when equal), never the closed one.
	r.sim.ResetStats()
	assert.Equal(t, roundStats{Documents: 1, Filled: 2, Requests: 1}, r.round(5*time.Minute))
	assert.Equal(t, testenv.T0.Add(5*time.Minute), statusOf(t, r.store, testenv.DocB).LastCheck)
	assert.Equal(t, testenv.T0.Add(5*time.Minute), statusOf(t, r.store, testenv.DocC).LastCheck)
	assert.Equal(t, roundStats{Documents: 1, Filled: 2, Requests: 1}, r.round(10*time.Minute))
	assert.Equal(t, testenv.T0.Add(10*time.Minute), statusOf(t, r.store, testenv.DocD).LastCheck, "D was due soonest now")
	assert.Equal(t, testenv.T0.Add(10*time.Minute), statusOf(t, r.store, testenv.DocB).LastCheck, "then B, checked before C")
	assert.Equal(t, testenv.T0, statusOf(t, r.store, testenv.GUID(0xC105ED, 1)).LastCheck, "closed documents do not ride along")
	assert.Equal(t, []int{3, 3}, r.sim.Stats().DocumentsPerRequest)

	// The idle documents, always riding along, never fall due by themselves.
	for at := 15 * time.Minute; at <= 3*time.Hour; at += 5 * time.Minute {
		st := r.round(at)
		require.Equal(t, 1, st.Documents, "at %s", at)
		require.Equal(t, 1, st.Requests, "at %s", at)
	}
}

func TestDueFillsUpToAMultipleOfTheBatch(t *testing.T) {
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = testenv.GUID(0xF111, i)
	}
	s := collector.NewStore(collector.StoreConfig{})
	s.SetWatchList(storetest.WatchList(ids...))
	sched := schedule{interval: time.Hour, maxInterval: time.Hour, terminal: day}
	checks, n, asked := s.Due(testenv.T0, 0, false, 4, "")
	require.Equal(t, 10, n)
	require.Len(t, checks, 10, "nothing left to fill with")
	for i, c := range checks {
		// Later documents fall due later.
		s.Apply(assuresign.Result{ID: c.ID, Status: assuresign.StatusCreated, RawStatus: "Created", StatusDate: testenv.T0}, testenv.T0.Add(time.Duration(i)*time.Minute), sched, asked)
	}
	for _, tc := range []struct {
		at        time.Duration
		due, want int
	}{
		{at: 30 * time.Minute, due: 0, want: 0},          // nothing due: no request, nothing to fill
		{at: time.Hour, due: 1, want: 4},                 // one due: filled to a batch
		{at: time.Hour + 4*time.Minute, due: 5, want: 8}, // five: two requests, filled to two batches
		{at: time.Hour + 9*time.Minute, due: 10, want: 10},
	} {
		checks, n, _ := s.Due(testenv.T0.Add(tc.at), 0, false, 4, "")
		assert.Equal(t, tc.due, n, "due at %s", tc.at)
		assert.Len(t, checks, tc.want, "checks at %s", tc.at)
		for i := 1; i < len(checks); i++ {
			assert.Less(t, checks[i-1].ID, checks[i].ID, "the due first, then the soonest: here both in id order")
		}
	}
}

// The idle backoff survives a restart: it is derived from persisted fields
// only (status, StatusDate, lastChange, last and next check), so a restored
// document keeps its stretched interval and its due time.
func TestScheduleSurvivesRestart(t *testing.T) {
	sched := schedule{interval: 5 * time.Minute, maxInterval: time.Hour, terminal: 24 * time.Hour}
	still := assuresign.Result{ID: testenv.DocA, Status: assuresign.StatusSigningStepInProgress, RawStatus: "SigningStepInProgress",
		StatusDate: testenv.T0.Add(-72 * time.Hour), Step: 1} // three days at the same step
	answer := func(s *collector.Store, at time.Time) collector.DocumentState {
		_, _, asked := s.Due(at, 0, false, 1, "")
		s.Apply(still, at, sched, asked)
		_, st := s.State()
		return st.Documents[0]
	}
	before := collector.NewStore(collector.StoreConfig{})
	before.SetWatchList(storetest.WatchList(testenv.DocA))
	saved := answer(before, testenv.T0)
	require.Equal(t, testenv.T0.Add(40*time.Minute), saved.NextCheck, "three idle days: 5m doubled three times")
	bands := checkIntervals(before, sched, testenv.T0)

	after := collector.NewStore(collector.StoreConfig{})
	after.SetWatchList(storetest.WatchList(testenv.DocA))
	_, st := before.State()
	after.Restore(st, sched, testenv.T0, false)
	assert.Equal(t, bands, checkIntervals(after, sched, testenv.T0), "the same interval band after the restart")
	checks, _, _ := after.Due(testenv.T0.Add(39*time.Minute), 0, false, 1, "")
	assert.Empty(t, checks, "not due before its restored due time")
	again := answer(after, testenv.T0.Add(40*time.Minute))
	assert.Equal(t, testenv.T0.Add(80*time.Minute), again.NextCheck, "still stretched after the restart")
	assert.Equal(t, saved.LastChange, again.LastChange, "no change seen: idle since before the restart")
}
