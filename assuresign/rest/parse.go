package rest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

// EnvelopeStatus is GET /envelopes/{id}/status's answer.
type EnvelopeStatus struct {
	EnvelopeID string            // upper case
	RawStatus  string            // the envelope's status as sent ("iN_PROGRESS")
	Status     assuresign.Status // StatusUnknown when absent or undocumented
	Documents  []Document
}

// Document is one entry of an envelope's documentList.
type Document struct {
	ID            string // upper case
	Name          string
	RawStatus     string // statusType as sent ("signinG_STEP_PROGRESS")
	Status        assuresign.Status
	StatusDetails string
	Step          int // from StatusDetails "Step N"; 0 when none
}

// statusNames maps the REST API's upper-snake status names onto the SOAP
// StatusTypes. IN_PROGRESS is the envelope-level name for an envelope being
// signed (seen live); the document-level one is SIGNING_STEP_PROGRESS.
var statusNames = map[string]assuresign.Status{
	"CREATED":                      assuresign.StatusCreated,
	"SIGNING_STEP_PROGRESS":        assuresign.StatusSigningStepInProgress,
	"IN_PROGRESS":                  assuresign.StatusSigningStepInProgress,
	"COMPLETED":                    assuresign.StatusCompleted,
	"EXPIRED":                      assuresign.StatusExpired,
	"DECLINED":                     assuresign.StatusDeclined,
	"CANCELLED":                    assuresign.StatusCancelled,
	"SIGNER_AUTHENTICATION_FAILED": assuresign.StatusSignerAuthenticationFailed,
	"STALED":                       assuresign.StatusStaled,
}

// Name is the REST API's upper-snake name of a documented status (the
// document-level one: SIGNING_STEP_PROGRESS), "" for StatusUnknown.
func Name(s assuresign.Status) string {
	if s == assuresign.StatusSigningStepInProgress {
		return "SIGNING_STEP_PROGRESS"
	}
	for name, st := range statusNames {
		if st == s {
			return name
		}
	}
	return ""
}

// LiveSpelling is how the live API writes an upper-snake name: its camel-casing
// serializer lower-cases the leading capitals up to the one before the first
// underscore (IN_PROGRESS reads iN_PROGRESS, COMPLETED completed).
func LiveSpelling(upper string) string {
	i := strings.IndexByte(upper, '_')
	if i < 0 {
		return strings.ToLower(upper)
	}
	if i == 0 {
		return upper
	}
	return strings.ToLower(upper[:i-1]) + upper[i-1:]
}

// ParseStatus maps a REST status value, in either spelling (upper snake, or
// the live camel-cased "signinG_STEP_PROGRESS"), onto a Status;
// case-insensitively. Anything else is StatusUnknown.
func ParseStatus(v string) assuresign.Status {
	return statusNames[strings.ToUpper(strings.TrimSpace(v))]
}

type wireDocument struct {
	DocumentID string `json:"documentID"`
	Name       string `json:"name"`
	Status     *struct {
		StatusType    string `json:"statusType"`
		StatusDetails string `json:"statusDetails"`
	} `json:"status"`
}

type wireEnvelopeStatus struct {
	Result *struct {
		EnvelopeID   string         `json:"envelopeID"`
		Status       string         `json:"status"`
		DocumentList []wireDocument `json:"documentList"`
	} `json:"result"`
}

