package simulator

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

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
