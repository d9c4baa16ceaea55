package collector

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/internal/storetest"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

func TestStoreSetWatchListKeepsKnownDocuments(t *testing.T) {
	s := NewStore(StoreConfig{})
	assert.Equal(t, 2, s.SetWatchList(storetest.WatchList(testenv.DocB, testenv.DocA)))
	assert.Equal(t, 2, s.Len())
	// New documents are urgent: an urgent-only round takes them, sorted by id.
	assert.Equal(t, []string{testenv.DocA, testenv.DocB}, storetest.DueIDs(s.Due(testenv.T0, 0, true, 1, testenv.SecretContext)))

	answer(s, assuresign.Result{ID: testenv.DocA, RawStatus: "Completed", Status: assuresign.StatusCompleted, StatusDate: testenv.T0}, testenv.T0, time.Minute, time.Hour)
	answer(s, assuresign.Result{ID: testenv.DocB, RawStatus: "Created", Status: assuresign.StatusCreated, StatusDate: testenv.T0}, testenv.T0, time.Minute, time.Hour)
	assert.Empty(t, storetest.DueChecks(s.Due(testenv.T0, 0, true, 1, testenv.SecretContext)), "checked documents are no longer urgent")

	// A reload keeping A, dropping B and adding C: A keeps its state and is
	// not urgent again; C is urgent; B is gone.
	wl := storetest.WatchList(testenv.DocC, testenv.DocA)
	wl.Documents[1].Labels = map[string]string{"team": "legal"}
	assert.Equal(t, 1, s.SetWatchList(wl))
	assert.Equal(t, 2, s.Len())
	assert.Equal(t, []string{testenv.DocC}, storetest.DueIDs(s.Due(testenv.T0, 0, true, 1, testenv.SecretContext)))
	docs, total := s.Snapshot(0)
	require.Equal(t, 2, total)
	assert.Equal(t, testenv.DocA, docs[0].ID)
	assert.Equal(t, "Completed", docs[0].Status)
	assert.Equal(t, map[string]string{"team": "legal"}, docs[0].Labels, "labels follow the new file")
	assert.Equal(t, testenv.T0, docs[0].LastCheck)
	assert.Equal(t, testenv.DocC, docs[1].ID)
	assert.Equal(t, "Unknown", docs[1].Status)
	assert.Contains(t, storetest.Scrape(t, s, false), `assuresign_document_info{document_id="`+testenv.DocA+`",team="legal"} 1`, "a kept document is rendered again")

	// The same list again adds nothing.
	assert.Equal(t, 0, s.SetWatchList(wl))
}

func TestStoreDueUsesTheDocumentsOwnContextIdentifier(t *testing.T) {
	s := NewStore(StoreConfig{})
	s.SetWatchList(&watchlist.List{Documents: []watchlist.Entry{
		{ID: testenv.DocA, AuthToken: testenv.SecretTokenA},
		{ID: testenv.DocB, AuthToken: testenv.SecretTokenB, ContextIdentifier: testenv.SecretDocContext},
	}})
	assert.Equal(t, []assuresign.Check{
		{ID: testenv.DocA, AuthToken: testenv.SecretTokenA, ContextIdentifier: testenv.SecretContext},
		{ID: testenv.DocB, AuthToken: testenv.SecretTokenB, ContextIdentifier: testenv.SecretDocContext},
	}, storetest.DueChecks(s.Due(testenv.T0, 0, false, 1, testenv.SecretContext)))
}

func TestStoreDueFollowsNextCheck(t *testing.T) {
	s := NewStore(StoreConfig{})
	s.SetWatchList(storetest.WatchList(testenv.DocA, testenv.DocB))
	answer(s, assuresign.Result{ID: testenv.DocA, RawStatus: "Created", Status: assuresign.StatusCreated}, testenv.T0, time.Hour, 24*time.Hour)
	answer(s, assuresign.Result{ID: testenv.DocB, RawStatus: "Expired", Status: assuresign.StatusExpired}, testenv.T0, time.Hour, 24*time.Hour)

	assert.Empty(t, storetest.DueChecks(s.Due(testenv.T0.Add(59*time.Minute), 0, false, 1, "")))
	assert.Equal(t, []string{testenv.DocA}, storetest.DueIDs(s.Due(testenv.T0.Add(time.Hour), 0, false, 1, "")), "an open document is due after the interval")
	assert.Equal(t, []string{testenv.DocA}, storetest.DueIDs(s.Due(testenv.T0.Add(50*time.Minute), 10*time.Minute, false, 1, "")), "slack brings it forward")
	assert.Empty(t, storetest.DueChecks(s.Due(testenv.T0.Add(time.Hour), 0, true, 1, "")), "urgent-only rounds take no scheduled document")
	assert.Equal(t, []string{testenv.DocA, testenv.DocB}, storetest.DueIDs(s.Due(testenv.T0.Add(24*time.Hour), 0, false, 1, "")), "a terminal one after the terminal interval")
}

