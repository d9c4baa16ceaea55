package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/internal/fanout"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// EnvelopeLimits bound what envelopes' listings add to the watched set. The
// exporter and --check apply them through Expansion, the one rule.
type EnvelopeLimits struct {
	// MaxDocuments bounds the direct documents plus the envelope-document
	// pairs, each of which is a series of its own (0: no bound).
	MaxDocuments int
	// MaxEnvelopeDocuments bounds one envelope's listed documents (0: no bound).
	MaxEnvelopeDocuments int
	// Secrets, when set, are the secrets no listed document's id may be.
	Secrets *assuresign.Secrets
}

// Expansion takes envelopes' listings in watch-list order and gives the
// documents to watch: the watch list's own, then each envelope's. The first
// envelope in watch-list order keeps a document listed by two; no envelope
// keeps a document whose id is an envelope's (a notification naming it would
// check the document, not list the envelope).
type Expansion struct {
	limits    EnvelopeLimits
	envelopes map[string]bool   // the watched envelopes' ids
	direct    map[string]bool   // the watch list's own documents
	owner     map[string]string // listed document: the envelope that keeps it
	pairs     int               // envelope-document pairs taken
	Documents []watchlist.Entry
}

// NewExpansion starts an expansion of wl's envelopes.
func NewExpansion(wl *watchlist.List, limits EnvelopeLimits) *Expansion {
	x := &Expansion{limits: limits, envelopes: make(map[string]bool, len(wl.Envelopes)), direct: make(map[string]bool, len(wl.Documents)),
		owner: map[string]string{}, Documents: slices.Clone(wl.Documents)}
	for _, e := range wl.Envelopes {
		x.envelopes[e.ID] = true
	}
	for _, d := range wl.Documents {
		x.direct[d.ID] = true
	}
	return x
}

// Full reports whether no listed document fits any more.
func (x *Expansion) Full() bool {
	return x.limits.MaxDocuments > 0 && len(x.direct)+x.pairs >= x.limits.MaxDocuments
}

// RefusedDocument is a listed document its envelope may not keep.
type RefusedDocument struct {
	ID     string
	Reason string // secret-free
}

// Add takes envelope env's listing and returns the documents env keeps, and
// those it may not (another envelope keeps them, or the id is an envelope's
// or a known secret, whose ID is then "<secret>").
// A listing over a limit is refused whole (errTooManyDocuments): nothing of it
// is taken. A document also listed directly is kept (it is exported as the
// envelope's) but watched with its direct entry.
func (x *Expansion) Add(env watchlist.Entry, listed []assuresign.EnvelopeDocument) (kept []assuresign.EnvelopeDocument, refused []RefusedDocument, err error) {
	if l := x.limits.MaxEnvelopeDocuments; l > 0 && len(listed) > l {
		return nil, nil, errTooManyDocuments{fmt.Sprintf("the envelope lists %d documents", len(listed)), "--watch.max-envelope-documents", l}
	}
	for _, d := range listed {
		switch owner, owned := x.owner[d.ID]; {
		case x.limits.Secrets.Holds(d.ID):
			refused = append(refused, RefusedDocument{"<secret>", "its id is a secret the exporter knows"})
		case x.envelopes[d.ID]:
			refused = append(refused, RefusedDocument{d.ID, "its id is a watched envelope's"})
		case owned && owner == env.ID:
			refused = append(refused, RefusedDocument{d.ID, "listed twice"})
		case owned:
			refused = append(refused, RefusedDocument{d.ID, "envelope " + owner + " has it"})
		default:
			kept = append(kept, d)
		}
	}
	if l := x.limits.MaxDocuments; l > 0 && len(x.direct)+x.pairs+len(kept) > l {
		return nil, nil, errTooManyDocuments{fmt.Sprintf("the listing would make %d watched documents and envelope documents", len(x.direct)+x.pairs+len(kept)), "--watch.max-documents", l}
	}
	x.pairs += len(kept)
	for _, d := range kept {
		x.owner[d.ID] = env.ID
		if !x.direct[d.ID] {
			x.Documents = append(x.Documents, watchlist.Entry{ID: d.ID, AuthToken: d.AuthToken, ContextIdentifier: env.ContextIdentifier, Labels: env.Labels, Envelope: env.ID})
		}
	}
	return kept, refused, nil
}

