package simulator

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

func TestNotificationsCanBeStoppedThinnedAndDropped(t *testing.T) {
	var (
		mu       sync.Mutex
		received []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Authorization") == "Bearer tok" && r.Header.Get("Content-Type") == "application/json" {
			received = append(received, string(b))
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	const id = "DEC11AED-0E2E-4000-8000-0000000000AA"
	s := New("ctx")
	s.Put(Document{ID: id, Status: assuresign.StatusSigningStepInProgress, Step: 1})
	s.SetNotifier(srv.URL, "tok")
	step := func(n int) {
		s.Update(id, func(d *Document) { d.Step = n })
	}
	sent := func() []string {
		s.WaitNotifications()
		mu.Lock()
		defer mu.Unlock()
		out := received
		received = nil
		return out
	}

	step(2)
	s.Update(id, func(d *Document) { d.Exceptions = []assuresign.Exception{{Message: "x"}} }) // not a change of status or step
	assert.Equal(t, []string{`{"documentId":"` + id + `"}`}, sent())

	s.SetNotifications(Notifications{Every: 2})
	step(3)
	step(4)
	step(5)
	assert.Len(t, sent(), 2, "the first of every two")

	s.SetNotifications(Notifications{DropStatuses: []string{"declined"}})
	s.Update(id, func(d *Document) { d.Status = assuresign.StatusDeclined })
	assert.Empty(t, sent(), "a decline's notification is dropped")
	s.Put(Document{ID: id, Status: assuresign.StatusSigningStepInProgress, Step: 1})
	assert.Len(t, sent(), 1, "a replaced document that changed is announced")

	s.SetNotifications(Notifications{DropDocuments: []string{strings.ToLower(id)}})
	step(2)
	assert.Empty(t, sent(), "that document's notifications are dropped")

	s.SetNotifications(Notifications{Stop: true})
	step(3)
	assert.Empty(t, sent())
	st := s.Stats()
	assert.Equal(t, 4, st.Notifications)
	assert.Equal(t, 4, st.NotificationsDropped)
}

// A failed delivery (no answer, or not 2xx) is tried again after each of the
// retry waits, at most 4 times by default as DocumentTRAK does, and not after
// one taken.
func TestFailedNotificationsAreRetried(t *testing.T) {
	var (
		mu       sync.Mutex
		attempts int
		failFor  int // the first failFor attempts answer 503
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts <= failFor {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	const id = "DEC11AED-0E2E-4000-8000-0000000000AB"
	s := New("ctx")
	s.Put(Document{ID: id, Status: assuresign.StatusSigningStepInProgress, Step: 1})
	s.SetNotifier(srv.URL, "tok")
	assert.Len(t, DefaultRetryWaits, 4, "up to 4 retries")
	s.SetRetryWaits(time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond)
	// run makes a change whose deliveries fail fail times, waits for want
	// attempts, and then a little more for any beyond them.
	run := func(fail, step, want int) (int, int) {
		t.Helper()
		mu.Lock()
		attempts, failFor = 0, fail
		mu.Unlock()
		before := s.Stats().NotificationRetries
		s.Update(id, func(d *Document) { d.Step = step })
		count := func() int { mu.Lock(); defer mu.Unlock(); return attempts }
		assert.Eventually(t, func() bool { return count() >= want }, 5*time.Second, time.Millisecond)
		time.Sleep(50 * time.Millisecond)
		s.WaitNotifications()
		return count(), s.Stats().NotificationRetries - before
	}
	got, retries := run(2, 2, 3)
	assert.Equal(t, 3, got, "two failures, then taken")
	assert.Equal(t, 2, retries)
	got, retries = run(100, 3, 5)
	assert.Equal(t, 5, got, "the first delivery and 4 retries, then given up")
	assert.Equal(t, 4, retries)
	got, _ = run(0, 4, 1)
	assert.Equal(t, 1, got, "taken at once: no retry")
}