func TestStoreMarkUrgent(t *testing.T) {
	s := NewStore(StoreConfig{})
	s.SetWatchList(storetest.WatchList(testenv.DocA))
	answer(s, assuresign.Result{ID: testenv.DocA, RawStatus: "Created", Status: assuresign.StatusCreated}, testenv.T0, time.Hour, time.Hour)

	assert.False(t, s.MarkUrgent(testenv.DocB, testenv.T0), "not watched")
	assert.True(t, s.MarkUrgent("aaaaaaaa-0000-4000-8000-00000000000a", testenv.T0), "ids compare case-insensitively")
	assert.True(t, s.MarkUrgent(testenv.DocA, testenv.T0.Add(time.Second)), "a second notification keeps the first time")
	assert.Equal(t, []string{testenv.DocA}, storetest.DueIDs(s.Due(testenv.T0, 0, true, 1, "")))

	waited := answer(s, assuresign.Result{ID: testenv.DocA, RawStatus: "Completed", Status: assuresign.StatusCompleted}, testenv.T0.Add(3*time.Second), time.Hour, time.Hour)
	assert.Equal(t, 3*time.Second, waited, "latency from the first notification")
	assert.Empty(t, storetest.DueChecks(s.Due(testenv.T0, 0, true, 1, "")))
	waited = answer(s, assuresign.Result{ID: testenv.DocA, RawStatus: "Completed", Status: assuresign.StatusCompleted}, testenv.T0.Add(4*time.Second), time.Hour, time.Hour)
	assert.Zero(t, waited, "no notification pending")
}

// An answer without a StatusDate (the REST API's are all so) dates the status
// from when the exporter first saw it and step: the Stuck alert still counts
// the days at one step, from the first answer, through restarts.
func TestStatusDateWithoutOneFromAssureSign(t *testing.T) {
	s := NewStore(StoreConfig{})
	s.SetWatchList(storetest.WatchList(testenv.DocA))
	step := func(n int, at time.Time) time.Time {
		t.Helper()
		answer(s, assuresign.Result{ID: testenv.DocA, RawStatus: "SigningStepInProgress", Status: assuresign.StatusSigningStepInProgress, Step: n}, at, time.Hour, 24*time.Hour)
		return statusOf(t, s, testenv.DocA).StatusDate
	}
	assert.Equal(t, testenv.T0, step(1, testenv.T0), "first seen")
	assert.Equal(t, testenv.T0, step(1, testenv.T0.Add(time.Hour)), "the same step keeps its date")
	assert.Equal(t, testenv.T0, s.docs[testenv.DocA].lastChange, "nor is it a change for the schedule")
	assert.Equal(t, testenv.T0.Add(2*time.Hour), step(2, testenv.T0.Add(2*time.Hour)), "a new step dates from now")

	_, st := s.State()
	restarted := NewStore(StoreConfig{})
	restarted.SetWatchList(storetest.WatchList(testenv.DocA))
	restarted.Restore(st, fixedSchedule{open: time.Hour, terminal: 24 * time.Hour}, testenv.T0.Add(3*time.Hour), false)
	s = restarted
	assert.Equal(t, testenv.T0.Add(2*time.Hour), step(2, testenv.T0.Add(4*time.Hour)), "a restart keeps the date")

	date := testenv.T0.Add(-48 * time.Hour)
	answer(s, assuresign.Result{ID: testenv.DocA, RawStatus: "SigningStepInProgress", Status: assuresign.StatusSigningStepInProgress, Step: 2, StatusDate: date}, testenv.T0.Add(5*time.Hour), time.Hour, 24*time.Hour)
	assert.Equal(t, date, statusOf(t, s, testenv.DocA).StatusDate, "AssureSign's own date wins")
}

