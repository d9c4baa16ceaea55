package refresh

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/rest"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/exposition"
	"github.com/assuresign-exporter/assuresign_exporter/internal/fanout"
	"github.com/assuresign-exporter/assuresign_exporter/upstream"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// Config sets the refresh schedule and its limits.
type Config struct {
	Interval         time.Duration // between scheduled rounds
	TerminalInterval time.Duration // between checks of a document that can no longer change
	// MaxInterval is the most an open document that sits still waits between
	// checks (see schedule); at or below Interval, every open one waits Interval.
	MaxInterval time.Duration
	BatchSize   int           // documents per request
	Concurrency int           // requests at once
	Timeout     time.Duration // per request, retries included
	// ContextIdentifier is the account's, for documents that do not set their own. A secret.
	ContextIdentifier string
	// Coalesce is how long an urgent check waits for others to share its request;
	// it is also the least time between two urgent rounds.
	Coalesce time.Duration
	// Now is the clock (time.Now when nil); a simulated day runs on a fake one.
	Now func() time.Time
	// Envelopes bound what envelopes' listings add; their Secrets are every
	// secret the exporter knows.
	Envelopes EnvelopeLimits
	// ByEnvelope says the API answers per envelope (REST): a check request
	// asks about one envelope's documents, none is added to fill it, and
	// an envelope listed in a round is not asked about again by a check.
	ByEnvelope bool

	// Push is DocumentTRAK's part in the schedule; zero: the webhook is off.
	Push PushConfig
}

// Refresher runs the background refresh: scheduled rounds every Interval, and
// urgent rounds for documents added by a reload or named by a notification.
// One goroutine runs every round, so rounds never overlap.
type Refresher struct {
	cfg     Config
	store   *collector.Store
	api     upstream.API
	metrics *Metrics
	logger  *slog.Logger
	now     func() time.Time
	sched   schedule

	wake  chan struct{}
	ready atomic.Bool
	// intervals is what CheckIntervals returns, counted after each round.
	intervals atomic.Pointer[[]CheckInterval]
	// quietUntil (Unix nanoseconds) holds every request back until a
	// Retry-After that a failed request was answered with has passed.
	quietUntil atomic.Int64
	// refusedLogged: the credentials' refusal was logged, once until a
	// round succeeds.
	refusedLogged atomic.Bool

	upstreamMu sync.Mutex
	upstream   Upstream // HeldUntil is filled in from quietUntil when asked

	env           envelopes
	applyMu       sync.Mutex // see applyWatched
	envelopeViews atomic.Pointer[[]EnvelopeView]
	envelopesGen  atomic.Uint64 // counts publishEnvelopes
	// parkedDropped says whether a round, the first in which every envelope
	// was listed, has ended the wait of restored documents for their
	// envelope's listing.
	parkedDropped bool

	push push
}

// Upstream is what the refresher knows of AssureSign, for the landing page.
type Upstream struct {
	Up          bool      // as assuresign_up
	LastSuccess time.Time // as assuresign_last_refresh_success_timestamp_seconds; zero: never
	NextRound   time.Time // when the next scheduled round starts; zero during the first
	HeldUntil   time.Time // a Retry-After hold on every request; zero when none
	Push        *PushView // DocumentTRAK's health; nil without the webhook
}

// Upstream returns what the refresher knows of AssureSign now.
func (r *Refresher) Upstream() Upstream {
	r.upstreamMu.Lock()
	u := r.upstream
	r.upstreamMu.Unlock()
	if now := r.now(); r.quiet(now) {
		u.HeldUntil = time.Unix(0, r.quietUntil.Load())
	}
	u.Push = r.pushView()
	return u
}

// up is the last round's verdict.
func (r *Refresher) up() bool {
	r.upstreamMu.Lock()
	defer r.upstreamMu.Unlock()
	return r.upstream.Up
}

// setUp records a round's verdict in assuresign_up and, on success, the
// last success's time.
func (r *Refresher) setUp(up bool) {
	r.upstreamMu.Lock()
	defer r.upstreamMu.Unlock()
	r.upstream.Up = up
	if !up {
		r.metrics.up.Set(0)
		return
	}
	r.upstream.LastSuccess = r.now()
	r.metrics.up.Set(1)
	r.metrics.lastSuccess.Set(exposition.UnixSeconds(r.upstream.LastSuccess))
}

// nextRoundIn resets timer to the next scheduled round, jittered, and notes when it is.
func (r *Refresher) nextRoundIn(timer *time.Timer) {
	d := jitter(r.cfg.Interval)
	timer.Reset(d)
	r.upstreamMu.Lock()
	r.upstream.NextRound = r.now().Add(d)
	r.upstreamMu.Unlock()
}

