// Package rest is a client of AssureSign's DocumentNOW v3.7 REST API: an API
// user's bearer token, shared and renewed, and an envelope's status. Its
// failures are *assuresign.Error of the SOAP client's kinds, so both
// upstreams count and report alike.
package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

// Defaults, from the reference's REST section.
const (
	DefaultBaseURL = "https://www.assuresign.net/api/documentnow/v3.7"
	DefaultAuthURL = "https://account.assuresign.net/api/v3.7/authentication/apiUser"
	// SessionMinutes is the token lifetime asked for.
	SessionMinutes = 60
	// RenewBefore is how long before its expiry a token is replaced, as
	// integrations renew at 55 of 60 minutes.
	RenewBefore = 5 * time.Minute
)

// Operation names passed to Config.Observe.
const (
	OpAuthenticate    = "authenticate"
	OpEnvelopeStatus  = "envelope_status"
	OpEnvelopeHistory = "envelope_history"
)

// ErrCredentialsRefused is the cause (errors.Is) of the error returned when
// the API user's credentials are refused: the authentication call answers
// 401 or 403, or a fresh token is answered 401.
var ErrCredentialsRefused = errors.New("the API user's credentials were refused")

// Config configures a Client. Zero values take the defaults.
type Config struct {
	BaseURL         string // DefaultBaseURL when empty
	AuthURL         string // DefaultAuthURL when empty
	APIUsername     string // required
	APIKey          string // required; a secret
	ContextUsername string // required: the user the API user acts as
	// ContextIdentifier, when set, picks the account (a secret): sent as
	// X-AS-UserContext: ContextUsername:ContextIdentifier.
	ContextIdentifier string
	HTTPClient        *http.Client  // assuresign.NewHTTPClient() when nil
	Timeout           time.Duration // bounds each HTTP attempt; none when 0
	MaxRetries        int           // retries after the first attempt; 3 when 0, none when negative
	BaseBackoff       time.Duration // 500 ms when 0
	MaxBackoff        time.Duration // 10 s when 0
	MaxBodyBytes      int64         // assuresign.DefaultMaxBodyBytes when 0
	// Observe, when set, is called once per HTTP attempt with the operation
	// (OpAuthenticate, OpEnvelopeStatus, OpEnvelopeHistory), its
	// assuresign.Outcome and duration.
	Observe func(operation, outcome string, d time.Duration)
	// UnknownStatus, when set, is called once per distinct status value (as
	// sent, redacted, cut to 64 bytes) that maps to no documented status.
	UnknownStatus func(value string)
	// Known, when set, is every secret the exporter knows, redacted too.
	Known *assuresign.Secrets
	// Logger takes the retries (debug) and a warning when an envelope's
	// history cannot be read; none when nil.
	Logger *slog.Logger
	// Now is the clock, for tests; time.Now when nil.
	Now func() time.Time
}

// Client calls the REST API. It is safe for concurrent use.
type Client struct {
	base, auth         string
	user, key, ctxUser string
	ctxID              string
	http               *http.Client
	timeout            time.Duration
	retrier            *assuresign.Retrier
	maxBody            int64
	unknown            func(string)
	known              *assuresign.Secrets
	logger             *slog.Logger
	now                func() time.Time

	sem   chan struct{} // held while a token is fetched: one fetch at a time
	mu    sync.Mutex    // guards tok, seen and dated
	tok   token
	seen  map[string]bool       // unknown status values already reported
	dated map[string]closedDate // by document: see dateClosed
}

type token struct {
	value   string
	expires time.Time
	red     *assuresign.Redactor
}

// maxSeen bounds the unknown values remembered, and maxUnknownLen each one:
// a server inventing a new value per answer, or a huge one, must not grow
// memory (later ones are reported again).
const (
	maxSeen       = 64
	maxUnknownLen = 64
)