// envelope is a watched envelope and what its last good listing said.
type envelope struct {
	watched   watchlist.Entry               // the envelopes: entry; holds secrets
	listed    []assuresign.EnvelopeDocument // the last good listing; AuthTokens are secrets
	documents []assuresign.EnvelopeDocument // those of listed it keeps (see Expansion)
	tried     bool                          // a listing was attempted
	listOK    bool                          // the last listing succeeded
	lastList  time.Time                     // when a listing last succeeded
	lastError string                        // secret-free
	urgent    bool                          // new, credentials changed, or named by a notification
	// overLimit: the last listing was refused by a limit. Listing it again
	// soon would bring the same, so it waits as a good listing does.
	overLimit bool
	// apiStatus is the envelope's own status as the last good listing said
	// it (REST; StatusUnknown under SOAP): see EnvelopeView.Status.
	apiStatus assuresign.Status
}

// envelopes are the watched envelopes and the watch list they came with. The
// watched set of documents is the list's own plus every envelope's kept ones.
type envelopes struct {
	mu       sync.Mutex
	direct   *watchlist.List
	byID     map[string]*envelope
	order    []string // in watch-list order
	limits   EnvelopeLimits
	expanded []watchlist.Entry
	warned   map[string]bool // warnings already logged: each is logged once while it holds
}

// set takes wl's envelopes: known ones keep their listing; new ones, and ones
// whose credentials changed, are listed at once. It reports how many are.
func (e *envelopes) set(wl *watchlist.List, logger *slog.Logger, dropped func(item string, n int)) (toList int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.direct = wl
	next := make(map[string]*envelope, len(wl.Envelopes))
	e.order = e.order[:0]
	for _, w := range wl.Envelopes {
		env, ok := e.byID[w.ID]
		switch {
		case !ok:
			env = &envelope{urgent: true}
		case !env.watched.SameCredentials(w):
			env.urgent = true
		}
		if env.urgent {
			toList++
		}
		env.watched = w
		next[w.ID] = env
		e.order = append(e.order, w.ID)
	}
	for id := range e.byID {
		if next[id] == nil && e.limits.Secrets != nil {
			// Its listed tokens stay redacted only while it is watched: the
			// set must not grow with every envelope ever watched.
			e.limits.Secrets.Set(assuresign.ListedTokensSource(id), nil)
		}
	}
	e.byID = next
	e.expand(nil, logger, dropped)
	return toList
}

// expand applies the rule to every envelope in watch-list order, fresh
// listings (by envelope id) in place of the last good ones, and returns the
// fresh listings it refused. An envelope whose fresh listing is refused keeps
// its last good one if that still fits, else no document. It logs each
// warning once while it holds. Call with mu held.
func (e *envelopes) expand(fresh map[string][]assuresign.EnvelopeDocument, logger *slog.Logger, dropped func(item string, n int)) (refusedListings map[string]error) {
	if e.direct == nil {
		return nil
	}
	x := NewExpansion(e.direct, e.limits)
	warned := map[string]bool{}
	warn := func(key, msg string, args ...any) {
		warned[key] = true
		if !e.warned[key] {
			logger.Warn(msg, args...)
		}
	}
	for _, id := range e.order {
		env := e.byID[id]
		listed, isFresh := fresh[id]
		if !isFresh {
			listed = env.listed
		}
		kept, refused, err := x.Add(env.watched, listed)
		if err != nil && isFresh {
			if refusedListings == nil {
				refusedListings = map[string]error{}
			}
			refusedListings[id] = err
			listed = env.listed
			kept, refused, err = x.Add(env.watched, listed)
		}
		if err != nil {
			warn("limit "+id, "an envelope's last known documents no longer fit the limits; none of them are watched", "envelope_id", id, "err", err)
		}
		env.listed, env.documents = listed, kept
		if len(refused) > 0 {
			// One line per envelope, again only when its refusals change.
			key := fmt.Sprintf("refused %s %d %s", id, len(refused), refused[0].ID)
			if !e.warned[key] && dropped != nil {
				dropped("envelope_document", len(refused))
			}
			warn(key, "listed documents refused for their envelope: another envelope has them, or the id is an envelope's or a secret",
				"envelope_id", id, "refused", len(refused), "first_document_id", refused[0].ID, "first_reason", refused[0].Reason)
		}
		for _, d := range kept {
			if x.direct[d.ID] {
				warn("direct "+d.ID, "document is watched both directly and through an envelope; it is checked once, with the direct entry's labels and AuthToken",
					"document_id", d.ID, "envelope_id", id)
			}
		}
	}
	e.warned, e.expanded = warned, x.Documents
	return refusedListings
}