// NewRefresher returns a Refresher; call Run to start it.
func NewRefresher(cfg Config, store *collector.Store, api upstream.API, metrics *Metrics, logger *slog.Logger) *Refresher {
	if cfg.Coalesce <= 0 {
		cfg.Coalesce = 200 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Refresher{
		cfg: cfg, store: store, api: api, metrics: metrics, logger: logger,
		now: cfg.Now, wake: make(chan struct{}, 1),
		sched: schedule{interval: cfg.Interval, maxInterval: max(cfg.MaxInterval, cfg.Interval), terminal: cfg.TerminalInterval},
	}
	r.env.limits = cfg.Envelopes
	if p := cfg.Push; p.Enabled {
		p.ReconcileInterval = max(p.ReconcileInterval, r.sched.maxInterval)
		r.push = push{cfg: p, started: r.now(), suspects: map[string]suspect{}}
		r.sched.reconcile = p.ReconcileInterval
		metrics.initPush(p.NotifiedStatuses, r.push.started)
	}
	return r
}

// SetWatchList makes wl the watched set; documents it adds, or whose
// credentials it changes, are checked within moments, not at the next round.
// Its envelopes are listed within moments too: new ones, and ones whose
// credentials it changes.
func (r *Refresher) SetWatchList(wl *watchlist.List) {
	defer r.countIntervals()
	toList := r.env.set(wl, r.logger, r.metrics.DroppedItems)
	toCheck := r.applyWatched()
	r.publishEnvelopes()
	if toCheck > 0 || toList > 0 {
		r.logger.Debug("watch list applied", "documents", len(wl.Documents), "to_check_now", toCheck, "envelopes_to_list", toList)
		r.Wake()
	}
}

// CheckIntervals counts the watched documents on each check interval, as of
// the last round or reload: counting them takes a pass over every document,
// which a scrape must not pay for.
func (r *Refresher) CheckIntervals() []CheckInterval {
	if c := r.intervals.Load(); c != nil {
		return *c
	}
	return nil
}

// countIntervals updates what CheckIntervals returns.
func (r *Refresher) countIntervals() {
	c := checkIntervals(r.store, r.schedule(), r.now())
	r.intervals.Store(&c)
}

// Restore joins a saved state with the watch list set before. The exporter is
// ready at once: it serves the restored statuses while the first round asks
// only about the documents that are due. See collector.Store.Restore for what it returns.
//
// Saved documents not on the list wait, when envelopes are watched, for the
// listings to bring them back; those no listing brings are dropped after the
// first round in which every envelope was listed.
func (r *Refresher) Restore(st collector.State) (restored, dropped, clamped int) {
	restored, dropped, clamped = r.store.Restore(st, r.sched, r.now(), r.env.any())
	r.countIntervals()
	r.ready.Store(true)
	return restored, dropped, clamped
}

// Ready reports whether the first scheduled round has finished, or a saved
// state was restored.
func (r *Refresher) Ready() bool { return r.ready.Load() }

// Wake asks for an urgent round soon; calls close together share one round.
func (r *Refresher) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// CheckNow schedules an immediate check of one watched document, or a listing
// of one watched envelope and a check of its documents; it is the DocumentTRAK
// webhook's Trigger. It reports false when id is neither.
func (r *Refresher) CheckNow(id string, received time.Time) bool {
	r.notified(strings.ToUpper(id), received)
	if r.store.MarkUrgent(id, received) {
		r.Wake()
		return true
	}
	docs, ok := r.env.markUrgent(id)
	if !ok {
		return false
	}
	for _, d := range docs {
		r.notified(d, received)
		r.store.MarkUrgent(d, received)
	}
	r.Wake()
	return true
}

// Run refreshes until ctx ends. The first round starts at once.
func (r *Refresher) Run(ctx context.Context) {
	// The first round runs before anything else: a Wake already pending (from
	// the initial load) must not delay it by the coalescing wait, and it covers
	// urgent documents anyway.
	r.round(ctx, false)
	r.ready.Store(true)
	timer := time.NewTimer(time.Hour)
	r.nextRoundIn(timer)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			r.round(ctx, false)
			r.nextRoundIn(timer)
		case <-r.wake:
			// Let notifications that arrive together share a request; the wait
			// also bounds how often urgent rounds can reach AssureSign.
			select {
			case <-ctx.Done():
				return
			case <-time.After(r.cfg.Coalesce):
			}
			r.round(ctx, true)
		}
	}
}