func TestStoreApply(t *testing.T) {
	s := NewStore(StoreConfig{})
	s.SetWatchList(storetest.WatchList(testenv.DocA))
	date := testenv.T0.Add(-time.Hour)
	answer(s, assuresign.Result{ID: testenv.DocA, RawStatus: "SigningStepInProgress", Status: assuresign.StatusSigningStepInProgress, StatusDate: date, Step: 2,
		Exceptions: []assuresign.Exception{{Severity: assuresign.SeverityWarning, Message: "reminder not delivered"}}}, testenv.T0, time.Hour, 24*time.Hour)
	v := statusOf(t, s, testenv.DocA)
	assert.Equal(t, DocumentView{ID: testenv.DocA, Status: "SigningStepInProgress", Step: 2, StatusDate: date, LastCheck: testenv.T0}, v, "a warning is not an error")

	t.Run("exceptions only keep the status", func(t *testing.T) {
		answer(s, assuresign.Result{ID: testenv.DocA, Exceptions: []assuresign.Exception{
			{Severity: assuresign.SeverityError, Message: "The AuthToken is not valid for this document."},
			{Severity: assuresign.SeverityUnknown, Message: "odd"},
		}}, testenv.T0.Add(time.Minute), time.Hour, 24*time.Hour)
		v := statusOf(t, s, testenv.DocA)
		assert.Equal(t, "SigningStepInProgress", v.Status)
		assert.Equal(t, 2, v.Step)
		assert.Equal(t, date, v.StatusDate)
		assert.Equal(t, testenv.T0.Add(time.Minute), v.LastCheck, "an answer arrived")
		assert.Equal(t, "Unknown: odd", v.LastError, "the last non-warning exception")
		assert.Equal(t, [4]uint64{1, 1, 0, 1}, s.docs[testenv.DocA].exceptions)
	})
	t.Run("a missing result keeps the status", func(t *testing.T) {
		answer(s, assuresign.Result{ID: testenv.DocA, Err: errors.New("assuresign: no result for document")}, testenv.T0.Add(2*time.Minute), time.Hour, 24*time.Hour)
		v := statusOf(t, s, testenv.DocA)
		assert.Equal(t, "SigningStepInProgress", v.Status)
		assert.Equal(t, testenv.T0.Add(time.Minute), v.LastCheck, "no answer arrived")
		assert.Equal(t, "assuresign: no result for document", v.LastError)
		assert.Equal(t, []string{testenv.DocA}, storetest.DueIDs(s.Due(testenv.T0.Add(2*time.Minute), 0, false, 1, "")), "due again at the next round")
		assert.Empty(t, storetest.DueChecks(s.Due(testenv.T0.Add(2*time.Minute), 0, true, 1, "")), "but not urgently")
	})
	t.Run("a new status clears the error", func(t *testing.T) {
		answer(s, assuresign.Result{ID: testenv.DocA, RawStatus: "Completed", Status: assuresign.StatusCompleted, StatusDate: testenv.T0}, testenv.T0.Add(3*time.Minute), time.Hour, 24*time.Hour)
		v := statusOf(t, s, testenv.DocA)
		assert.Equal(t, DocumentView{ID: testenv.DocA, Status: "Completed", StatusDate: testenv.T0, LastCheck: testenv.T0.Add(3 * time.Minute)}, v)
	})
	t.Run("an undocumented status", func(t *testing.T) {
		answer(s, assuresign.Result{ID: testenv.DocA, RawStatus: "Archived", Status: assuresign.StatusUnknown}, testenv.T0.Add(4*time.Minute), time.Hour, 24*time.Hour)
		assert.Equal(t, "Unknown (Archived)", statusOf(t, s, testenv.DocA).Status)
	})
	t.Run("a document no longer watched", func(t *testing.T) {
		assert.Zero(t, answer(s, assuresign.Result{ID: testenv.DocB, RawStatus: "Created", Status: assuresign.StatusCreated}, testenv.T0, time.Hour, time.Hour))
		assert.Equal(t, 1, s.Len())
	})
}

func TestStoreFailKeepsTheStatus(t *testing.T) {
	s := NewStore(StoreConfig{})
	s.SetWatchList(storetest.WatchList(testenv.DocA, testenv.DocB))
	answer(s, assuresign.Result{ID: testenv.DocA, RawStatus: "Declined", Status: assuresign.StatusDeclined, StatusDate: testenv.T0}, testenv.T0, time.Hour, 24*time.Hour)
	_, _, asked := s.Due(testenv.T0, 0, false, 1, "")
	s.Fail([]string{testenv.DocA, testenv.DocB, testenv.DocC}, errors.New("assuresign: HTTP status 500"), asked)
	a, b := statusOf(t, s, testenv.DocA), statusOf(t, s, testenv.DocB)
	assert.Equal(t, DocumentView{ID: testenv.DocA, Status: "Declined", StatusDate: testenv.T0, LastCheck: testenv.T0, LastError: "assuresign: HTTP status 500"}, a)
	assert.Equal(t, DocumentView{ID: testenv.DocB, Status: "Unknown", LastError: "assuresign: HTTP status 500"}, b)
	assert.Empty(t, storetest.DueChecks(s.Due(testenv.T0, 0, true, 1, "")), "a failure is not retried at once")
	assert.Equal(t, []string{testenv.DocA, testenv.DocB}, storetest.DueIDs(s.Due(testenv.T0, 0, false, 1, "")), "but at the next round, even a terminal document")
}