// watched returns the documents to watch: the watch list's own, then each
// envelope's kept documents with the envelope's labels and context.
func (e *envelopes) watched() *watchlist.List {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.direct == nil {
		return &watchlist.List{}
	}
	return &watchlist.List{Documents: e.expanded, Envelopes: e.direct.Envelopes, LabelNames: e.direct.LabelNames}
}

// listing is one envelope to list, or listed.
type listing struct {
	id      string
	watched watchlist.Entry // the entry it was listed for
	req     assuresign.EnvelopeRequest
	got     *assuresign.EnvelopeListing
	err     error
}

// due returns the envelopes to list at now: urgent ones and, unless
// urgentOnly, those whose last listing failed or that have no closed document
// and were last listed maxInterval ago or more. closed reports whether a
// listed document is closed.
func (e *envelopes) due(now time.Time, urgentOnly bool, maxInterval time.Duration, contextIdentifier string, closed func(ids []string) bool) []listing {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []listing
	for _, id := range e.order {
		env := e.byID[id]
		periodic := !urgentOnly && ((!env.listOK && !env.overLimit) || (!now.Before(env.lastList.Add(maxInterval)) && !closed(env.ids())))
		if !env.urgent && !periodic {
			continue
		}
		out = append(out, listing{id: id, watched: env.watched, req: assuresign.EnvelopeRequest{ID: id, AuthToken: env.watched.AuthToken, ContextIdentifier: env.watched.ContextIdentifierOr(contextIdentifier)}})
	}
	return out
}

// markUrgent asks for envelope id to be listed now and returns its known
// documents, reporting false when it is not watched.
func (e *envelopes) markUrgent(id string) ([]string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	env, ok := e.byID[strings.ToUpper(strings.TrimSpace(id))]
	if !ok {
		return nil, false
	}
	env.urgent = true
	return env.ids(), true
}

// ids returns the ids of env's listed documents.
func (env *envelope) ids() []string {
	ids := make([]string, len(env.documents))
	for i, d := range env.documents {
		ids[i] = d.ID
	}
	return ids
}

// any reports whether any envelope is watched.
func (e *envelopes) any() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.order) > 0
}

// allListed reports whether every envelope's last listing succeeded.
func (e *envelopes) allListed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, env := range e.byID {
		if !env.listOK {
			return false
		}
	}
	return true
}