// jitter spreads rounds by ±5% so replicas do not poll in lockstep.
func jitter(d time.Duration) time.Duration {
	spread := int64(d) / 20
	if spread <= 0 {
		return d
	}
	return d - time.Duration(spread) + time.Duration(rand.Int64N(2*spread+1)) //nolint:gosec // G404: jitter, not a secret
}

func (r *Refresher) quiet(now time.Time) bool { return now.UnixNano() < r.quietUntil.Load() }

// holdUntil extends the quiet period to t; concurrent batches may both ask.
// Urgent documents held back are checked as soon as it ends.
func (r *Refresher) holdUntil(t time.Time) {
	for {
		cur := r.quietUntil.Load()
		if t.UnixNano() <= cur {
			return
		}
		if r.quietUntil.CompareAndSwap(cur, t.UnixNano()) {
			r.metrics.holdUntil.Set(exposition.UnixSeconds(t))
			r.logger.Warn("AssureSign asked to wait (Retry-After): holding every request back", "until", t)
			time.AfterFunc(t.Sub(r.now()), r.Wake)
			return
		}
	}
}

// noteRefused logs, once until a round succeeds, that the credentials were
// refused, with what to look at: every round would say it again.
func (r *Refresher) noteRefused(err error) {
	if errors.Is(err, rest.ErrCredentialsRefused) && !r.refusedLogged.Swap(true) {
		r.logger.Error("AssureSign refused the API user's credentials: every request fails until they are fixed", "err", err, "hint", r.api.Hint(err))
	}
}

// roundStats describes one round.
type roundStats struct {
	Documents int // checks due
	Filled    int // checks not yet due that rode along in the requests sent anyway
	Requests  int // batches sent (retries not counted)
	Failed    int // batches that failed or were not sent
	Changes   int // documents whose status changed
	Anomalies int // documents answered without a status
}

// add counts a round's tail in its stats.
func (s *roundStats) add(t roundStats) {
	s.Documents += t.Documents
	s.Filled += t.Filled
	s.Requests += t.Requests
	s.Failed += t.Failed
	s.Changes += t.Changes
	s.Anomalies += t.Anomalies
}

// batchOutcome is what one request brought.
type batchOutcome struct {
	err                 error
	changes, anomalies  int
	exceptionsDropped   int
	exceptionLinesShown int
}

// maxExceptionLines caps the exception lines one answer logs; the rest are
// counted in the round's summary.
const maxExceptionLines = 10

// round checks the documents due now (only the urgent ones when urgentOnly)
// while it lists the envelopes due now beside them: a slow listing delays no
// check of a document already known. Notifications that arrive meanwhile are
// checked at once; the documents a listing newly finds are checked when it
// returns, in the round's tail.
func (r *Refresher) round(ctx context.Context, urgentOnly bool) roundStats {
	r.judgePush(r.now())
	var listed chan listedEnvelopes
	var listing map[string]bool // the envelopes listed in this round
	if !r.quiet(r.now()) {
		if due := r.env.due(r.now(), urgentOnly, r.sched.maxInterval, r.cfg.ContextIdentifier, r.store.AnyTerminal); len(due) > 0 {
			if r.cfg.ByEnvelope {
				listing = make(map[string]bool, len(due))
				for _, l := range due {
					listing[l.id] = true
				}
			}
			listed = make(chan listedEnvelopes, 1)
			asked := r.store.Marks()
			go func() { listed <- r.listEnvelopes(ctx, due, asked) }()
		}
	}
	stats := r.checkRound(ctx, urgentOnly, listing)
	var listingErr error
	woken := false
	for listed != nil {
		select {
		case l := <-listed:
			listed = nil
			toCheck := 0
			if l.changed {
				toCheck = r.applyWatched()
			}
			// The statuses a listing brought (REST) first: the documents
			// they answer need no check of their own.
			if len(l.results) > 0 {
				r.recordListed(ctx, l)
			}
			if toCheck > 0 {
				// Not the envelopes just listed (ByEnvelope): their listing was
				// their documents' request, answered or failed.
				stats.add(r.checkRound(ctx, true, listing))
			}
			// Under REST the listings are status requests like the checks:
			// their failing is AssureSign's (or the credentials'), on up.
			if r.cfg.ByEnvelope && l.upstreamErr != nil && !urgentOnly {
				listingErr = l.upstreamErr
			}
		case <-r.wake:
			// As Run would: let notifications that arrive together share a request.
			woken = true
			select {
			case <-ctx.Done():
			case <-time.After(r.cfg.Coalesce):
				r.checkRound(ctx, true, listing)
			}
		}
	}
	if woken {
		r.Wake() // an envelope named meanwhile is listed in the next urgent round
	}
	if listingErr != nil && ctx.Err() == nil {
		r.setUp(false)
		r.noteRefused(listingErr)
	} else if !urgentOnly && r.up() {
		r.refusedLogged.Store(false)
	}
	// Only once every envelope has been listed: a listing that failed, or
	// was held back, says nothing of which documents are still its own.
	if !urgentOnly && !r.parkedDropped && ctx.Err() == nil && r.env.allListed() {
		r.parkedDropped = true
		if n := r.store.DropParked(); n > 0 {
			r.logger.Info("dropped persisted documents that no envelope listed", "dropped", n)
		}
	}
	r.publishEnvelopes()
	r.countIntervals() // once a round: a pass over every document
	return stats
}