func TestStoreSnapshotLimit(t *testing.T) {
	s := NewStore(StoreConfig{})
	s.SetWatchList(storetest.WatchList(testenv.DocD, testenv.DocC, testenv.DocB, testenv.DocA))
	docs, total := s.Snapshot(2)
	assert.Equal(t, 4, total)
	assert.Equal(t, []string{testenv.DocA, testenv.DocB}, []string{docs[0].ID, docs[1].ID})
	docs, _ = s.Snapshot(10)
	assert.Len(t, docs, 4)
}

// A reload that corrects a document's credentials checks it at once.
func TestSetWatchListChangedCredentialsAreUrgent(t *testing.T) {
	id := testenv.GUID(0xC3ED, 1)
	s := NewStore(StoreConfig{})
	wl := storetest.WatchList(id)
	require.Equal(t, 1, s.SetWatchList(wl))
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	answer(s, assuresign.Result{ID: id, RawStatus: "Created", Status: assuresign.StatusCreated}, now, time.Hour, 24*time.Hour)
	require.Empty(t, storetest.DueChecks(s.Due(now, 0, true, 1, "")), "checked: not urgent")

	require.Zero(t, s.SetWatchList(storetest.WatchList(id)), "same credentials: nothing to check")
	fixed := storetest.WatchList(id)
	fixed.Documents[0].AuthToken = "11111111-2222-4333-8444-555555555555"
	require.Equal(t, 1, s.SetWatchList(fixed))
	due, _, _ := s.Due(now, 0, true, 1, "")
	require.Len(t, due, 1)
	assert.Equal(t, "11111111-2222-4333-8444-555555555555", due[0].AuthToken)
}

// A notification that arrives while a check of its document is in flight
// keeps the document urgent even when that check fails.
func TestFailKeepsNotificationDuringFlight(t *testing.T) {
	id := testenv.GUID(0xF1A7, 1)
	s := NewStore(StoreConfig{})
	s.SetWatchList(storetest.WatchList(id))
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	_, _, asked := s.Due(now, 0, false, 1, "")
	require.True(t, s.MarkUrgent(id, now))
	s.Fail([]string{id}, errors.New("boom"), asked)
	assert.Len(t, storetest.DueChecks(s.Due(now, 0, true, 1, "")), 1, "the notification still gets its check")

	_, _, asked = s.Due(now, 0, false, 1, "")
	s.Fail([]string{id}, errors.New("boom"), asked)
	assert.Empty(t, storetest.DueChecks(s.Due(now, 0, true, 1, "")), "no newer notification: wait for the next round")
}

// A notification that arrives while a check of its document is in flight is
// not answered by that check, which AssureSign may have computed before the
// change: the document stays urgent, and the notification's latency is taken
// when the next check answers.
func TestApplyKeepsNotificationDuringFlight(t *testing.T) {
	id := testenv.GUID(0xF1A7, 2)
	s := NewStore(StoreConfig{})
	s.SetWatchList(storetest.WatchList(id))
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	created := assuresign.Result{ID: id, RawStatus: "Created", Status: assuresign.StatusCreated}
	due, _, asked := s.Due(now, 0, false, 1, "")
	require.Len(t, due, 1)
	require.True(t, s.MarkUrgent(id, now.Add(time.Second)))
	assert.Zero(t, s.Apply(created, now.Add(2*time.Second), fixedSchedule{open: time.Hour, terminal: time.Hour}, asked).Notified, "the answer predates the notification")
	assert.Equal(t, "Created", statusOf(t, s, id).Status, "the answer is still recorded")
	assert.Equal(t, []string{id}, storetest.DueIDs(s.Due(now.Add(2*time.Second), 0, true, 1, "")), "the notification still gets its check")

	_, _, asked = s.Due(now.Add(2*time.Second), 0, true, 1, "")
	declined := assuresign.Result{ID: id, RawStatus: "Declined", Status: assuresign.StatusDeclined}
	assert.Equal(t, 3*time.Second, s.Apply(declined, now.Add(4*time.Second), fixedSchedule{open: time.Hour, terminal: time.Hour}, asked).Notified, "latency from the notification")
	assert.Empty(t, storetest.DueChecks(s.Due(now.Add(4*time.Second), 0, true, 1, "")), "answered")
}