// record applies a round's listings and the rule to every envelope; it
// reports whether the documents to watch changed. A failed or refused
// listing keeps the envelope's last known documents; a refused one gets its
// err set.
func (e *envelopes) record(due []listing, now time.Time, logger *slog.Logger, dropped func(item string, n int)) (changed bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fresh := map[string][]assuresign.EnvelopeDocument{}
	for _, l := range due {
		env, ok := e.byID[l.id]
		if !ok || !env.watched.SameCredentials(l.watched) {
			continue // left the watch list, or changed, while being listed
		}
		env.tried, env.urgent = true, false
		if l.err != nil {
			env.listOK, env.lastError, env.overLimit = false, l.err.Error(), false
			continue
		}
		env.listOK, env.lastError, env.lastList, env.apiStatus = true, "", now, l.got.Status
		fresh[l.id] = l.got.Documents
	}
	before := make(map[string][]assuresign.EnvelopeDocument, len(e.byID))
	for id, env := range e.byID {
		before[id] = env.documents
	}
	refused := e.expand(fresh, logger, dropped)
	for i, l := range due {
		if _, ok := fresh[l.id]; !ok {
			continue
		}
		env, err := e.byID[l.id], refused[l.id]
		if err == nil {
			env.overLimit = false
			continue
		}
		due[i].err = err
		if !env.overLimit {
			logger.Warn("envelope listing refused, over a limit: the envelope keeps its last known documents and is listed again after --refresh.max-interval",
				"envelope_id", l.id, "err", err)
		}
		env.listOK, env.lastError, env.overLimit = false, err.Error(), true
	}
	for id, env := range e.byID {
		if !slices.Equal(before[id], env.documents) {
			changed = true
		}
	}
	return changed
}

// listedEnvelopes is what a round's listings brought: whether the documents to watch
// changed, and the documents' statuses that came with the listings (REST),
// asked when the store's mark count was asked.
type listedEnvelopes struct {
	changed bool
	// upstreamErr is the first failure that was not one envelope's own
	// (not a 404, nor a limit): AssureSign down, or the credentials refused.
	upstreamErr error
	results     []assuresign.Result
	asked       uint64
	at          time.Time
}

// recordListed records the statuses that came with a round's listings, once
// their documents are watched.
func (r *Refresher) recordListed(ctx context.Context, l listedEnvelopes) {
	var o batchOutcome
	for _, res := range l.results {
		r.record(ctx, res, l.at, l.asked, &o)
	}
	r.store.Publish()
}

// listEnvelopes lists the envelopes due (at most Concurrency at once) and
// reports whether the documents to watch changed, with the statuses the
// listings brought. Failures are counted, logged once for the round, and
// pinned on their envelope only.
func (r *Refresher) listEnvelopes(ctx context.Context, due []listing, asked uint64) listedEnvelopes {
	fanout.Each(ctx, len(due), r.cfg.Concurrency, func(ctx context.Context, i int) {
		ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		defer cancel()
		due[i].got, due[i].err = r.api.ListEnvelopeDocuments(ctx, due[i].req)
	})
	if ctx.Err() != nil {
		return listedEnvelopes{} // shutting down: an interrupted listing says nothing of the envelope
	}
	out := listedEnvelopes{asked: asked, at: r.now()}
	out.changed = r.env.record(due, out.at, r.logger, r.metrics.DroppedItems)
	failed := 0
	var first listing
	for _, l := range due {
		result := "ok"
		var tm errTooManyDocuments
		switch {
		case errors.As(l.err, &tm):
			result = "too_many_documents" // logged by record, once
		case l.err != nil:
			result = assuresign.Outcome(l.err)
			if failed++; failed == 1 {
				first = l
			}
			if out.upstreamErr == nil && !envelopesOwn(l.err) {
				out.upstreamErr = l.err
			}
		}
		var e *assuresign.Error
		if errors.As(l.err, &e) && e.RetryAfter > 0 {
			r.holdUntil(r.now().Add(e.RetryAfter)) // AssureSign asked every request to wait
		}
		r.metrics.envelopeListings.WithLabelValues(result).Inc()
		if l.err == nil && l.got != nil {
			out.results = append(out.results, l.got.Results...)
		}
	}
	if failed > 0 {
		r.logger.Warn("envelope listings failed; those envelopes keep their last known documents", "failed", failed,
			"envelopes", len(due), "first_envelope_id", first.id, "first_err", first.err)
	} else {
		r.logger.Debug("envelopes listed", "envelopes", len(due))
	}
	return out
}

// envelopesOwn reports whether a listing's failure is its envelope's own
// (unknown to AssureSign, or without documents), not AssureSign's.
func envelopesOwn(err error) bool {
	var e *assuresign.Error
	return errors.As(err, &e) && (e.Kind == assuresign.KindNoDocuments || e.Kind == assuresign.KindHTTPStatus && e.StatusCode == 404)
}