// checkRound checks the documents due now (only the urgent ones when urgentOnly), in
// batches of BatchSize (ByEnvelope: one per envelope) with at most Concurrency
// requests at once. The documents of the envelopes being listed (ByEnvelope)
// are left to their listing.
func (r *Refresher) checkRound(ctx context.Context, urgentOnly bool, listing map[string]bool) roundStats {
	start := r.now()
	// Slack keeps a round that jitter made a little early from skipping
	// documents that fall due moments later.
	size, fill := max(r.cfg.BatchSize, 1), max(r.cfg.BatchSize, 1)
	if r.cfg.ByEnvelope {
		fill = 1 // an envelope's request answers its other documents anyway
	}
	checks, due, asked := r.store.Due(start, r.cfg.Interval/2, urgentOnly, fill, r.cfg.ContextIdentifier)
	if len(listing) > 0 {
		checks = slices.DeleteFunc(checks, func(c assuresign.Check) bool { return listing[c.EnvelopeID] })
		due = min(due, len(checks)) // ByEnvelope adds no filling
	}
	if len(checks) > 0 && r.quiet(start) {
		// Documents stay due; up stays as the answer that asked for quiet left it.
		r.logger.Debug("holding requests back as AssureSign's Retry-After asked", "documents", due,
			"until", time.Unix(0, r.quietUntil.Load()))
		return roundStats{Documents: due}
	}
	stats := roundStats{Documents: due, Filled: len(checks) - due}
	if len(checks) == 0 {
		if !urgentOnly {
			// Nothing needed asking: the cache is as fresh as it can be. A
			// failed check is always due again, so none is pending either:
			// up must not stay 0 for ever on an empty watch list.
			r.setUp(true)
			r.metrics.refreshDuration.Set(0)
		}
		return stats
	}
	var (
		mu       sync.Mutex
		firstErr error
		dropped  int
	)
	batches := batchesOf(checks, size, r.cfg.ByEnvelope)
	fanout.Each(ctx, len(batches), r.cfg.Concurrency, func(ctx context.Context, b int) {
		batch := batches[b]
		if r.quiet(r.now()) {
			mu.Lock()
			stats.Failed++ // not sent: the batches left wait for the next round
			mu.Unlock()
			return
		}
		o := r.checkBatch(ctx, batch, asked)
		mu.Lock()
		defer mu.Unlock()
		stats.Requests++
		stats.Changes += o.changes
		stats.Anomalies += o.anomalies
		dropped += o.exceptionsDropped
		if o.err != nil {
			stats.Failed++
			if firstErr == nil {
				firstErr = o.err
			}
		}
	})
	r.store.Publish()
	elapsed := r.now().Sub(start)
	r.metrics.refreshDuration.Set(elapsed.Seconds())
	if dropped > 0 {
		r.metrics.dropped.WithLabelValues("exception").Add(float64(dropped))
		r.logger.Warn("answers held more exceptions per document than are counted; the rest were dropped",
			"dropped", dropped, "counted_per_document", collector.MaxExceptionsPerResult)
	}
	if ctx.Err() != nil {
		return stats // shutting down: an interrupted round says nothing of AssureSign
	}
	switch {
	case stats.Failed > 0:
		r.setUp(false)
		r.noteRefused(firstErr)
		if firstErr == nil {
			firstErr = errors.New("held back by AssureSign's Retry-After")
		}
		r.logger.Warn("refresh round failed; keeping the last known statuses", "failed_requests", stats.Failed,
			"requests", stats.Requests+stats.Failed, "documents", stats.Documents, "first_err", firstErr)
	case !urgentOnly:
		// Only a scheduled round vouches for the whole list: an urgent check
		// that succeeds says nothing of documents a failed round left stale.
		r.setUp(true)
	}
	level := slog.LevelInfo
	if urgentOnly {
		level = slog.LevelDebug // notifications would otherwise add a line each
	}
	r.logger.Log(ctx, level, "refresh round finished", "urgent_only", urgentOnly, "documents", stats.Documents,
		"filled", stats.Filled, "requests", stats.Requests, "failed_requests", stats.Failed, "changes", stats.Changes,
		"without_status", stats.Anomalies, "duration", elapsed)
	return stats
}

