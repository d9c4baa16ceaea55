package assuresign

import (
	"errors"
	"fmt"
	"time"
)

// ErrorKind tells failures apart so callers can count them.
type ErrorKind int

// Failure kinds. Their Outcome strings are metric label values.
const (
	KindTransport     ErrorKind = iota + 1 // connection refused, reset, DNS, a body cut short
	KindTimeout                            // deadline or I/O timeout
	KindHTTPStatus                         // a non-200 answer that is not a SOAP Fault
	KindSOAPFault                          // a SOAP 1.1 Fault
	KindMalformed                          // XML that cannot be read as a CheckStatusResponse
	KindContentType                        // not XML (an HTML maintenance page, say)
	KindTooLarge                           // body over the size limit
	KindMissingResult                      // one requested document had no (or a nil) result
	KindNoDocuments                        // an envelope listing without any usable document
)

// Error is every failure the client returns. Its message never holds a
// request's AuthToken or ContextIdentifier.
type Error struct {
	Kind        ErrorKind
	StatusCode  int           // KindHTTPStatus, and the HTTP status of a SOAP Fault
	RetryAfter  time.Duration // from a non-200 answer's Retry-After header
	FaultCode   string        // KindSOAPFault
	FaultString string        // KindSOAPFault
	Detail      string        // a short, secret-free description
	Err         error         // the cause, if any
}

func (e *Error) Error() string {
	switch e.Kind {
	case KindHTTPStatus:
		return fmt.Sprintf("assuresign: HTTP status %d%s", e.StatusCode, e.suffix())
	case KindSOAPFault:
		return fmt.Sprintf("assuresign: SOAP fault %s: %s", e.FaultCode, e.FaultString)
	default:
		return fmt.Sprintf("assuresign: %s%s", e.Kind, e.suffix())
	}
}

func (e *Error) suffix() string {
	s := ""
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the failure is transient: a timeout, a
// connection error, HTTP 5xx, or 429.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case KindTransport, KindTimeout:
		return true
	case KindHTTPStatus:
		return e.StatusCode >= 500 || e.StatusCode == 429
	}
	return false
}

func (k ErrorKind) String() string {
	switch k {
	case KindTransport:
		return "transport error"
	case KindTimeout:
		return "timeout"
	case KindHTTPStatus:
		return "HTTP status"
	case KindSOAPFault:
		return "SOAP fault"
	case KindMalformed:
		return "malformed response"
	case KindContentType:
		return "wrong content type"
	case KindTooLarge:
		return "response too large"
	case KindMissingResult:
		return "no result for document"
	case KindNoDocuments:
		return "no documents listed"
	}
	return "unknown error"
}

// Outcome names a request's outcome for the assuresign_api_requests_total
// result label: ok, timeout, transport, http_429, http_4xx, http_5xx,
// soap_fault, malformed, content_type, too_large.
func Outcome(err error) string {
	if err == nil {
		return "ok"
	}
	var e *Error
	if !errors.As(err, &e) {
		return "transport"
	}
	switch e.Kind {
	case KindTimeout:
		return "timeout"
	case KindHTTPStatus:
		switch {
		case e.StatusCode == 429:
			return "http_429"
		case e.StatusCode >= 500:
			return "http_5xx"
		default:
			return "http_4xx"
		}
	case KindSOAPFault:
		return "soap_fault"
	case KindMalformed:
		return "malformed"
	case KindContentType:
		return "content_type"
	case KindTooLarge:
		return "too_large"
	case KindMissingResult:
		return "missing_result"
	case KindNoDocuments:
		return "no_documents"
	}
	return "transport"
}

// Outcomes lists every Outcome value, so counters can start at zero.
var Outcomes = []string{"ok", "timeout", "transport", "http_429", "http_4xx", "http_5xx", "soap_fault", "malformed", "content_type", "too_large"}
