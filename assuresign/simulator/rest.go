package simulator

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/rest"
)

// Where the simulator serves the REST API (DocumentNOW v3.7): the paths of
// rest.DefaultBaseURL and rest.DefaultAuthURL, both on the simulator's host.
const (
	RESTBasePath = "/api/documentnow/v3.7"
	RESTAuthPath = "/api/v3.7/authentication/apiUser"
)

// maxSessionMinutes bounds a token's asked-for lifetime (a day); the reference
// gives no bound, this is the simulator's choice.
const maxSessionMinutes = 1440

// APIUser is the REST API user the simulator accepts. Key is a secret.
type APIUser struct {
	Username, Key, ContextUsername string
}

// RESTOptions vary the REST answers.
type RESTOptions struct {
	// TopLevelToken puts token and expires at the top of the authentication
	// answer instead of under "result" (the reference leaves it open).
	TopLevelToken bool
}

// restState is the REST API's share of the simulator, guarded by its mu.
type restState struct {
	user   APIUser
	opts   RESTOptions
	tokens map[string]time.Time // issued token: its expiry
	refuse int                  // envelope requests still to answer 401
	now    func() time.Time
}

// SetAPIUser sets the REST API user that authentication accepts; until it is
// set every authentication is refused.
func (s *Simulator) SetAPIUser(u APIUser) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rest.user = u
}

// SetRESTOptions sets the REST answers' variations.
func (s *Simulator) SetRESTOptions(o RESTOptions) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rest.opts = o
}

// ExpireTokens makes every token issued so far expire now, as a server
// restart or early expiry would.
func (s *Simulator) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.rest.tokens)
}

// RefuseNext answers the next n envelope requests (status or history) 401
// whatever their token (0 ends it), as a refused or revoked API user would be.
func (s *Simulator) RefuseNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rest.refuse = max(n, 0)
}

