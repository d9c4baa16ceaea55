package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
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

// webhookResults are the result label values of assuresign_webhook_requests_total.
var webhookResults = []string{"accepted", "unwatched", "unauthorized", "bad_request", "too_large", "method_not_allowed"}

// WebhookHandler receives DocumentTRAK notifications. It only ever asks for a
// check of the named document: a status claimed in the body is not trusted.
type WebhookHandler struct {
	tokenFile string
	// Only the token's digest is kept: the token is not held after loading, and
	// comparing digests takes the same time whatever the presented length.
	digest   atomic.Pointer[[sha256.Size]byte]
	trigger  Trigger
	requests *prometheus.CounterVec
	logger   *slog.Logger
	now      func() time.Time
}

// NewWebhookHandler reads the bearer token from tokenFile (trimmed of surrounding white space; empty token is an error naming the file).
func NewWebhookHandler(tokenFile string, trigger Trigger, reg prometheus.Registerer, logger *slog.Logger) (*WebhookHandler, error) {
	if trigger == nil {
		return nil, errors.New("webhook: nil trigger")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &WebhookHandler{
		tokenFile: tokenFile,
		trigger:   trigger,
		logger:    logger,
		now:       time.Now,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assuresign_webhook_requests_total",
			Help: "DocumentTRAK notifications received, by result: accepted, unwatched, unauthorized, bad_request, too_large, method_not_allowed.",
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

// Reload re-reads the token file; on error the old token stays and the error is returned.
func (h *WebhookHandler) Reload() error {
	d, err := readWebhookToken(h.tokenFile)
	if err != nil {
		return err
	}
	h.digest.Store(&d)
	return nil
}

// readWebhookToken returns the token's digest. Errors name the file, never
// its content.
func readWebhookToken(path string) ([sha256.Size]byte, error) {
	var zero [sha256.Size]byte
	f, err := os.Open(path)
	if err != nil {
		return zero, fmt.Errorf("webhook token file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, webhookMaxTokenFile+1))
	if err != nil {
		return zero, fmt.Errorf("webhook token file: %w", err)
	}
	if len(b) > webhookMaxTokenFile {
		return zero, fmt.Errorf("webhook token file %s: larger than %d bytes", path, webhookMaxTokenFile)
	}
	// Editors on Windows may start the file with a byte order mark, which no
	// header can carry: without this every notification would be refused.
	tok := strings.TrimSpace(strings.TrimPrefix(string(b), "\ufeff"))
	if tok == "" {
		return zero, fmt.Errorf("webhook token file %s: empty token", path)
	}
	// A line break or other control character can never arrive in a header,
	// so such a token would silently refuse every notification.
	if strings.IndexFunc(tok, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return zero, fmt.Errorf("webhook token file %s: token holds a control character or line break", path)
	}
	return sha256.Sum256([]byte(tok)), nil
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
	if !h.trigger.CheckNow(id, received) {
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