// batchesOf splits checks into batches of size or, byEnvelope, into one
// batch per envelope (a document in none alone in its own).
func batchesOf(checks []assuresign.Check, size int, byEnvelope bool) [][]assuresign.Check {
	var out [][]assuresign.Check
	if !byEnvelope {
		for lo := 0; lo < len(checks); lo += size {
			out = append(out, checks[lo:min(lo+size, len(checks))])
		}
		return out
	}
	at := map[string]int{}
	for _, c := range checks {
		i, ok := at[c.EnvelopeID]
		if !ok || c.EnvelopeID == "" {
			i = len(out)
			at[c.EnvelopeID] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], c)
	}
	return out
}

// checkBatch sends one request and records its results. A document the
// answer says nothing usable about is that document's problem, not a failed
// request. asked is the store's mark count when the batch was chosen.
func (r *Refresher) checkBatch(ctx context.Context, batch []assuresign.Check, asked uint64) (o batchOutcome) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	results, err := r.api.CheckStatus(ctx, batch)
	now := r.now()
	if err != nil {
		ids := make([]string, len(batch))
		for i, c := range batch {
			ids[i] = c.ID
		}
		r.store.Fail(ids, err, asked)
		var e *assuresign.Error
		if errors.As(err, &e) && e.RetryAfter > 0 {
			r.holdUntil(now.Add(e.RetryAfter))
		}
		o.err = err
		return o
	}
	for _, res := range results {
		r.record(ctx, res, now, asked, &o)
	}
	return o
}

// record records one document's result, answered at now, in the store, the
// metrics and the log. asked is the store's mark count when it was asked. A
// result for a document not watched is dropped unseen: its id may be a
// secret (an envelope's refused document).
func (r *Refresher) record(ctx context.Context, res assuresign.Result, now time.Time, asked uint64, o *batchOutcome) {
	a := r.store.Apply(res, now, r.schedule(), asked)
	if !a.Watched {
		return
	}
	switch {
	case res.Err != nil:
		o.anomalies++
		r.metrics.results.WithLabelValues("missing").Inc()
		r.logger.Debug("CheckStatus answer had no result for a document; keeping its last known status", "document_id", res.ID)
	case !res.HasStatus():
		o.anomalies++
		r.metrics.results.WithLabelValues("no_status").Inc()
	case res.Status == assuresign.StatusUnknown:
		r.metrics.results.WithLabelValues("unknown_status").Inc()
		r.logger.Warn("undocumented StatusType; reported as Unknown", "document_id", res.ID, "status_type", assuresign.Truncate(res.RawStatus, 64))
	default:
		r.metrics.results.WithLabelValues("ok").Inc()
	}
	for _, ex := range res.Exceptions {
		if o.exceptionLinesShown == maxExceptionLines {
			break
		}
		o.exceptionLinesShown++
		level := slog.LevelWarn
		if ex.Severity == assuresign.SeverityWarning {
			level = slog.LevelDebug
		}
		r.logger.Log(ctx, level, "CheckStatus exception", "document_id", res.ID, "severity", ex.Severity.String(), "message", assuresign.Truncate(ex.Message, 200))
	}
	if a.Notified > 0 && r.metrics.notificationLatency != nil {
		r.metrics.notificationLatency.Observe(a.Notified.Seconds())
	}
	if a.Unmoved && r.push.cfg.Enabled {
		r.metrics.notificationsUnmoved.Inc()
	}
	if a.Changed && !a.First && !a.Announced {
		r.foundChange(res.ID, res.Status, res.StatusDate, a.Since, now)
	}
	if a.Changed {
		level := slog.LevelDebug // a first sighting: a start would log every document
		if !a.First {
			o.changes++
			level = slog.LevelInfo
		}
		r.logger.Log(ctx, level, "status changed", "document_id", res.ID, "from", a.From.String(), "to", res.Status.String(), "step", res.Step)
	}
	o.exceptionsDropped += a.Dropped
}