// An exception message kept for the landing page is capped, however long
// the upstream made it.
func TestLastErrorIsCapped(t *testing.T) {
	id := testenv.GUID(0xCA9, 1)
	s := NewStore(StoreConfig{})
	s.SetWatchList(storetest.WatchList(id))
	long := strings.Repeat("x", 1<<20)
	answer(s, assuresign.Result{ID: id, Exceptions: []assuresign.Exception{{Severity: assuresign.SeverityError, Message: long}}},
		time.Now(), time.Hour, 24*time.Hour)
	got := statusOf(t, s, id).LastError
	assert.True(t, strings.HasPrefix(got, "Error: xxx"), got[:20])
	assert.LessOrEqual(t, len(got), 600)
}

// One answer cannot inflate a document's counters without bound: what it
// carries beyond MaxExceptionsPerResult is dropped, and said so.
func TestApplyCapsExceptionsPerAnswer(t *testing.T) {
	s := NewStore(StoreConfig{})
	s.SetWatchList(storetest.WatchList(testenv.DocA))
	flood := make([]assuresign.Exception, 50_000)
	for i := range flood {
		flood[i] = assuresign.Exception{Severity: assuresign.SeverityError, Message: "e"}
	}
	_, _, asked := s.Due(testenv.T0, 0, false, 1, "")
	a := s.Apply(assuresign.Result{ID: testenv.DocA, Exceptions: flood}, testenv.T0, fixedSchedule{open: time.Hour, terminal: time.Hour}, asked)
	assert.Equal(t, 50_000-MaxExceptionsPerResult, a.Dropped)
	_, st := s.State()
	assert.Equal(t, uint64(MaxExceptionsPerResult), st.Documents[0].Exceptions["Error"])
}

func TestStoreFillClosedAndReschedule(t *testing.T) {
	s := NewStore(StoreConfig{})
	s.SetWatchList(storetest.WatchList(testenv.DocA, testenv.DocB, testenv.DocC))
	// DocA open on 6h, DocB open on 6h checked 4h later, DocC closed on 24h.
	answer(s, assuresign.Result{ID: testenv.DocA, RawStatus: "Created", Status: assuresign.StatusCreated}, testenv.T0, 6*time.Hour, 24*time.Hour)
	answer(s, assuresign.Result{ID: testenv.DocC, RawStatus: "Expired", Status: assuresign.StatusExpired}, testenv.T0, 6*time.Hour, 24*time.Hour)
	answer(s, assuresign.Result{ID: testenv.DocB, RawStatus: "Created", Status: assuresign.StatusCreated}, testenv.T0.Add(4*time.Hour), 6*time.Hour, 24*time.Hour)
	now := testenv.T0.Add(5 * time.Hour)
	require.True(t, s.MarkUrgent(testenv.DocB, now))

	assert.Equal(t, []string{testenv.DocB, testenv.DocA}, storetest.DueIDs(s.Due(now, 0, true, 3, "")), "closed documents do not fill")
	s.SetFillClosed(true)
	// DocA is 5/6 through its interval, DocC 5/24, so DocA goes first.
	assert.Equal(t, []string{testenv.DocB, testenv.DocA}, storetest.DueIDs(s.Due(now, 0, true, 2, "")))
	assert.Equal(t, []string{testenv.DocB, testenv.DocA, testenv.DocC}, storetest.DueIDs(s.Due(now, 0, true, 3, "")), "closed ones fill too")

	// A shorter schedule brings every next check forward, never back.
	answer(s, assuresign.Result{ID: testenv.DocB, RawStatus: "Created", Status: assuresign.StatusCreated}, now, 6*time.Hour, 24*time.Hour)
	s.Reschedule(fixedSchedule{open: 30 * time.Minute, terminal: 48 * time.Hour})
	assert.Equal(t, []string{testenv.DocA}, storetest.DueIDs(s.Due(testenv.T0.Add(30*time.Minute), 0, false, 1, "")))
	assert.Equal(t, []string{testenv.DocA, testenv.DocB}, storetest.DueIDs(s.Due(now.Add(30*time.Minute), 0, false, 1, "")))
	assert.Equal(t, []string{testenv.DocA, testenv.DocB, testenv.DocC}, storetest.DueIDs(s.Due(testenv.T0.Add(24*time.Hour), 0, false, 1, "")), "DocC keeps its 24h")
}