// New validates cfg and returns a Client. It makes no request.
func New(cfg Config) (*Client, error) {
	c := &Client{
		base: strings.TrimRight(cfg.BaseURL, "/"), auth: cfg.AuthURL,
		user: cfg.APIUsername, key: cfg.APIKey, ctxUser: cfg.ContextUsername, ctxID: cfg.ContextIdentifier,
		http: cfg.HTTPClient, timeout: cfg.Timeout,
		retrier: assuresign.NewRetrier(cfg.MaxRetries, cfg.BaseBackoff, cfg.MaxBackoff, cfg.Observe, cfg.Logger),
		maxBody: cfg.MaxBodyBytes, unknown: cfg.UnknownStatus, known: cfg.Known, logger: cfg.Logger,
		now: cfg.Now, sem: make(chan struct{}, 1), seen: map[string]bool{}, dated: map[string]closedDate{},
	}
	if c.base == "" {
		c.base = DefaultBaseURL
	}
	if c.auth == "" {
		c.auth = DefaultAuthURL
	}
	for name, u := range map[string]string{"REST base URL": c.base, "REST authentication URL": c.auth} {
		if err := assuresign.CheckEndpoint("rest: the "+name, u); err != nil {
			return nil, err
		}
	}
	switch {
	case c.user == "":
		return nil, errors.New("rest: the API username is empty")
	case c.key == "":
		return nil, errors.New("rest: the API key is empty")
	case c.ctxUser == "":
		return nil, errors.New("rest: the context username is empty")
	case strings.Contains(c.ctxUser, ":"):
		return nil, errors.New("rest: the context username must not contain ':'")
	}
	if c.http == nil {
		c.http = assuresign.NewHTTPClient()
	}
	if c.maxBody <= 0 {
		c.maxBody = assuresign.DefaultMaxBodyBytes
	}
	if c.unknown == nil {
		c.unknown = func(string) {}
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	c.tok.red = assuresign.NewRedactor(c.known, c.key, c.ctxID)
	return c, nil
}

// BaseURL returns the URL the API's paths are appended to.
func (c *Client) BaseURL() string { return c.base }

// TokenExpiry returns the current token's expiry; zero before the first one.
func (c *Client) TokenExpiry() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tok.expires
}

