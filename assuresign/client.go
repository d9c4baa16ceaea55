package assuresign

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxBodyBytes bounds a response body: 100 documents answer in about
// 30 KiB, so a few MiB leaves room for large batches and no room for abuse.
const DefaultMaxBodyBytes = 4 << 20

// Config configures a Client. Zero values take the defaults.
type Config struct {
	Endpoint string // full CheckStatus URL; DefaultEndpoint when empty
	// EnvelopesEndpoint is the full Envelopes URL; when empty, Endpoint's
	// scheme and host with DefaultEnvelopesPath.
	EnvelopesEndpoint string
	HTTPClient        *http.Client // NewHTTPClient() when nil
	MaxBodyBytes      int64        // DefaultMaxBodyBytes when 0
	MaxRetries        int          // retries after the first attempt; 3 when 0, none when negative
	BaseBackoff       time.Duration
	MaxBackoff        time.Duration
	Logger            *slog.Logger
	// Observe, when set, is called once per HTTP attempt with the operation
	// (OpCheckStatus, OpListEnvelopeDocuments), its Outcome and duration.
	Observe func(operation, outcome string, d time.Duration)
	// Dropped, when set, counts the n items of one answer that were ignored
	// (item "unrequested_result": results for documents not asked about).
	Dropped func(item string, n int)
	// Secrets, when set, are every secret the caller knows, redacted from
	// server text beside the request's own; a new set when nil. The client
	// adds the AuthTokens of the documents envelopes list.
	Secrets *Secrets
}

// Client calls CheckStatus. It is safe for concurrent use.
type Client struct {
	endpoint  string
	envelopes string
	http      *http.Client
	maxBody   int64
	retrier   *Retrier
	logger    *slog.Logger
	dropped   func(string, int)
	secrets   *Secrets
}

// NewHTTPClient returns the shared client: bounded dial and handshake times,
// kept-alive connections, and proxies from the standard environment variables.
// Whole-request deadlines come from the caller's context.
func NewHTTPClient() *http.Client {
	return &http.Client{
		// A redirect would send the body, and every AuthToken in it, again to
		// wherever Location points: it is answered as an HTTP status instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   16,
			ForceAttemptHTTP2:     true,
		},
	}
}

// NewClient validates cfg and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	c := &Client{
		endpoint: cfg.Endpoint, http: cfg.HTTPClient, maxBody: cfg.MaxBodyBytes,
		retrier: NewRetrier(cfg.MaxRetries, cfg.BaseBackoff, cfg.MaxBackoff, cfg.Observe, cfg.Logger),
		logger:  cfg.Logger, dropped: cfg.Dropped, secrets: cfg.Secrets,
	}
	if c.secrets == nil {
		c.secrets = NewSecrets()
	}
	if c.endpoint == "" {
		c.endpoint = DefaultEndpoint
	}
	if err := CheckEndpoint("assuresign endpoint", c.endpoint); err != nil {
		return nil, err
	}
	c.envelopes = cfg.EnvelopesEndpoint
	if c.envelopes == "" {
		c.envelopes = DefaultEnvelopesEndpoint(c.endpoint)
	}
	if err := CheckEndpoint("assuresign envelopes endpoint", c.envelopes); err != nil {
		return nil, err
	}
	if c.http == nil {
		c.http = NewHTTPClient()
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.dropped == nil {
		c.dropped = func(string, int) {}
	}
	return c, nil
}

// CheckEndpoint accepts an http(s) URL without credentials; name starts its
// errors, which never quote a password.
func CheckEndpoint(name, endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		// The parse error quotes the URL, which might hold a password.
		return errors.New(name + " is not a valid URL")
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%s %q is not an http(s) URL", name, u.Redacted())
	}
	if u.User != nil {
		return errors.New(name + " must not carry credentials")
	}
	return nil
}

// Endpoint returns the URL the client calls for CheckStatus.
func (c *Client) Endpoint() string { return c.endpoint }

// EnvelopesEndpoint returns the URL the client calls for ListEnvelopeDocuments.
func (c *Client) EnvelopesEndpoint() string { return c.envelopes }

