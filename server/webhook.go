package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// Trigger schedules an immediate check of one document. It reports false when the
// document is not on the watch list. received is when the notification arrived.
type Trigger interface {
	CheckNow(id string, received time.Time) bool
}

const (
	webhookMaxBody      = 64 << 10
	webhookMaxTokenFile = 4 << 10
)

// webhookResults are the result label values of assuresign_webhook_requests_total;
// forwarded and forward_failed are added when the handler forwards to shards.
var webhookResults = []string{"accepted", "unwatched", "unauthorized", "bad_request", "too_large", "method_not_allowed"}

// Forwarding bounds: a notification waits at most forwardTimeout for its owner,
// over at most forwardAttempts requests.
const (
	forwardTimeout  = 5 * time.Second
	forwardAttempts = 3
	forwardedHeader = "X-Assuresign-Exporter-Forwarded-By"
)

// Shards tells the handler which documents it owns and where the others go.
type Shards struct {
	Shard, Total int
	// URLTemplate is the owner's webhook URL, {shard} replaced by its number.
	URLTemplate string
}

// forwardClient follows no redirect: the bearer token goes to the owner and
// nowhere else.
var forwardClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// WebhookHandler receives DocumentTRAK notifications. It only ever asks for a
// check of the named document: a status claimed in the body is not trusted.
type WebhookHandler struct {
	tokenFile string
	secrets   *assuresign.Secrets // learns each token loaded, to redact it; may be nil
	// The handler keeps only the token's digest (secrets keep the token, to
	// redact it): comparing digests takes the same time whatever the
	// presented length.
	digest   atomic.Pointer[[sha256.Size]byte]
	trigger  Trigger
	shards   *Shards
	requests *prometheus.CounterVec
	logger   *slog.Logger
	now      func() time.Time
}

// NewWebhookHandler reads the bearer token from tokenFile (trimmed of
// surrounding white space; empty token is an error naming the file) and puts
// it, as read, in secrets (when not nil) so that no text shows it.
func NewWebhookHandler(tokenFile string, trigger Trigger, secrets *assuresign.Secrets, reg prometheus.Registerer, logger *slog.Logger) (*WebhookHandler, error) {
	if trigger == nil {
		return nil, errors.New("webhook: nil trigger")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &WebhookHandler{
		tokenFile: tokenFile,
		secrets:   secrets,
		trigger:   trigger,
		logger:    logger,
		now:       time.Now,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assuresign_webhook_requests_total",
			Help: "DocumentTRAK notifications received, by result: accepted, unwatched, unauthorized, bad_request, too_large, method_not_allowed; with shards also forwarded and forward_failed (for another shard's document).",
		}, []string{"result"}),
	}
	for _, r := range webhookResults {
		h.requests.WithLabelValues(r)
	}
	if err := h.Reload(); err != nil {
		return nil, err
	}
	if reg != nil {
		if err := reg.Register(h.requests); err != nil {
			return nil, fmt.Errorf("webhook: registering metrics: %w", err)
		}
	}
	return h, nil
}

// CheckShardURLTemplate rejects a --webhook.shard-url-template that cannot
// address a shard.
func CheckShardURLTemplate(tmpl string) error {
	if !strings.Contains(tmpl, "{shard}") {
		return fmt.Errorf("--webhook.shard-url-template %q must contain {shard} (needed with the webhook and more than one shard)", tmpl)
	}
	u, err := url.Parse(strings.ReplaceAll(tmpl, "{shard}", "0"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--webhook.shard-url-template %q is not an http or https URL", tmpl)
	}
	if u.User != nil {
		// Forwarding failures log the URL; credentials have no place in it
		// (the notification's own bearer token goes along).
		return errors.New("--webhook.shard-url-template must not hold credentials")
	}
	return nil
}

// ForwardTo makes h pass each notification for a document another shard owns
// to that shard. Call it before h serves.
func (h *WebhookHandler) ForwardTo(s Shards) {
	h.shards = &s
	h.requests.WithLabelValues("forwarded")
	h.requests.WithLabelValues("forward_failed")
}

// forward posts the notification to shard owner, with the bearer token it was
// presented with, retrying transport errors and 5xx answers within forwardTimeout.
func (h *WebhookHandler) forward(r *http.Request, owner int, body []byte) error {
	ctx, cancel := context.WithTimeout(r.Context(), forwardTimeout)
	defer cancel()
	target := strings.ReplaceAll(h.shards.URLTemplate, "{shard}", strconv.Itoa(owner))
	var err error
	for attempt := range forwardAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(attempt) * 250 * time.Millisecond):
			}
		}
		// The URL is the operator's template with a shard number: nothing of the request.
		req, reqErr := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body)) //nolint:gosec // G704: see above

		if reqErr != nil {
			return reqErr
		}
		req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
		req.Header.Set("Authorization", r.Header.Get("Authorization"))
		req.Header.Set(forwardedHeader, strconv.Itoa(h.shards.Shard))
		var resp *http.Response
		if resp, err = forwardClient.Do(req); err != nil { //nolint:gosec // G704: the operator's URL

			continue
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2:
			return nil
		case resp.StatusCode >= 500:
			err = fmt.Errorf("%s answered %s", target, resp.Status)
		default:
			return fmt.Errorf("%s answered %s", target, resp.Status)
		}
	}
	return err
}