// errTooManyDocuments refuses a listing over a limit.
type errTooManyDocuments struct {
	what, flag string
	limit      int
}

func (e errTooManyDocuments) Error() string {
	return fmt.Sprintf("%s, more than %s=%d", e.what, e.flag, e.limit)
}

// EnvelopeListingResults are the values of assuresign_envelope_listings_total's result label.
var EnvelopeListingResults = append(slices.Clone(assuresign.Outcomes), "no_documents", "too_many_documents")

// EnvelopeView is what a person may see of an envelope: never a secret.
type EnvelopeView struct {
	ID     string
	Labels map[string]string
	// Status is derived from its documents (see EnvelopeStatus), which
	// wins over the API's own (REST): the same rule as under SOAP, so alerts
	// mean the same. The API's is taken only while the derived is Unknown
	// (no document answered yet).
	Status    assuresign.Status
	Documents []EnvelopeDocumentView
	Tried     bool // a listing was attempted
	ListOK    bool // the last listing succeeded
	LastList  time.Time
	LastError string
}

// EnvelopeDocumentView is one listed document of an envelope.
type EnvelopeDocumentView struct {
	ID, Name, OrderID string
	Status            assuresign.Status
}

// EnvelopeStatus derives an envelope's status from its documents': any
// Declined is Declined, else any Cancelled is Cancelled, else any Expired is
// Expired, else all Completed is Completed; otherwise it is the least
// advanced status of the documents not Completed, in the order Unknown (not
// yet answered), Created, SigningStepInProgress, SignerAuthenticationFailed,
// Staled. An envelope without documents is Unknown.
func EnvelopeStatus(docs []assuresign.Status) assuresign.Status {
	if len(docs) == 0 {
		return assuresign.StatusUnknown
	}
	for _, s := range []assuresign.Status{assuresign.StatusDeclined, assuresign.StatusCancelled, assuresign.StatusExpired} {
		if slices.Contains(docs, s) {
			return s
		}
	}
	least := assuresign.StatusCompleted
	for _, s := range docs {
		if advancement[s] < advancement[least] {
			least = s
		}
	}
	return least
}

var advancement = map[assuresign.Status]int{
	assuresign.StatusUnknown: 0, assuresign.StatusCreated: 1, assuresign.StatusSigningStepInProgress: 2,
	assuresign.StatusSignerAuthenticationFailed: 3, assuresign.StatusStaled: 4, assuresign.StatusCompleted: 5,
}

// views returns every envelope as people may see it, with its documents'
// statuses from the store.
func (e *envelopes) views(statuses func(ids []string) []assuresign.Status) []EnvelopeView {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]EnvelopeView, 0, len(e.order))
	for _, id := range e.order {
		env := e.byID[id]
		ids := env.ids()
		st := statuses(ids)
		status := EnvelopeStatus(st)
		if status == assuresign.StatusUnknown {
			status = env.apiStatus
		}
		v := EnvelopeView{
			ID: id, Labels: env.watched.Labels, Status: status, Tried: env.tried, ListOK: env.listOK,
			LastList: env.lastList, LastError: env.lastError, Documents: make([]EnvelopeDocumentView, len(ids)),
		}
		for i, d := range env.documents {
			v.Documents[i] = EnvelopeDocumentView{ID: d.ID, Name: d.Name, OrderID: d.OrderID, Status: st[i]}
		}
		out = append(out, v)
	}
	return out
}

// Envelopes returns the watched envelopes as of the last round or reload,
// sorted by id.
func (r *Refresher) Envelopes() []EnvelopeView {
	if v := r.envelopeViews.Load(); v != nil {
		return *v
	}
	return nil
}

// publishEnvelopes updates what Envelopes returns, and its generation only
// when it changed: every round publishes, and a new generation costs the next
// scrape an encoding of every envelope's families.
func (r *Refresher) publishEnvelopes() {
	v := r.env.views(r.store.Statuses)
	sort.Slice(v, func(i, j int) bool { return v[i].ID < v[j].ID })
	if old := r.envelopeViews.Load(); old != nil && reflect.DeepEqual(*old, v) {
		return
	}
	r.envelopeViews.Store(&v)
	r.envelopesGen.Add(1)
}