// ParseEnvelopeStatus reads an envelope status answer. The envelope's and
// every document's id must be GUIDs; a status value outside the documented
// ones is StatusUnknown, never an error. Failures are *assuresign.Error of
// KindMalformed; their text holds no more of body than a bounded piece.
func ParseEnvelopeStatus(body []byte) (*EnvelopeStatus, error) {
	body = bytes.TrimPrefix(body, []byte("\xEF\xBB\xBF"))
	var w wireEnvelopeStatus
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, malformed("not an envelope status answer", err)
	}
	if w.Result == nil {
		return nil, malformed(`no "result" object`, nil)
	}
	r := w.Result
	if !assuresign.IsGUID(r.EnvelopeID) {
		return nil, malformed(fmt.Sprintf("envelopeID %q is not a GUID", assuresign.Truncate(r.EnvelopeID, maxQuoted)), nil)
	}
	out := &EnvelopeStatus{
		EnvelopeID: strings.ToUpper(r.EnvelopeID),
		RawStatus:  r.Status,
		Status:     ParseStatus(r.Status),
		Documents:  make([]Document, 0, len(r.DocumentList)),
	}
	for i, d := range r.DocumentList {
		if !assuresign.IsGUID(d.DocumentID) {
			return nil, malformed(fmt.Sprintf("documentList[%d]: documentID %q is not a GUID", i, assuresign.Truncate(d.DocumentID, maxQuoted)), nil)
		}
		doc := Document{ID: strings.ToUpper(d.DocumentID), Name: d.Name}
		if d.Status != nil {
			doc.RawStatus = d.Status.StatusType
			doc.Status = ParseStatus(d.Status.StatusType)
			doc.StatusDetails = d.Status.StatusDetails
			doc.Step = assuresign.StepNumber(d.Status.StatusDetails)
		}
		out.Documents = append(out.Documents, doc)
	}
	return out, nil
}

type wireEvent struct {
	Date string `json:"date"`
}

type wireEnvelopeHistory struct {
	EnvelopeID   string      `json:"envelopeID"`
	Events       []wireEvent `json:"envelopeHistoryEvents"`
	DocumentList []struct {
		History []wireEvent `json:"history"`
	} `json:"documentList"`
}

// EnvelopeHistory is GET /envelopes/{id}/history's answer, as dates.
type EnvelopeHistory struct {
	EnvelopeID string    // upper case
	Newest     time.Time // the newest event of the envelope's and its documents'
	// Documents are the newest event of each documentList entry's own
	// history, in the answer's order (zero: none readable).
	Documents []time.Time
}

// ParseEnvelopeHistory reads GET /envelopes/{id}/history's answer (verified
// live without a "result" wrapper). Its dates' format is not confirmed:
// ISO 8601 is read (assuresign.ParseStatusDate), and an unreadable date
// counts as none. Failures are *assuresign.Error of KindMalformed.
func ParseEnvelopeHistory(body []byte) (*EnvelopeHistory, error) {
	body = bytes.TrimPrefix(body, []byte("\xEF\xBB\xBF"))
	var w wireEnvelopeHistory
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, malformed("not an envelope history answer", err)
	}
	if !assuresign.IsGUID(w.EnvelopeID) {
		return nil, malformed(fmt.Sprintf("envelopeID %q is not a GUID", assuresign.Truncate(w.EnvelopeID, maxQuoted)), nil)
	}
	h := &EnvelopeHistory{EnvelopeID: strings.ToUpper(w.EnvelopeID), Newest: newest(w.Events), Documents: make([]time.Time, len(w.DocumentList))}
	for i, d := range w.DocumentList {
		h.Documents[i] = newest(d.History)
		if h.Documents[i].After(h.Newest) {
			h.Newest = h.Documents[i]
		}
	}
	return h, nil
}

// newest is the latest readable date of events; zero when none.
func newest(events []wireEvent) (at time.Time) {
	for _, ev := range events {
		if t, err := assuresign.ParseStatusDate(ev.Date); err == nil && t.After(at) {
			at = t
		}
	}
	return at
}

// token is the authentication answer: token and expires at the top level or
// under "result" (public integrations disagree).
type wireToken struct {
	Token   string          `json:"token"`
	Expires string          `json:"expires"`
	Result  *wireTokenInner `json:"result"`
}

type wireTokenInner struct {
	Token   string `json:"token"`
	Expires string `json:"expires"`
}

func parseToken(body []byte) (token, expires string, err error) {
	body = bytes.TrimPrefix(body, []byte("\xEF\xBB\xBF"))
	var w wireToken
	if err := json.Unmarshal(body, &w); err != nil {
		return "", "", malformed("not an authentication answer", err)
	}
	token, expires = w.Token, w.Expires
	if w.Result != nil && w.Result.Token != "" {
		token, expires = w.Result.Token, w.Result.Expires
	}
	if token == "" {
		return "", "", malformed("authentication answer without a token", nil)
	}
	return token, expires, nil
}

func malformed(detail string, err error) *assuresign.Error {
	return &assuresign.Error{Kind: assuresign.KindMalformed, Detail: detail, Err: err}
}

// maxQuoted bounds a piece of the answer quoted in an error.
const maxQuoted = 40
