package assuresign

import (
	"context"
	"net/http"
	"time"
)

// The helpers below share the SOAP client's wire rules with the REST client
// (package assuresign/rest), so both upstreams step, wait, classify and
// redact alike.

// StepNumber reads N from a StatusDetails "Step N" (any case; the space
// optional); 0 when there is none.
func StepNumber(statusDetails string) int { return stepNumber(statusDetails) }

// CheckEndpoint accepts an http(s) URL without credentials; name starts its
// errors, which never quote a password.
func CheckEndpoint(name, endpoint string) error { return checkEndpoint(name, endpoint) }

// StatusError is the error of an answer whose HTTP status is not 200, its
// Retry-After read on a 429 or 503 only.
func StatusError(res *http.Response) *Error { return statusError(res) }

// ReadBody reads res's body, at most maxBody bytes: a longer one, or one that
// declares a longer length, is a KindTooLarge error; a failed read is
// classified as TransportError does.
func ReadBody(ctx context.Context, res *http.Response, maxBody int64) ([]byte, error) {
	return readBody(ctx, res, maxBody)
}

// RetryAfter reads a Retry-After header (seconds or an HTTP date), capped at a
// day; 0 when absent or unreadable.
func RetryAfter(v string) time.Duration { return retryAfter(v) }

// TransportError classifies a failed HTTP exchange as KindTimeout or KindTransport.
func TransportError(ctx context.Context, err error) *Error { return transportError(ctx, err) }

// CleanError returns a copy of err (an *Error, or any error as KindTransport)
// whose server-derived text has passed through redact (when set) and is cut
// to a bounded length.
func CleanError(err error, redact func(string) string) error { return cleanError(err, redact) }

// Redactor replaces secrets, and any fragment of 8 or more characters of
// one, in text that may echo them. It is safe for concurrent use.
type Redactor struct{ r *redactor }

// NewRedactor returns a Redactor for these secrets and, when known is set,
// every secret the exporter knows (case-insensitive; a GUID also without its
// hyphens).
func NewRedactor(known *Secrets, secrets ...string) *Redactor {
	return &Redactor{newRedactor(known, secrets...)}
}

// Redact returns s with every secret, or piece of one, replaced by "<secret>".
func (r *Redactor) Redact(s string) string { return r.r.redact(s) }