// Reload re-reads the token file; on error the old token stays and the error is returned.
func (h *WebhookHandler) Reload() error {
	tok, err := readWebhookToken(h.tokenFile)
	if err != nil {
		return err
	}
	if h.secrets != nil {
		h.secrets.Set("webhook token", []string{tok})
	}
	d := sha256.Sum256([]byte(tok))
	h.digest.Store(&d)
	return nil
}

// readWebhookToken returns the token. Errors name the file, never its
// content.
func readWebhookToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("webhook token file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, webhookMaxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("webhook token file: %w", err)
	}
	if len(b) > webhookMaxTokenFile {
		return "", fmt.Errorf("webhook token file %s: larger than %d bytes", path, webhookMaxTokenFile)
	}
	// Editors on Windows may start the file with a byte order mark, which no
	// header can carry: without this every notification would be refused.
	tok := strings.TrimSpace(strings.TrimPrefix(string(b), "\ufeff"))
	if tok == "" {
		return "", fmt.Errorf("webhook token file %s: empty token", path)
	}
	// A line break or other control character can never arrive in a header,
	// so such a token would silently refuse every notification.
	if strings.IndexFunc(tok, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return "", fmt.Errorf("webhook token file %s: token holds a control character or line break", path)
	}
	return tok, nil
}

func (h *WebhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := h.now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, r, "method_not_allowed", http.StatusMethodNotAllowed, "only POST is allowed")
		return
	}
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		h.fail(w, r, "unauthorized", http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, webhookMaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.fail(w, r, "too_large", http.StatusRequestEntityTooLarge, "body larger than 64 KiB")
			return
		}
		h.fail(w, r, "bad_request", http.StatusBadRequest, "body could not be read")
		return
	}
	id, err := assuresign.ParseNotification(r.Header.Get("Content-Type"), body)
	if err != nil {
		// ParseNotification's errors name at most a field, so they are safe to return.
		h.fail(w, r, "bad_request", http.StatusBadRequest, err.Error())
		return
	}
	result := "accepted"
	// A forwarded notification is never forwarded again, so shards that
	// disagree on the layout cannot pass it round in a loop.
	if owner := h.owner(id); owner >= 0 && r.Header.Get(forwardedHeader) == "" {
		result = "forwarded"
		if err := h.forward(r, owner, body); err != nil {
			// Still 202: the owner's next scheduled round covers the document.
			result = "forward_failed"
			h.logger.Warn("could not forward a DocumentTRAK notification to the shard that owns its document; that shard's next refresh round covers it",
				"document", id, "shard", owner, "err", err)
		}
	} else if !h.trigger.CheckNow(id, received) {
		// Still 2xx: DocumentTRAK would otherwise retry a notification that
		// can never succeed.
		result = "unwatched"
	}
	h.requests.WithLabelValues(result).Inc()
	h.logger.Debug("DocumentTRAK notification", "result", result, "document", id, "remote", r.RemoteAddr)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, "accepted\n")
}

// owner returns the shard that owns id when it is another shard's, else -1.
func (h *WebhookHandler) owner(id string) int {
	if h.shards == nil {
		return -1
	}
	if o := watchlist.Owner(id, h.shards.Total); o != h.shards.Shard {
		return o
	}
	return -1
}

// authorized compares digests in constant time; neither the presented nor the
// configured token is logged anywhere.
func (h *WebhookHandler) authorized(r *http.Request) bool {
	scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	cred = strings.TrimSpace(cred)
	if cred == "" {
		return false
	}
	got := sha256.Sum256([]byte(cred))
	want := h.digest.Load()
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// fail answers a refused notification. Refusals log at debug level only: an
// unauthenticated caller could otherwise flood the log; the counter shows them.
func (h *WebhookHandler) fail(w http.ResponseWriter, r *http.Request, result string, code int, reason string) {
	h.requests.WithLabelValues(result).Inc()
	h.logger.Debug("DocumentTRAK notification refused", "result", result, "status", code, "reason", reason, "remote", r.RemoteAddr)
	http.Error(w, reason, code)
}