// EnvelopeStatus asks for one envelope's status and its documents'. A 401
// renews the token and asks once more; a second 401 is an error wrapping
// ErrCredentialsRefused. envelopeID must be a GUID.
func (c *Client) EnvelopeStatus(ctx context.Context, envelopeID string) (*EnvelopeStatus, error) {
	var out *EnvelopeStatus
	red, err := c.get(ctx, OpEnvelopeStatus, envelopeID, "/status", func(body []byte) (err error) {
		out, err = ParseEnvelopeStatus(body)
		if err == nil && !strings.EqualFold(out.EnvelopeID, envelopeID) {
			err = notAsked(out.EnvelopeID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	c.reportUnknown(out, red)
	return out, nil
}

// EnvelopeHistory asks for one envelope's history, as EnvelopeStatus asks.
func (c *Client) EnvelopeHistory(ctx context.Context, envelopeID string) (*EnvelopeHistory, error) {
	var h *EnvelopeHistory
	_, err := c.get(ctx, OpEnvelopeHistory, envelopeID, "/history", func(body []byte) (err error) {
		h, err = ParseEnvelopeHistory(body)
		if err == nil && !strings.EqualFold(h.EnvelopeID, envelopeID) {
			err = notAsked(h.EnvelopeID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

func notAsked(envelopeID string) error {
	return malformed(fmt.Sprintf("the answer is for envelope %s, not the one asked about", envelopeID), nil)
}

// get asks GET {base}/envelopes/{envelopeID}{call} as op and hands the
// answer's body to parse. A 401 renews the token and asks once more; a
// second 401 is an error wrapping ErrCredentialsRefused. It returns the
// redactor of the token used.
func (c *Client) get(ctx context.Context, op, envelopeID, call string, parse func(body []byte) error) (*assuresign.Redactor, error) {
	if !assuresign.IsGUID(envelopeID) {
		return nil, errors.New("rest: the envelope id is not a GUID")
	}
	for renewed := false; ; renewed = true {
		tok, err := c.token(ctx)
		if err != nil {
			return nil, err
		}
		err = c.retry(ctx, op, tok.red, func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/envelopes/"+envelopeID+call, nil)
			if err != nil {
				return &assuresign.Error{Kind: assuresign.KindTransport, Err: err}
			}
			req.Header.Set("Authorization", "bearer "+tok.value)
			if c.ctxID != "" {
				req.Header.Set("X-AS-UserContext", c.ctxUser+":"+c.ctxID)
			}
			body, err := c.do(ctx, req)
			if err != nil {
				return err
			}
			return parse(body)
		})
		var e *assuresign.Error
		if errors.As(err, &e) && e.Kind == assuresign.KindHTTPStatus && e.StatusCode == http.StatusUnauthorized {
			if renewed {
				return nil, refused(e.StatusCode)
			}
			c.drop(tok.value)
			continue
		}
		return tok.red, err
	}
}

func refused(status int) *assuresign.Error {
	return &assuresign.Error{Kind: assuresign.KindHTTPStatus, StatusCode: status, Err: ErrCredentialsRefused}
}

// reportUnknown redacts the answer's server text (a server might echo a
// secret) and reports status values it could not map.
func (c *Client) reportUnknown(st *EnvelopeStatus, red *assuresign.Redactor) {
	var unknown []string
	check := func(raw string, s assuresign.Status) string {
		raw = red.Redact(raw)
		if s == assuresign.StatusUnknown && raw != "" {
			unknown = append(unknown, assuresign.Truncate(raw, maxUnknownLen))
		}
		return raw
	}
	st.RawStatus = check(st.RawStatus, st.Status)
	for i := range st.Documents {
		d := &st.Documents[i]
		d.RawStatus = check(d.RawStatus, d.Status)
		d.Name = red.Redact(d.Name)
		d.StatusDetails = red.Redact(d.StatusDetails)
	}
	for _, v := range unknown {
		c.mu.Lock()
		first := !c.seen[v]
		if first && len(c.seen) < maxSeen {
			c.seen[v] = true
		}
		c.mu.Unlock()
		if first {
			c.unknown(v)
		}
	}
}

// token returns a token valid for now, fetching one (one caller at a time)
// when there is none or it is due for renewal.
func (c *Client) token(ctx context.Context) (token, error) {
	if t, ok := c.current(); ok {
		return t, nil
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return token{}, assuresign.TransportError(ctx, ctx.Err())
	}
	defer func() { <-c.sem }()
	if t, ok := c.current(); ok {
		return t, nil // fetched while this caller waited
	}
	return c.authenticate(ctx)
}

func (c *Client) current() (token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tok, c.tok.value != "" && c.now().Before(c.tok.expires.Add(-RenewBefore))
}

// drop forgets tok after a 401, unless another caller has replaced it already.
func (c *Client) drop(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok.value == tok {
		c.tok.value = ""
	}
}

type authRequest struct {
	Request struct {
		APIUsername            string `json:"apiUsername"`
		Key                    string `json:"key"`
		ContextUsername        string `json:"contextUsername"`
		SessionLengthInMinutes int    `json:"sessionLengthInMinutes"`
	} `json:"request"`
}

func (c *Client) authenticate(ctx context.Context) (token, error) {
	var ar authRequest
	ar.Request.APIUsername, ar.Request.Key, ar.Request.ContextUsername = c.user, c.key, c.ctxUser
	ar.Request.SessionLengthInMinutes = SessionMinutes
	payload, err := json.Marshal(ar)
	if err != nil {
		return token{}, &assuresign.Error{Kind: assuresign.KindTransport, Err: err}
	}
	c.mu.Lock()
	red := c.tok.red
	c.mu.Unlock()
	var value, expires string
	start := c.now()
	err = c.retry(ctx, OpAuthenticate, red, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.auth, bytes.NewReader(payload))
		if err != nil {
			return &assuresign.Error{Kind: assuresign.KindTransport, Err: err}
		}
		req.Header.Set("Content-Type", "application/json")
		body, err := c.do(ctx, req)
		if err != nil {
			return err
		}
		value, expires, err = parseToken(body)
		return err
	})
	var e *assuresign.Error
	if errors.As(err, &e) && e.Kind == assuresign.KindHTTPStatus && (e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden) {
		return token{}, refused(e.StatusCode)
	}
	if err != nil {
		return token{}, err
	}
	t := token{value: value, red: assuresign.NewRedactor(c.known, c.key, c.ctxID, value)}
	// The asked-for lifetime bounds the stated one; an unreadable expiry is
	// taken as that lifetime.
	t.expires = start.Add(SessionMinutes * time.Minute)
	if exp, err := assuresign.ParseStatusDate(expires); err == nil && exp.Before(t.expires) {
		t.expires = exp
	}
	c.mu.Lock()
	c.tok = t
	c.mu.Unlock()
	return t, nil
}

// retry runs attempt, each within the client's timeout, retrying transient
// failures within ctx as every AssureSign client does; errors come back
// redacted by red.
func (c *Client) retry(ctx context.Context, op string, red *assuresign.Redactor, attempt func(context.Context) error) error {
	return c.retrier.Do(ctx, op, op, red.Redact, func(ctx context.Context) error {
		if c.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.timeout)
			defer cancel()
		}
		return attempt(ctx)
	})
}

// do sends req and returns a 200 answer's JSON body; anything else is an
// *assuresign.Error.
func (c *Client) do(ctx context.Context, req *http.Request) ([]byte, error) {
	req.Header.Set("Accept", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return nil, assuresign.TransportError(ctx, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		// Error answers are not documented: only the status is read.
		return nil, assuresign.StatusError(res)
	}
	data, err := assuresign.ReadBody(ctx, res, c.maxBody)
	if err != nil {
		return nil, err
	}
	if ct, _, err := mime.ParseMediaType(res.Header.Get("Content-Type")); err != nil || (ct != "application/json" && !strings.HasSuffix(ct, "+json")) {
		return nil, &assuresign.Error{Kind: assuresign.KindContentType, StatusCode: res.StatusCode, Detail: fmt.Sprintf("got %q, want application/json", ct)}
	}
	return data, nil
}
