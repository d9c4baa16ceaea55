package simulator

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

// Notifications say which of the simulated account's DocumentTRAK
// notifications are delivered; the zero value delivers all. Dropping them is
// how the demo and the tests show a broken push.
type Notifications struct {
	Stop bool `json:"stop"` // deliver none
	// Every delivers the first of every Every changes and drops the rest
	// (0 or 1: all).
	Every int `json:"every"`
	// DropStatuses are statuses whose changes are never announced, as an
	// event not configured in the account.
	DropStatuses []string `json:"drop_statuses"`
	// DropDocuments are documents whose changes are never announced, as a
	// delivery lost on the way: the demo's one missed change.
	DropDocuments []string `json:"drop_documents"`
}

// Check refuses rules that name no status: an admin endpoint's input.
func (n Notifications) Check() error {
	for _, st := range n.DropStatuses {
		if assuresign.ParseStatus(st) == assuresign.StatusUnknown {
			return fmt.Errorf("drop_statuses: %q is not a status", assuresign.Truncate(st, 64))
		}
	}
	return nil
}

// notifier is the account's DocumentTRAK configuration.
type notifier struct {
	url, token string
	rules      Notifications
	changes    int             // announced or not, for Every
	retryWaits []time.Duration // before each retry of a failed delivery
}

// notifyTimeout bounds one delivery.
const notifyTimeout = 5 * time.Second

// DefaultRetryWaits space a failed delivery's retries: DocumentTRAK retries
// up to 4 times within 24 hours (the spacing is not known; this is the
// simulator's).
var DefaultRetryWaits = []time.Duration{5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 12 * time.Hour}

// SetNotifier makes every change of a document's status or step (by Update,
// Put or the life cycle) a DocumentTRAK notification: a POST of
// {"documentId":"<ID>"} to url with the bearer token, as docs/documenttrak.md
// configures it. An empty url turns notifications off.
func (s *Simulator) SetNotifier(url, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if url == "" {
		s.notify = nil
		return
	}
	s.notify = &notifier{url: url, token: token, retryWaits: DefaultRetryWaits}
}

// SetRetryWaits sets the waits before a failed delivery's retries, one per
// retry (none: no retry); tests shorten them.
func (s *Simulator) SetRetryWaits(waits ...time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.notify != nil {
		s.notify.retryWaits = slices.Clone(waits)
	}
}

// SetNotifications sets which notifications are delivered from now on.
func (s *Simulator) SetNotifications(n Notifications) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.notify != nil {
		n.DropStatuses, n.DropDocuments = slices.Clone(n.DropStatuses), slices.Clone(n.DropDocuments)
		s.notify.rules, s.notify.changes = n, 0
	}
}

// WaitNotifications waits for the deliveries under way.
func (s *Simulator) WaitNotifications() { s.deliveries.Wait() }

// changed announces a document's change, if it is one and the rules let it
// through. The caller holds s.mu.
func (s *Simulator) changed(before, after Document) {
	n := s.notify
	if n == nil || (before.Status == after.Status && before.Step == after.Step) {
		return
	}
	n.changes++
	r := n.rules
	if r.Stop || (r.Every > 1 && (n.changes-1)%r.Every != 0) ||
		slices.ContainsFunc(r.DropStatuses, func(st string) bool { return strings.EqualFold(st, after.Status.String()) }) ||
		slices.ContainsFunc(r.DropDocuments, func(id string) bool { return strings.EqualFold(id, after.ID) }) {
		s.stats.NotificationsDropped++
		return
	}
	s.stats.Notifications++
	s.deliver(n.url, n.token, []byte(`{"documentId":"`+after.ID+`"}`), slices.Clone(n.retryWaits))
}

// deliver POSTs one notification; a failed one (no answer, or not 2xx) is
// tried again after each of retryWaits in turn, then given up, as
// DocumentTRAK does: the exporter's reconciliation covers what is lost.
func (s *Simulator) deliver(url, token string, body []byte, retryWaits []time.Duration) {
	s.deliveries.Go(func() {
		if post(url, token, body) || len(retryWaits) == 0 {
			return
		}
		time.AfterFunc(retryWaits[0], func() {
			s.mu.Lock()
			s.stats.NotificationRetries++
			s.mu.Unlock()
			s.deliver(url, token, body, retryWaits[1:])
		})
	})
}

// post makes one delivery and reports whether it was taken (2xx).
func post(url, token string, body []byte) bool {
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req) //nolint:gosec // G704: the URL the simulator was given
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode/100 == 2
}