// CheckStatus asks for every check's status in one request, retrying transient
// failures within ctx. On success it returns one Result per check, in order; a
// check that got no result has Result.Err set. A batch failure is an *Error.
func (c *Client) CheckStatus(ctx context.Context, checks []Check) ([]Result, error) {
	if len(checks) == 0 {
		return nil, nil // nothing to ask; spare the vendor an empty call
	}
	secrets := make([]string, 0, 2*len(checks))
	for _, ch := range checks {
		secrets = append(secrets, ch.AuthToken, ch.ContextIdentifier)
	}
	red := NewRedactor(c.secrets, secrets...)
	var resp *Response
	err := c.call(ctx, operation{"CheckStatus", OpCheckStatus, c.endpoint, CheckStatusAction}, EncodeCheckStatusRequest(checks), red,
		func(data []byte) (err error) {
			resp, err = parseCheckStatusResponse(data)
			return err
		})
	if err != nil {
		return nil, err
	}
	return c.match(checks, resp, red), nil
}

// Operation names passed to Config.Observe, as the metrics' operation label.
const (
	OpCheckStatus           = "check_status"
	OpListEnvelopeDocuments = "list_envelope_documents"
)

// operation is what differs between the service's calls on the wire.
type operation struct {
	name     string // the SOAP operation's, for logs
	observed string // Op*, for Observe
	endpoint string
	action   string
}

// call posts body to op, retrying transient failures within ctx; parse reads
// a 200 answer (and a non-200 one that may be a SOAP Fault). Errors are
// redacted by red.
func (c *Client) call(ctx context.Context, op operation, body []byte, red *Redactor, parse func([]byte) error) error {
	return c.retrier.Do(ctx, op.observed, op.name, red.Redact, func(ctx context.Context) error {
		return c.roundTrip(ctx, op, body, parse)
	})
}

