// Package assuresign speaks AssureSign's DocumentNOW SOAP wire (CheckStatus
// and ListEnvelopeDocuments): a batched client, the response parsers and the
// DocumentTRAK notification parser, and the wire rules the REST client
// (package assuresign/rest) shares.
package assuresign

import (
	"strings"
	"time"
)

// Wire constants, from the vendor's CheckStatus page. The SOAPAction keeps the
// www namespace whichever regional host is called.
const (
	SOAPEnvelopeNS    = "http://schemas.xmlsoap.org/soap/envelope/"
	CheckStatusNS     = "https://www.assuresign.net/Services/DocumentNOW/CheckStatus"
	CheckStatusAction = "https://www.assuresign.net/Services/DocumentNOW/CheckStatus/ICheckStatusService/CheckStatus"
	XSINS             = "http://www.w3.org/2001/XMLSchema-instance"

	// DefaultCheckStatusPath is inferred from the documented endpoint pattern, not
	// confirmed by the vendor, so operators can override DefaultEndpoint.
	DefaultCheckStatusPath = "/Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text"
	DefaultEndpoint        = "https://www.assuresign.net" + DefaultCheckStatusPath
)

// Status is a document's StatusType.
type Status int

// The eight documented statuses, plus Unknown for anything else (or nothing).
const (
	StatusUnknown Status = iota
	StatusCreated
	StatusSigningStepInProgress
	StatusCompleted
	StatusExpired
	StatusDeclined
	StatusCancelled
	StatusStaled
	StatusSignerAuthenticationFailed
)

// Statuses lists every Status in exposition order (the state set's members).
var Statuses = []Status{
	StatusCreated, StatusSigningStepInProgress, StatusCompleted, StatusExpired, StatusDeclined,
	StatusCancelled, StatusStaled, StatusSignerAuthenticationFailed, StatusUnknown,
}

var statusNames = [...]string{
	StatusUnknown:                    "Unknown",
	StatusCreated:                    "Created",
	StatusSigningStepInProgress:      "SigningStepInProgress",
	StatusCompleted:                  "Completed",
	StatusExpired:                    "Expired",
	StatusDeclined:                   "Declined",
	StatusCancelled:                  "Cancelled",
	StatusStaled:                     "Staled",
	StatusSignerAuthenticationFailed: "SignerAuthenticationFailed",
}

func (s Status) String() string { return nameOf(statusNames[:], s) }

// ParseStatus maps a StatusType value to a Status; anything outside the
// documented eight is StatusUnknown.
func ParseStatus(v string) Status { return parseName[Status](statusNames[:], v) }

// nameOf is v's name in names, whose first is the unknown value's: that
// one for a v outside names.
func nameOf[T ~int](names []string, v T) string {
	if v < 0 || int(v) >= len(names) {
		return names[0]
	}
	return names[v]
}

// parseName is the value named v (in any case) in names, whose first is the
// unknown value's: that one (0) for any other v, its own name included.
func parseName[T ~int](names []string, v string) T {
	for i, name := range names[1:] {
		if strings.EqualFold(name, v) {
			return T(i + 1)
		}
	}
	return 0
}

// Terminal reports whether a document in this status can no longer change.
func (s Status) Terminal() bool {
	switch s {
	case StatusCompleted, StatusExpired, StatusCancelled, StatusDeclined, StatusStaled:
		return true
	}
	return false
}

// Severity is a StatusCheckException's Severity.
type Severity int

// Documented severities; SeverityUnknown keeps an undocumented value countable.
const (
	SeverityUnknown Severity = iota
	SeverityWarning
	SeverityError
	SeverityFatal
)

var severityNames = [...]string{SeverityUnknown: "Unknown", SeverityWarning: "Warning", SeverityError: "Error", SeverityFatal: "Fatal"}

func (s Severity) String() string { return nameOf(severityNames[:], s) }

// ParseSeverity maps a Severity attribute to a Severity.
func ParseSeverity(v string) Severity { return parseName[Severity](severityNames[:], v) }

// Check asks for one document's status. AuthToken and ContextIdentifier are
// secrets: they are sent on the wire and nowhere else.
type Check struct {
	ID                string
	AuthToken         string
	ContextIdentifier string
	// EnvelopeID is the envelope that listed the document ("" for a watch
	// file's own): the REST API answers for envelopes, not documents.
	EnvelopeID string
}

// Exception is one StatusCheckException.
type Exception struct {
	Severity Severity
	Message  string
}

// Result is AssureSign's answer for one document.
type Result struct {
	ID            string    // upper case
	RawStatus     string    // StatusType as sent; empty when absent
	Status        Status    // StatusUnknown when absent or undocumented
	StatusDate    time.Time // zero when absent or unreadable
	StatusDetails string
	Step          int // from StatusDetails "Step N"; 0 when none
	Exceptions    []Exception
	// Err is set when the batch succeeded but this document got no usable result.
	Err error
}

// HasStatus reports whether the result carried a StatusType at all. A result
// with only exceptions (a wrong AuthToken, say) says nothing of the status.
func (r *Result) HasStatus() bool { return r.RawStatus != "" }

// IsGUID reports whether s is a GUID as the service writes them: 8-4-4-4-12
// hex digits, either case, without braces or white space.
func IsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHexDigit(c) {
				return false
			}
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
