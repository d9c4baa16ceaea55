package collector

import (
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/exposition"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// Store is the cache behind every scrape: the watched documents, their last
// known status and each one's pre-rendered exposition. Scrapes read it; the
// refresher, reloads and notifications write it, none of them while waiting on
// AssureSign, so a scrape never does either.
type Store struct {
	cfg   StoreConfig
	mu    sync.RWMutex
	docs  map[string]*document
	order []string // sorted ids, rebuilt when the list changes
	// marks counts MarkUrgent calls, to tell a notification that came after a
	// check was chosen from one that check answers.
	marks uint64
	// generation counts changes to what is persisted, so a writer can tell
	// whether there is anything new to write.
	generation atomic.Uint64
	// dirty holds the chunks whose documents changed since the last publish.
	dirty      map[int]bool
	exposition atomic.Pointer[exposition.Exposition]
	watched    atomic.Int64 // len(docs), for Len
	// parked holds restored documents of envelopes not yet listed again.
	parked map[string]*document
	// fillClosed lets closed documents ride along in requests sent anyway
	// (see SetFillClosed).
	fillClosed bool
}

// StoreConfig sets how the documents are exposed.
type StoreConfig struct {
	// CurrentStatusOnly writes one status series per document, for its
	// current status, instead of the state set's one per possible status.
	CurrentStatusOnly bool
}

type document struct {
	watched watchlist.Entry // holds the secrets; never leaves the package except as a Check

	status     assuresign.Status
	rawStatus  string
	statusDate time.Time
	step       int
	exceptions [len(severityIndex)]uint64
	lastCheck  time.Time // when a result last arrived
	// lastChange is when the exporter saw the status change (or was asked to
	// look: a notification, a reload that changed its credentials); for the
	// first answer, the StatusDate when older. The schedule counts idle days from it.
	lastChange time.Time
	answered   bool      // AssureSign answered about the document at least once
	checkOK    bool      // its last answer about the document carried a status
	lastError  string    // secret-free
	nextCheck  time.Time // zero: as soon as possible
	urgent     bool      // added by a reload or named by a notification
	notifiedAt time.Time // first pending notification, for its latency
	marked     uint64    // Store.marks at the latest MarkUrgent
	index      int       // position in Store.order
}

// severityIndex fixes the exception counters' order.
var severityIndex = [...]assuresign.Severity{assuresign.SeverityWarning, assuresign.SeverityError, assuresign.SeverityFatal, assuresign.SeverityUnknown}

// NewStore returns an empty Store.
func NewStore(cfg StoreConfig) *Store {
	s := &Store{cfg: cfg, docs: map[string]*document{}, dirty: map[int]bool{}}
	s.publish()
	return s
}

// changed marks d's samples for the next publish.
func (s *Store) changed(d *document) {
	s.dirty[d.index/exposition.ChunkSize] = true
	s.generation.Add(1)
}

// Publish makes what changed since the last call visible to scrapes; the
// refresher calls it after each round, so one round costs one publish.
func (s *Store) Publish() exposition.PublishStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.dirty) == 0 {
		return exposition.PublishStats{}
	}
	return s.publish()
}

// SetWatchList makes wl the watched set. Documents already known keep their
// state; new ones, and ones whose AuthToken or ContextIdentifier changed, are
// due at once; the rest are dropped. It returns how many are due at once.
func (s *Store) SetWatchList(wl *watchlist.List) (toCheck int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]*document, len(wl.Documents))
	for _, wd := range wl.Documents {
		d, ok := s.docs[wd.ID]
		switch {
		case !ok && s.parked[wd.ID] != nil:
			// Restored, and listed again: it keeps its state and schedule.
			d = s.parked[wd.ID]
			delete(s.parked, wd.ID)
			if d.urgent {
				toCheck++
			}
		case !ok:
			d = &document{urgent: true}
			toCheck++
		case !d.watched.SameCredentials(wd):
			d.urgent = true // a corrected credential is tried now, not next round
			toCheck++
		}
		d.watched = wd
		next[wd.ID] = d
	}
	s.docs = next
	s.watched.Store(int64(len(next)))
	s.order = make([]string, 0, len(next))
	for id := range next {
		s.order = append(s.order, id)
	}
	slices.Sort(s.order)
	for i, id := range s.order {
		d := next[id]
		d.index = i
		s.changed(d)
	}
	s.publish() // positions moved: every chunk is rendered again
	return toCheck
}