// EnvelopesGeneration changes whenever what Envelopes returns does, so that
// a scrape encodes the envelopes' families again only then.
func (r *Refresher) EnvelopesGeneration() uint64 { return r.envelopesGen.Load() }

// applyWatched gives the store the documents to watch now and reports how
// many it checks at once. A reload and a round's listings may both call it:
// one at a time, so the list applied last is the one built last.
func (r *Refresher) applyWatched() int {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	return r.store.SetWatchList(r.env.watched())
}

// The envelopes' families, written by envelopeCollector. The info family's
// descriptor depends on each envelope's label names, so it is built per scrape.
const envelopeInfoName = "assuresign_envelope_info"

var (
	envelopeDescs = struct{ documents, documentInfo, status, listSuccess *prometheus.Desc }{
		documents: prometheus.NewDesc("assuresign_envelope_documents",
			"Documents the envelope's last good ListEnvelopeDocuments answer listed.", []string{"envelope_id"}, nil),
		documentInfo: prometheus.NewDesc("assuresign_envelope_document_info",
			"A document of a watched envelope, with its place in the envelope (order_id; empty when AssureSign gave none).",
			[]string{"envelope_id", "document_id", "order_id"}, nil),
		status: prometheus.NewDesc("assuresign_envelope_status",
			"Envelope status as a state set derived from its documents: any Declined, else any Cancelled, else any Expired, else all Completed, else the least advanced open status; the REST API's own envelope status while none of its documents has one.",
			[]string{"envelope_id", "status"}, nil),
		listSuccess: prometheus.NewDesc("assuresign_envelope_list_success",
			"1 when the envelope's last ListEnvelopeDocuments call succeeded, 0 when it failed (its last known documents stay watched).",
			[]string{"envelope_id"}, nil),
	}
)

const envelopeInfoHelp = "Watched envelope with the labels given in the watch file."

// envelopeCollector exposes the envelopes as the refresher last published
// them. It is unchecked: each envelope's info carries its own watch labels.
type envelopeCollector func() []EnvelopeView

// NewEnvelopeCollector exposes views (Refresher.Envelopes) as the
// assuresign_envelope_* families.
func NewEnvelopeCollector(views func() []EnvelopeView) prometheus.Collector {
	return envelopeCollector(views)
}

func (c envelopeCollector) Describe(chan<- *prometheus.Desc) {}

func (c envelopeCollector) Collect(ch chan<- prometheus.Metric) {
	infoDescs := map[string]*prometheus.Desc{}
	for _, v := range c() {
		names := slices.Sorted(maps.Keys(v.Labels))
		key := strings.Join(names, ",")
		desc, ok := infoDescs[key]
		if !ok {
			desc = prometheus.NewDesc(envelopeInfoName, envelopeInfoHelp, append([]string{"envelope_id"}, names...), nil)
			infoDescs[key] = desc
		}
		values := []string{v.ID}
		for _, n := range names {
			values = append(values, v.Labels[n])
		}
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, 1, values...)
		ch <- prometheus.MustNewConstMetric(envelopeDescs.documents, prometheus.GaugeValue, float64(len(v.Documents)), v.ID)
		for _, d := range v.Documents {
			ch <- prometheus.MustNewConstMetric(envelopeDescs.documentInfo, prometheus.GaugeValue, 1, v.ID, d.ID, d.OrderID)
		}
		for _, s := range assuresign.Statuses {
			val := 0.0
			if s == v.Status {
				val = 1
			}
			ch <- prometheus.MustNewConstMetric(envelopeDescs.status, prometheus.GaugeValue, val, v.ID, s.String())
		}
		if v.Tried {
			ok := 0.0
			if v.ListOK {
				ok = 1
			}
			ch <- prometheus.MustNewConstMetric(envelopeDescs.listSuccess, prometheus.GaugeValue, ok, v.ID)
		}
	}
}