func (c *Client) roundTrip(ctx context.Context, op operation, body []byte, parse func([]byte) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, op.endpoint, bytes.NewReader(body))
	if err != nil {
		return &Error{Kind: KindTransport, Err: err}
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"`+op.action+`"`)
	req.Header.Set("Accept", "text/xml")
	res, err := c.http.Do(req)
	if err != nil {
		return TransportError(ctx, err)
	}
	defer res.Body.Close()
	statusErr := func() error {
		e := StatusError(res)
		if res.StatusCode == http.StatusNotFound {
			// WCF's answer to a path no operation listens on.
			e.Detail = "no endpoint at this path: the path of the endpoint URL is likely wrong"
		}
		return e
	}
	data, err := ReadBody(ctx, res, c.maxBody)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Kind == KindTooLarge && res.StatusCode != http.StatusOK {
			return statusErr() // a huge error page must not hide a retryable 5xx
		}
		return err
	}
	isXML := isXMLContentType(res.Header.Get("Content-Type"))
	if res.StatusCode != http.StatusOK {
		// WCF answers a fault with HTTP 500 and a SOAP envelope.
		if isXML {
			if perr := parse(data); perr != nil {
				var e *Error
				if errors.As(perr, &e) && e.Kind == KindSOAPFault {
					e.StatusCode = res.StatusCode
					return e
				}
			}
		}
		return statusErr()
	}
	if !isXML {
		ct, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
		return &Error{Kind: KindContentType, StatusCode: res.StatusCode, Detail: fmt.Sprintf("got %q, want text/xml", ct)}
	}
	if err := parse(data); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.StatusCode = res.StatusCode // a fault may come with 200
		}
		return err
	}
	return nil
}

func isXMLContentType(v string) bool {
	ct, _, err := mime.ParseMediaType(v)
	if err != nil {
		return false
	}
	return ct == "text/xml" || ct == "application/xml" || ct == "application/soap+xml"
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(min(s, 86400)) * time.Second // capped: a huge value would overflow
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), 86400*time.Second)
	}
	return 0
}

// StatusError is the error of an answer whose HTTP status is not 200. HTTP
// defines Retry-After for 429 and 503; elsewhere (a 400, say) it would
// silence every request on a misconfigured proxy's word.
func StatusError(res *http.Response) *Error {
	e := &Error{Kind: KindHTTPStatus, StatusCode: res.StatusCode}
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable {
		e.RetryAfter = retryAfter(res.Header.Get("Retry-After"))
	}
	return e
}

// ReadBody reads res's body, at most maxBody bytes: a longer one, or one
// that declares a longer length, is a KindTooLarge error; a failed read is
// classified as TransportError does.
func ReadBody(ctx context.Context, res *http.Response, maxBody int64) ([]byte, error) {
	maxBody = min(maxBody, math.MaxInt64-1) // the reader asks for one byte more
	if res.ContentLength <= maxBody {
		data, err := io.ReadAll(io.LimitReader(res.Body, maxBody+1))
		if err != nil {
			return nil, TransportError(ctx, err)
		}
		if int64(len(data)) <= maxBody {
			return data, nil
		}
	}
	return nil, &Error{Kind: KindTooLarge, StatusCode: res.StatusCode, Detail: fmt.Sprintf("body over %d bytes", maxBody)}
}

// TransportError classifies a failed HTTP exchange as KindTimeout or KindTransport.
func TransportError(ctx context.Context, err error) *Error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
		return &Error{Kind: KindTimeout, Err: err}
	}
	return &Error{Kind: KindTransport, Err: err}
}

// match pairs results with checks by Id, case-insensitively. A document asked
// about twice gets the same result twice.
func (c *Client) match(checks []Check, resp *Response, red *Redactor) []Result {
	byID := make(map[string]Result, len(resp.Results))
	for _, r := range resp.Results {
		// Server text that reaches callers is redacted: a server might echo secrets.
		r.RawStatus = red.Redact(r.RawStatus)
		r.StatusDetails = red.Redact(r.StatusDetails)
		if len(r.Exceptions) > 0 {
			ex := make([]Exception, len(r.Exceptions))
			for j, e := range r.Exceptions {
				ex[j] = Exception{Severity: e.Severity, Message: red.Redact(e.Message)}
			}
			r.Exceptions = ex
		}
		byID[r.ID] = r
	}
	asked := make(map[string]bool, len(checks))
	out := make([]Result, len(checks))
	for i, ch := range checks {
		id := strings.ToUpper(strings.TrimSpace(ch.ID))
		asked[id] = true
		r, ok := byID[id]
		if !ok {
			out[i] = Result{ID: id, Err: &Error{Kind: KindMissingResult, Detail: "document " + Truncate(id, 64)}}
			continue
		}
		out[i] = r
	}
	// One line for all of them: an answer must not flood the log.
	unrequested, first := 0, ""
	for id := range byID {
		if !asked[id] {
			unrequested++
			if first == "" || id < first {
				first = id
			}
		}
	}
	if unrequested > 0 {
		c.dropped("unrequested_result", unrequested)
		c.logger.Warn("ignoring CheckStatus results for documents not asked about", "count", unrequested,
			"first_document_id", Truncate(red.Redact(first), 64))
	}
	if resp.Skipped > 0 {
		c.logger.Debug("CheckStatus response held unusable results", "count", resp.Skipped)
	}
	return out
}

// EncodeCheckStatusRequest builds the SOAP 1.1 envelope for checks.
func EncodeCheckStatusRequest(checks []Check) []byte {
	var b bytes.Buffer
	b.Grow(256 + 160*len(checks))
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="` + SOAPEnvelopeNS + `"><s:Body>`)
	b.WriteString(`<CheckStatus xmlns="` + CheckStatusNS + `"><DocumentStatusChecks>`)
	for _, ch := range checks {
		b.WriteString(`<DocumentStatusCheck ContextIdentifier="`)
		writeAttr(&b, ch.ContextIdentifier)
		b.WriteString(`" Id="`)
		writeAttr(&b, ch.ID)
		b.WriteString(`" AuthToken="`)
		writeAttr(&b, ch.AuthToken)
		b.WriteString(`"/>`)
	}
	b.WriteString(`</DocumentStatusChecks></CheckStatus></s:Body></s:Envelope>`)
	return b.Bytes()
}

// writeAttr writes an attribute value; GUIDs need no escaping, so they skip
// EscapeText's copy.
func writeAttr(b *bytes.Buffer, v string) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f || c == '&' || c == '<' || c == '>' || c == '"' || c == '\'' {
			_ = xml.EscapeText(b, []byte(v))
			return
		}
	}
	b.WriteString(v)
}

func asciiLower(s string) string {
	if strings.IndexFunc(s, func(c rune) bool { return c >= 'A' && c <= 'Z' }) < 0 {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
