package refresh

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/exposition"
)

// PushConfig is what the refresher knows of DocumentTRAK: whether the webhook
// is on, which status changes it announces, and how far it is trusted.
type PushConfig struct {
	Enabled bool // the webhook is on; nothing below matters without it
	// NotifiedStatuses are the statuses whose DocumentTRAK event the
	// operator configured: a change into one that no notification announced
	// is a missed change.
	NotifiedStatuses []assuresign.Status
	// HealthWindow: push is trusted while a notification arrived within it
	// and no missed change was found within it.
	HealthWindow time.Duration
	// ReconcileInterval is how often an open document is checked while push
	// is trusted (never less than the schedule's longest open interval).
	ReconcileInterval time.Duration
}

// DefaultNotifiedStatuses are the statuses of the events docs/documenttrak.md
// tells operators to configure.
var DefaultNotifiedStatuses = []assuresign.Status{
	assuresign.StatusCompleted, assuresign.StatusExpired, assuresign.StatusDeclined,
	assuresign.StatusCancelled, assuresign.StatusSignerAuthenticationFailed,
}

// missedGrace is how long after its StatusDate (or, without one, after a
// check found it) a change waits for its notification before it counts as
// missed: DocumentTRAK delivers within seconds, and a check that happens to
// run first must not call push broken.
const missedGrace = 30 * time.Second

// PushView is push's health, for the landing page.
type PushView struct {
	Trusted           bool // open documents are on ReconcileInterval
	ReconcileInterval time.Duration
	LastNotification  time.Time // zero: none since the start
	Missed            int       // missed changes since the start
	LastMissed        time.Time // zero: none
	LastMissedID      string    // the document of the last missed change
	LastMissedStatus  string
}

// push watches DocumentTRAK's deliveries against what checks find.
type push struct {
	cfg     PushConfig
	started time.Time // checks answered before it were made without this webhook listening
	trusted atomic.Bool

	mu       sync.Mutex
	view     PushView
	suspects map[string]suspect // changes found too fresh to judge, by document
}

// suspect is a change a check found before its notification had time to arrive.
type suspect struct {
	status assuresign.Status
	since  time.Time // its StatusDate, or when it was found
}

// notified records a notification's arrival: a late one clears its
// document's suspect.
func (r *Refresher) notified(id string, at time.Time) {
	if !r.push.cfg.Enabled {
		return
	}
	r.push.mu.Lock()
	r.push.view.LastNotification = at
	delete(r.push.suspects, id)
	r.push.mu.Unlock()
	r.metrics.lastNotification.Set(exposition.UnixSeconds(at))
}

// foundChange judges a status change a check found that no notification
// announced: into a notified status, on a document answered before while the
// webhook listened, it is a missed change: at once when AssureSign dates it
// missedGrace back, else once a round after that finds its notification
// still missing.
func (r *Refresher) foundChange(id string, to assuresign.Status, statusDate, lastAnswer, now time.Time) {
	p := &r.push
	if !p.cfg.Enabled || lastAnswer.Before(p.started) || !slices.Contains(p.cfg.NotifiedStatuses, to) {
		return
	}
	since := statusDate
	if since.IsZero() || since.After(now) {
		since = now
	}
	if now.Sub(since) >= missedGrace {
		r.missed(id, to, now)
		return
	}
	p.mu.Lock()
	p.suspects[id] = suspect{status: to, since: since}
	p.mu.Unlock()
}

// missed counts a missed change and stops trusting push at once: every
// document returns to the normal schedule.
func (r *Refresher) missed(id string, to assuresign.Status, now time.Time) {
	p := &r.push
	p.mu.Lock()
	p.view.Missed++
	p.view.LastMissed, p.view.LastMissedID, p.view.LastMissedStatus = now, id, to.String()
	p.mu.Unlock()
	r.metrics.missedChanges.WithLabelValues(to.String()).Inc()
	r.metrics.lastMissed.Set(exposition.UnixSeconds(now))
	r.logger.Warn("a check found a status change that DocumentTRAK did not announce; checking every document on the normal schedule",
		"document_id", id, "status", to.String())
	r.trust(false)
}

// judgePush counts the suspects whose notification never came, then trusts
// push when a notification arrived within the health window and no missed
// change was found within it.
func (r *Refresher) judgePush(now time.Time) {
	p := &r.push
	if !p.cfg.Enabled {
		return
	}
	var late []string
	p.mu.Lock()
	for id, s := range p.suspects {
		if now.Sub(s.since) >= missedGrace {
			late = append(late, id)
		}
	}
	slices.Sort(late)
	statuses := make([]assuresign.Status, len(late))
	for i, id := range late {
		statuses[i] = p.suspects[id].status
		delete(p.suspects, id)
	}
	p.mu.Unlock()
	for i, id := range late {
		r.missed(id, statuses[i], now)
	}
	p.mu.Lock()
	v := p.view
	p.mu.Unlock()
	r.trust(!v.LastNotification.IsZero() && now.Sub(v.LastNotification) < p.cfg.HealthWindow &&
		(v.LastMissed.IsZero() || now.Sub(v.LastMissed) >= p.cfg.HealthWindow))
}

// trust switches the schedule between reconciliation and the normal one.
func (r *Refresher) trust(on bool) {
	if r.push.trusted.Swap(on) == on {
		return
	}
	r.store.SetFillClosed(on)
	if on {
		r.metrics.pushTrusted.Set(1)
		r.logger.Info("DocumentTRAK is delivering: open documents are reconciled every --webhook.reconcile-interval", "interval", r.push.cfg.ReconcileInterval)
		return
	}
	r.metrics.pushTrusted.Set(0)
	r.store.Reschedule(r.schedule())
}

// schedule is the schedule in force: reconciliation while push is trusted.
func (r *Refresher) schedule() schedule {
	s := r.sched
	s.trusted = r.push.trusted.Load()
	return s
}

// pushView returns push's health, nil without the webhook.
func (r *Refresher) pushView() *PushView {
	if !r.push.cfg.Enabled {
		return nil
	}
	r.push.mu.Lock()
	v := r.push.view
	r.push.mu.Unlock()
	v.Trusted, v.ReconcileInterval = r.push.trusted.Load(), r.push.cfg.ReconcileInterval
	return &v
}