// serveREST answers a request under the REST paths and reports whether the
// path was one of them.
func (s *Simulator) serveREST(w http.ResponseWriter, r *http.Request) bool {
	// Paths match case-insensitively, as IIS matches them.
	const envelopes = RESTBasePath + "/envelopes/"
	p := r.URL.Path
	if strings.EqualFold(p, RESTAuthPath) {
		s.serveAuthenticate(w, r)
		return true
	}
	for _, call := range []string{"/status", "/history"} {
		if len(p) > len(envelopes)+len(call) && strings.EqualFold(p[:len(envelopes)], envelopes) &&
			strings.EqualFold(p[len(p)-len(call):], call) {
			s.serveEnvelope(w, r, p[len(envelopes):len(p)-len(call)], call == "/history")
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v) // maps and strings only: cannot fail
	writePlain(w, status, "application/json; charset=utf-8", string(b))
}

// restError is the simulator's error answer; the reference documents none.
func restError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

func (s *Simulator) serveAuthenticate(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.Requests++
	s.stats.RESTAuthentications++
	user, opts, now := s.rest.user, s.rest.opts, s.restNow()
	s.mu.Unlock()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		restError(w, http.StatusMethodNotAllowed, "Authentication takes POST.")
		return
	}
	var req struct {
		Request *struct {
			APIUsername            string `json:"apiUsername"`
			Key                    string `json:"key"`
			ContextUsername        string `json:"contextUsername"`
			SessionLengthInMinutes int    `json:"sessionLengthInMinutes"`
		} `json:"request"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil || req.Request == nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		restError(w, http.StatusBadRequest, `The request is not a JSON {"request": {...}} authentication request.`)
		return
	}
	q := req.Request
	minutes := q.SessionLengthInMinutes
	if minutes == 0 {
		minutes = rest.SessionMinutes
	}
	if minutes < 1 || minutes > maxSessionMinutes {
		restError(w, http.StatusBadRequest, "sessionLengthInMinutes is out of range.")
		return
	}
	if user.Key == "" || q.Key != user.Key || !strings.EqualFold(q.APIUsername, user.Username) ||
		!strings.EqualFold(q.ContextUsername, user.ContextUsername) {
		restError(w, http.StatusUnauthorized, "The API user's credentials are not valid.")
		return
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	tok := hex.EncodeToString(raw)
	expires := now.Add(time.Duration(minutes) * time.Minute).UTC()
	s.mu.Lock()
	if s.rest.tokens == nil {
		s.rest.tokens = map[string]time.Time{}
	}
	s.rest.tokens[tok] = expires
	s.mu.Unlock()
	answer := map[string]string{"token": tok, "expires": expires.Format(time.RFC3339)}
	if opts.TopLevelToken {
		writeJSON(w, http.StatusOK, answer)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"result": answer})
}

func (s *Simulator) restNow() time.Time {
	if s.rest.now != nil {
		return s.rest.now()
	}
	return time.Now()
}

// serveEnvelope answers GET /envelopes/{id}/status, or /history, from the
// envelopes and documents the SOAP side serves, in the live enum spelling.
// Injected faults (SetFault) apply as to CheckStatus, after the token is
// checked; an envelope with Fault set answers 500.
func (s *Simulator) serveEnvelope(w http.ResponseWriter, r *http.Request, id string, history bool) {
	s.mu.Lock()
	s.stats.Requests++
	if history {
		s.stats.RESTHistories++
	} else {
		s.stats.RESTStatuses++
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "bearer ")
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		tok = t
	}
	exp, known := s.rest.tokens[tok]
	authorized := known && s.restNow().Before(exp) && s.rest.refuse == 0
	if s.rest.refuse > 0 {
		s.rest.refuse--
	}
	wantContext := s.rest.user.ContextUsername + ":" + s.contextID
	var fault Fault
	if authorized {
		fault = s.takeFault()
	}
	o, latency := s.opts, s.latency
	e, docs, found := s.envelopeLocked(id)
	s.mu.Unlock()

	switch uc := r.Header.Values("X-AS-UserContext"); {
	case r.Method != http.MethodGet:
		w.Header().Set("Allow", http.MethodGet)
		restError(w, http.StatusMethodNotAllowed, "Envelope status takes GET.")
		return
	case !authorized:
		restError(w, http.StatusUnauthorized, "Authorization has been denied for this request.")
		return
	case len(uc) > 0 && !strings.EqualFold(strings.TrimSpace(uc[0]), wantContext):
		restError(w, http.StatusForbidden, "The user context is not valid for this API user.")
		return
	}
	if !sleep(r, latency) {
		return
	}
	var a answer
	switch {
	case !found || !assuresign.IsGUID(id):
		a = jsonAnswer(http.StatusNotFound, map[string]string{"message": "The envelope was not found."})
	case e.Fault:
		a = jsonAnswer(http.StatusInternalServerError, map[string]string{"message": msgInternalError})
	case history:
		a = jsonAnswer(http.StatusOK, envelopeHistoryAnswer(e.ID, docs))
	default:
		a = jsonAnswer(http.StatusOK, envelopeStatusAnswer(e.ID, docs))
	}
	switch fault.Kind {
	case FaultNone:
		writeAnswer(w, o, a)
	case FaultMalformedXML: // the JSON counterpart: an answer cut short
		writeAnswer(w, o, answer{status: http.StatusOK, contentType: a.contentType, body: a.body[:len(a.body)/2]})
	default:
		serveFault(w, r, o, fault, a)
	}
}

func jsonAnswer(status int, v any) answer {
	b, _ := json.Marshal(v)
	return answer{status: status, contentType: "application/json; charset=utf-8", body: b}
}

type restDocument struct {
	DocumentID string            `json:"documentID"`
	Name       string            `json:"name"`
	Status     map[string]string `json:"status"`
}

// envelopeStatusAnswer is the reference's (verified live) answer shape.
func envelopeStatusAnswer(envelopeID string, docs []Document) map[string]any {
	list := make([]restDocument, len(docs))
	for i, d := range docs {
		st := d.RawStatus
		if st == "" {
			st = rest.LiveSpelling(rest.Name(d.Status))
		}
		list[i] = restDocument{DocumentID: strings.ToLower(d.ID), Name: DocumentName(i + 1),
			Status: map[string]string{"statusType": st, "statusDetails": statusDetails(d)}}
	}
	return map[string]any{"result": map[string]any{
		"envelopeID":   strings.ToLower(envelopeID),
		"status":       rest.LiveSpelling(envelopeStatus(docs)),
		"documentList": list,
	}}
}

type restEvent struct {
	ID      int    `json:"id"`
	Date    string `json:"date"`
	Details string `json:"details"`
}

// envelopeHistoryAnswer is the reference's (verified live) history shape, no
// "result" wrapper: an event per document at its StatusDate, in the
// envelope's list and its document's. The date's format is not confirmed;
// the simulator writes ISO 8601 with an offset, as WCF and ASP.NET do.
func envelopeHistoryAnswer(envelopeID string, docs []Document) map[string]any {
	var events []restEvent
	list := make([]map[string][]restEvent, len(docs))
	for i, d := range docs {
		list[i] = map[string][]restEvent{"history": {}}
		if d.StatusDate.IsZero() {
			continue
		}
		ev := restEvent{ID: len(events) + 1, Date: d.StatusDate.Format("2006-01-02T15:04:05.0000000Z07:00"),
			Details: DocumentName(i+1) + ": " + rest.Name(d.Status)}
		events = append(events, ev)
		list[i]["history"] = []restEvent{ev}
	}
	return map[string]any{"envelopeID": strings.ToLower(envelopeID), "envelopeHistoryEvents": events, "documentList": list}
}

// envelopeStatus sums up the documents' statuses; the vendor's rule is not
// known, this is the simulator's: a closing event of any document closes the
// envelope, all completed completes it, all created (or none) is CREATED,
// anything else IN_PROGRESS.
func envelopeStatus(docs []Document) string {
	count := map[assuresign.Status]int{}
	for _, d := range docs {
		count[d.Status]++
	}
	for _, closing := range []assuresign.Status{assuresign.StatusDeclined, assuresign.StatusCancelled, assuresign.StatusExpired, assuresign.StatusStaled} {
		if count[closing] > 0 {
			return rest.Name(closing)
		}
	}
	switch {
	case len(docs) > 0 && count[assuresign.StatusCompleted] == len(docs):
		return "COMPLETED"
	case count[assuresign.StatusCreated] == len(docs):
		return "CREATED"
	}
	return "IN_PROGRESS"
}