// AnyTerminal reports whether any of ids is watched and closed.
func (s *Store) AnyTerminal(ids []string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, id := range ids {
		if d, ok := s.docs[id]; ok && d.status.Terminal() {
			return true
		}
	}
	return false
}

// Statuses returns the status of each of ids (Unknown when not watched).
func (s *Store) Statuses(ids []string) []assuresign.Status {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]assuresign.Status, len(ids))
	for i, id := range ids {
		if d, ok := s.docs[id]; ok {
			out[i] = d.status
		}
	}
	return out
}

// Len returns how many documents are watched.
// It takes no lock: every scrape reads it, and a scrape must not wait
// behind a publish or a landing-page pass.
func (s *Store) Len() int { return int(s.watched.Load()) }

// Due returns the checks to make at now: first the n due ones, urgent
// documents and, unless urgentOnly, those whose next check falls within slack
// of now; then, as their requests go out anyway, the open documents (any,
// after SetFillClosed) due soonest, up to a multiple of batch. It also returns
// the mark count when the checks were chosen, for Apply and Fail.
func (s *Store) Due(now time.Time, slack time.Duration, urgentOnly bool, batch int, contextIdentifier string) (checks []assuresign.Check, n int, asked uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	batch = max(batch, 1)
	var due []string
	// The spare room is under a batch: the batch-1 documents due soonest are
	// all a request can take, and an urgent round (one per notification) must
	// not sort the whole list to find them.
	soonest := newSoonest(batch-1, s.fillClosed, now)
	for _, id := range s.order {
		d := s.docs[id]
		switch {
		case d.urgent || (!urgentOnly && !d.nextCheck.After(now.Add(slack))):
			due = append(due, id)
		case s.fillClosed || !d.status.Terminal():
			soonest.offer(id, d)
		}
	}
	n = len(due)
	if room := (batch - n%batch) % batch; n > 0 && room > 0 {
		for _, c := range soonest.kept[:min(room, len(soonest.kept))] {
			due = append(due, c.id)
		}
	}
	for _, id := range due {
		d := s.docs[id]
		checks = append(checks, assuresign.Check{ID: id, AuthToken: d.watched.AuthToken, ContextIdentifier: d.watched.ContextIdentifierOr(contextIdentifier), EnvelopeID: d.watched.Envelope})
	}
	return checks, n, s.marks
}

// soonest keeps, soonest first, the limit documents offered that are due
// soonest: by next check or, when closed documents fill too, by how far
// through its interval each is (open and closed documents wait intervals
// hours apart: the one furthest through its own goes first, so that both
// kinds keep ahead). Ties keep the order offered.
type soonest struct {
	limit      int
	fillClosed bool
	now        time.Time
	kept       []spareDocument
}

type spareDocument struct {
	id     string
	d      *document
	waited float64 // see document.waited; only when closed documents fill
}

func newSoonest(limit int, fillClosed bool, now time.Time) *soonest {
	return &soonest{limit: limit, fillClosed: fillClosed, now: now, kept: make([]spareDocument, 0, limit+1)}
}

func (k *soonest) before(a, b spareDocument) bool {
	if k.fillClosed {
		return a.waited > b.waited
	}
	return a.d.nextCheck.Before(b.d.nextCheck)
}

