// Package simulator is an in-process stand-in for AssureSign's DocumentNOW
// services: the CheckStatus and ListEnvelopeDocuments SOAP operations, the
// v3.7 REST API's authentication and envelope status, and DocumentTRAK
// notifications. It validates requests strictly, answers them as
// the public reference describes, and can misbehave on demand (faults, wire
// variations, latency) so clients can be tested against everything a real
// SOAP stack, proxy or network may produce. It also drives documents through
// their life cycle on a compressed clock for the exporter's demo mode.
//
// Where the reference is silent the simulator makes a choice and documents it;
// nothing here is confirmed vendor behaviour beyond what the reference says.
package simulator

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

// MaxRequestBody is the largest request body the simulator reads; a larger one
// is rejected with a SOAP Client fault.
const MaxRequestBody = 16 << 20

// DefaultOversize is the body size of FaultOversizeBody when Fault.Size is zero.
const DefaultOversize = 8 << 20

// NoPrefix as Options.Prefix makes the envelope use a default namespace
// (<Envelope xmlns="...">) instead of a prefix.
const NoPrefix = "-"

// Document is one document as the simulated AssureSign account holds it.
type Document struct {
	ID, AuthToken string
	Status        assuresign.Status
	// RawStatus, if non-empty, is sent verbatim as StatusType instead of Status
	// (an undocumented value, say). StatusDetails still follows Status.
	RawStatus  string
	StatusDate time.Time // omitted from the answer when zero
	// Step is sent as StatusDetails "Step N" while Status is
	// SigningStepInProgress and Step > 0. The life cycle keeps it during
	// SignerAuthenticationFailed: it is the step the document returns to.
	Step       int
	Exceptions []assuresign.Exception
	// Hold keeps the life cycle from changing the document, as the demo's
	// stuck and failing documents need.
	Hold bool
}

func (d Document) clone() Document {
	d.Exceptions = slices.Clone(d.Exceptions)
	return d
}

// Options are wire variations real SOAP stacks produce, to exercise a
// client's tolerance. The zero value is the plain, reference-shaped answer.
type Options struct {
	BOM          bool   // start every XML body with a UTF-8 byte-order mark
	Prefix       string // envelope prefix; "" means "s", NoPrefix means none
	LowerCaseIDs bool   // answer Ids in lower case (default: upper case)
	NoOffset     bool   // StatusDate without a UTC offset, as WCF may send
	NilResults   bool   // add an xsi:nil="true" DocumentStatusCheckResult
	// Chunked sends answers with Transfer-Encoding: chunked and no
	// Content-Length, as .NET stacks may.
	Chunked bool
}

// Stats counts what the simulator received.
type Stats struct {
	Requests            int   `json:"requests"`              // every HTTP request, faults included
	DocumentsPerRequest []int `json:"documents_per_request"` // of each well-formed CheckStatus request
	Documents           int   `json:"documents"`             // sum of DocumentsPerRequest
	// PerDocument counts, per document Id (upper case), how often a
	// well-formed request asked about it.
	PerDocument map[string]int `json:"per_document"`
	// Listings counts ListEnvelopeDocuments requests (also in Requests).
	Listings int `json:"listings"`
	// RESTAuthentications, RESTStatuses and RESTHistories count REST
	// authentication, envelope status and envelope history requests (also in
	// Requests).
	RESTAuthentications int `json:"rest_authentications"`
	RESTStatuses        int `json:"rest_statuses"`
	RESTHistories       int `json:"rest_histories"`
	// Notifications counts DocumentTRAK notifications sent (see SetNotifier),
	// NotificationsDropped the changes SetNotifications kept unannounced,
	// NotificationRetries the deliveries tried again after a failure.
	Notifications        int `json:"notifications"`
	NotificationsDropped int `json:"notifications_dropped"`
	NotificationRetries  int `json:"notification_retries"`
}

// Simulator is an http.Handler serving CheckStatus (at CheckStatusPath),
// ListEnvelopeDocuments and the REST API for one account. It is safe for concurrent use.
type Simulator struct {
	contextID string

	mu        sync.Mutex
	docs      map[string]*Document // key: upper-case ID
	envelopes map[string]Envelope  // key: upper-case ID
	plans     map[string]*plan     // life-cycle state, key: upper-case ID
	opts      Options
	latency   time.Duration
	fault     Fault
	faultLeft int // requests the fault still affects; 0 = until cleared
	stats     Stats
	rest      restState
	notify    *notifier // nil: no DocumentTRAK
	// deliveries are the notifications under way.
	deliveries sync.WaitGroup
}

// New returns a simulator for the account whose ContextIdentifier is
// contextIdentifier (compared case-insensitively), holding no documents.
func New(contextIdentifier string) *Simulator {
	return &Simulator{
		contextID: contextIdentifier,
		docs:      map[string]*Document{},
		envelopes: map[string]Envelope{},
		plans:     map[string]*plan{},
	}
}

// ContextIdentifier returns the account's ContextIdentifier.
func (s *Simulator) ContextIdentifier() string { return s.contextID }

func key(id string) string { return strings.ToUpper(id) }

// SetOptions sets the wire variations used from the next answer on.
func (s *Simulator) SetOptions(o Options) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts = o
}

// Put adds a document or replaces the one with the same ID (compared
// case-insensitively). A replaced document's life-cycle plan starts afresh.
func (s *Simulator) Put(d Document) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d = d.clone()
	if cur, ok := s.docs[key(d.ID)]; ok {
		s.changed(*cur, d)
	}
	s.docs[key(d.ID)] = &d
	delete(s.plans, key(d.ID))
}

// Update applies f to the document with this ID and reports whether it
// exists. f runs under the simulator's lock: it must not call the simulator.
// If f changes the ID the document moves to the new ID.
func (s *Simulator) Update(id string, f func(*Document)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(id)
	cur, ok := s.docs[k]
	if !ok {
		return false
	}
	d := cur.clone()
	f(&d)
	d = d.clone()
	if nk := key(d.ID); nk != k {
		delete(s.docs, k)
		if p, ok := s.plans[k]; ok {
			delete(s.plans, k)
			s.plans[nk] = p
		}
		k = nk
	}
	s.changed(*cur, d)
	s.docs[k] = &d
	return true
}

// Get returns a copy of the document with this ID (case-insensitive).
func (s *Simulator) Get(id string) (Document, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.docs[key(id)]
	if !ok {
		return Document{}, false
	}
	return d.clone(), true
}

// Documents returns a copy of every document, sorted by (upper-case) ID.
func (s *Simulator) Documents() []Document {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Document, 0, len(s.docs))
	for _, k := range s.sortedKeys() {
		out = append(out, s.docs[k].clone())
	}
	return out
}

func (s *Simulator) sortedKeys() []string {
	keys := make([]string, 0, len(s.docs))
	for k := range s.docs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// SetLatency makes the simulator wait d before every answer (faults
// included). The wait ends early, with no answer, if the request's context
// ends.
func (s *Simulator) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Stats returns a copy of the counters.
func (s *Simulator) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.DocumentsPerRequest = slices.Clone(st.DocumentsPerRequest)
	st.PerDocument = maps.Clone(st.PerDocument)
	return st
}

// ResetStats zeroes the counters.
func (s *Simulator) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{}
}