// offer keeps d if it is among the limit due soonest so far.
func (k *soonest) offer(id string, d *document) {
	if k.limit == 0 {
		return
	}
	c := spareDocument{id: id, d: d}
	if k.fillClosed {
		c.waited = d.waited(k.now)
	}
	if len(k.kept) == k.limit && !k.before(c, k.kept[k.limit-1]) {
		return
	}
	i := len(k.kept)
	for i > 0 && k.before(c, k.kept[i-1]) {
		i--
	}
	k.kept = slices.Insert(k.kept, i, c)[:min(len(k.kept)+1, k.limit)]
}

// Marks is the mark count (see Due), for results that arrive otherwise than
// through a check Due chose.
func (s *Store) Marks() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.marks
}

// waited is how far through its interval d is at now (1: due).
func (d *document) waited(now time.Time) float64 {
	interval := d.nextCheck.Sub(d.lastCheck)
	if d.lastCheck.IsZero() || interval <= 0 {
		return math.Inf(1)
	}
	return float64(now.Sub(d.lastCheck)) / float64(interval)
}

// SetFillClosed says whether closed documents may fill a request's spare
// room as open ones do. While push is trusted the requests are the
// notifications', and their room carries the closed documents' daily checks
// too; otherwise closed documents wait for their terminal interval.
func (s *Store) SetFillClosed(on bool) {
	s.mu.Lock()
	s.fillClosed = on
	s.mu.Unlock()
}

// Reschedule brings every document's next check forward to what sched gives
// it from its last check: when the schedule shortens, no document waits out
// an interval it no longer has.
func (s *Store) Reschedule(sched Schedule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.docs {
		if d.lastCheck.IsZero() {
			continue
		}
		if next := d.lastCheck.Add(sched.Next(d.status, d.lastChange, d.lastCheck)); next.Before(d.nextCheck) {
			d.nextCheck = next
		}
	}
}

// MarkUrgent asks for an immediate check of id and remembers when it was
// asked. It reports false when id is not watched.
func (s *Store) MarkUrgent(id string, at time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.docs[strings.ToUpper(id)]
	if !ok {
		return false
	}
	d.urgent = true
	s.marks++
	d.marked = s.marks
	if d.notifiedAt.IsZero() {
		d.notifiedAt = at
	}
	return true
}

// Applied says what a result changed.
type Applied struct {
	// Watched: the document is in the watch list; nothing else is set
	// without it. An answer may carry documents the exporter does not
	// watch (an envelope's refused ones, whose id may be a secret).
	Watched  bool
	Notified time.Duration // since a pending notification asked (0 if none)
	// Announced: a notification asked for this check, or for one after it.
	Announced bool
	// Unmoved: a notification asked for this very check, and the answer
	// moved nothing (status, step, status date).
	Unmoved bool
	Changed bool // the status differs from the one known before
	First   bool // no status was known before
	From    assuresign.Status
	// Since is when the previous answer arrived (zero: none).
	Since   time.Time
	Dropped int // exceptions beyond MaxExceptionsPerResult, not counted
}

// Schedule says how long a document waits for its next check after one at
// now, from its status and when it last changed: what a restart keeps, so the
// schedule survives one. Package refresh has the exporter's.
type Schedule interface {
	Next(status assuresign.Status, lastChange, now time.Time) time.Duration
}

// Schedules calls f with every watched document's status and last change,
// for counting them by check interval.
func (s *Store) Schedules(f func(status assuresign.Status, lastChange time.Time)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, d := range s.docs {
		f(d.status, d.lastChange)
	}
}

// MaxExceptionsPerResult caps the exceptions one result adds to its
// document's counters: one answer must not inflate them without bound.
const MaxExceptionsPerResult = 16

// apply records a result that arrived at now, for a check chosen by due when
// the mark count was asked, and schedules the document's next check.
func (s *Store) Apply(r assuresign.Result, now time.Time, sched Schedule, asked uint64) (a Applied) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.docs[r.ID]
	if !ok {
		return a // left the watch list during the round, or never in it
	}
	a.Watched = true
	d.answered, d.checkOK = true, r.Err == nil && r.HasStatus()
	a.Announced, a.Since = !d.notifiedAt.IsZero(), d.lastCheck
	moved := false
	if r.Err != nil {
		d.failed(r.Err.Error(), asked)
		s.changed(d)
		return a
	}
	// A result without StatusType (a wrong AuthToken, say) says nothing of the status.
	if r.HasStatus() {
		if r.RawStatus != d.rawStatus {
			a.Changed, a.First, a.From = true, d.rawStatus == "", d.status
		}
		date := r.StatusDate
		if date.IsZero() {
			// AssureSign gave no date (its REST API never does): the status
			// dates from when the exporter first saw it, so that the Stuck
			// alert still counts the days at one step.
			date = d.statusDate
			if date.IsZero() || r.RawStatus != d.rawStatus || r.Step != d.step {
				date = now
			}
		}
		moved = r.Status != d.status || r.RawStatus != d.rawStatus || r.Step != d.step || !date.Equal(d.statusDate)
		reset := d.urgent && d.marked <= asked // a notification or a reload asked for this very check
		switch {
		case d.lastChange.IsZero():
			// The first answer: the exporter did not see the status change,
			// AssureSign says when it did.
			d.lastChange = now
			if !r.StatusDate.IsZero() && r.StatusDate.Before(now) {
				d.lastChange = r.StatusDate
			}
		case moved || reset:
			d.lastChange = now
		}
		d.status, d.rawStatus, d.statusDate, d.step = r.Status, r.RawStatus, date, r.Step
	}
	d.lastError = ""
	for i, ex := range r.Exceptions {
		if i == MaxExceptionsPerResult {
			a.Dropped = len(r.Exceptions) - i
			break
		}
		d.exceptions[slices.Index(severityIndex[:], ex.Severity)]++
		if ex.Severity != assuresign.SeverityWarning {
			d.lastError = ex.Severity.String() + ": " + assuresign.Truncate(ex.Message, 512)
		}
	}
	if !d.checkOK && d.lastError == "" {
		d.lastError = "the answer carried no status"
	}
	d.lastCheck = now
	d.nextCheck = now.Add(sched.Next(d.status, d.lastChange, now))
	s.changed(d)
	if d.marked > asked {
		// A notification came while this check was in flight: the answer may
		// predate the change it announces, so the document stays urgent and
		// its latency is measured when the next check answers.
		return a
	}
	d.urgent = false
	if !d.notifiedAt.IsZero() {
		a.Notified = now.Sub(d.notifiedAt)
		a.Unmoved = !moved && r.HasStatus()
		d.notifiedAt = time.Time{}
	}
	return a
}

// fail records a failed check of ids, chosen by due when the mark count was
// asked: their last known status stays.
func (s *Store) Fail(ids []string, err error, asked uint64) {
	msg := err.Error()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if d, ok := s.docs[id]; ok {
			d.failed(msg, asked)
		}
	}
}

// failed keeps the document's status and makes it due at the next regular
// round, not at once, so a failing upstream is not hammered. A notification
// that came while the check was in flight still gets a check of its own.
func (d *document) failed(msg string, asked uint64) {
	d.lastError = msg
	d.urgent = d.marked > asked
	d.nextCheck = time.Time{}
}

// DocumentView is what a person may see of a document: never a secret.
type DocumentView struct {
	ID         string
	Labels     map[string]string
	Status     string
	Step       int
	StatusDate time.Time
	LastCheck  time.Time
	LastError  string
	Problem    Problem // set by Overview only
}

// Snapshot returns up to limit documents (all when limit <= 0), sorted by id,
// and how many are watched.
func (s *Store) Snapshot(limit int) ([]DocumentView, int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := len(s.order)
	if limit <= 0 || limit > n {
		limit = n
	}
	out := make([]DocumentView, 0, limit)
	for _, id := range s.order[:limit] {
		out = append(out, s.docs[id].view(id, NoProblem))
	}
	return out, n
}
