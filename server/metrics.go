package server

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/exposition"
)

const (
	contentTypeText        = "text/plain; version=0.0.4; charset=utf-8"
	contentTypeOpenMetrics = "application/openmetrics-text; version=1.0.0; charset=utf-8"
)

// metricsHandler serves /metrics: the documents' samples, rendered and
// compressed when they changed, followed by the exporter's own metrics, in
// the text format or OpenMetrics as the scraper asks, gzipped when it
// accepts gzip.
type metricsHandler struct {
	store  *collector.Store
	tail   *tailMetrics
	logger *slog.Logger
	// negotiated is the last Accept header's format: a scraper sends the
	// same header every time, and negotiating parses it anew.
	negotiated atomic.Pointer[negotiation]
}

type negotiation struct {
	accept string
	format expfmt.Format
}

// format is the exposition format the request's Accept header asks for.
func (h *metricsHandler) format(r *http.Request) expfmt.Format {
	accept := r.Header["Accept"]
	if last := h.negotiated.Load(); last != nil && len(accept) == 1 && accept[0] == last.accept {
		return last.format
	}
	format := expfmt.NegotiateAccept(r.Header, expfmt.NewFormat(expfmt.TypeTextPlain), expfmt.NewFormat(expfmt.TypeOpenMetrics))
	if len(accept) == 1 {
		h.negotiated.Store(&negotiation{accept[0], format})
	}
	return format
}

func newMetricsHandler(store *collector.Store, tail *tailMetrics, logger *slog.Logger) *metricsHandler {
	return &metricsHandler{store: store, tail: tail, logger: logger}
}

// bodyWriters keeps batch writers between scrapes. Unlike a sync.Pool it is
// not emptied by every garbage collection.
var bodyWriters = make(chan *batchWriter, 8)

func getBatchWriter(w io.Writer) *batchWriter {
	select {
	case b := <-bodyWriters:
		b.w = w
		return b
	default:
		return &batchWriter{w: w, buf: make([]byte, 0, 256<<10)}
	}
}

func putBatchWriter(b *batchWriter) {
	b.w, b.buf = nil, b.buf[:0]
	select {
	case bodyWriters <- b:
	default:
	}
}

// batchWriter gathers small writes into one, so a scrape takes a few system
// calls as writing the body from memory would, and passes a large one
// straight through rather than copy it first.
type batchWriter struct {
	w   io.Writer
	buf []byte
}

// straight is the size from which a write is not copied into the batch.
const straight = 32 << 10

func (b *batchWriter) Write(p []byte) (int, error) {
	large := len(p) >= straight
	if large || len(b.buf)+len(p) > cap(b.buf) {
		if err := b.Flush(); err != nil {
			return 0, err
		}
	}
	if large {
		return b.w.Write(p)
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// Flush writes what is gathered.
func (b *batchWriter) Flush() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

func (h *metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	format := h.format(r)
	openMetrics := format.FormatType() == expfmt.TypeOpenMetrics
	// The exporter's own metrics are gathered while the stored documents
	// are written.
	type gathered struct {
		tails []*exposition.Tail
		err   error
	}
	done := make(chan gathered, 1)
	go func() {
		tails, err := h.tail.tails(format)
		done <- gathered{tails, err}
	}()
	wait := func() ([]*exposition.Tail, error) { g := <-done; return g.tails, g.err }

	header := w.Header()
	header.Set("Content-Type", contentTypeText)
	if openMetrics {
		header.Set("Content-Type", contentTypeOpenMetrics)
	}
	header.Add("Vary", "Accept-Encoding")
	gzipped := acceptsGzip(r.Header.Get("Accept-Encoding"))
	if gzipped {
		header.Set("Content-Encoding", "gzip")
	}
	e := h.store.Metrics()
	if !gzipped {
		// A plain body is large and its length known once the exporter's
		// own metrics are: with it, the body goes out in plain writes,
		// not in chunks of its many segments.
		tails, err := wait()
		if err != nil {
			h.logger.Error("gathering exporter metrics failed", "err", err)
			http.Error(w, "gathering exporter metrics failed", http.StatusInternalServerError)
			return
		}
		header.Set("Content-Length", strconv.Itoa(e.PlainLength(openMetrics, tails)))
		wait = func() ([]*exposition.Tail, error) { return tails, nil }
	}
	sent := &countingWriter{w: w}
	bw := getBatchWriter(sent)
	defer putBatchWriter(bw)
	err := e.Write(bw, openMetrics, gzipped, wait)
	var own *ownMetricsError
	if err == nil {
		err = bw.Flush()
	} else if errors.As(err, &own) && sent.n > 0 {
		_ = bw.Flush() // the documents gathered last, so the body ends after them
	}
	switch {
	case errors.As(err, &own) && sent.n == 0:
		// Nothing was sent yet: the error can still be the answer.
		h.logger.Error("gathering exporter metrics failed", "err", own.err)
		header.Del("Content-Encoding")
		http.Error(w, "gathering exporter metrics failed", http.StatusInternalServerError)
	case errors.As(err, &own):
		// Too late for a 500: the body ends without the exporter's own
		// metrics (and, under OpenMetrics, without "# EOF", so the scrape fails).
		h.logger.Error("gathering exporter metrics failed", "err", own.err)
	case err != nil:
		h.logger.Debug("writing /metrics failed", "err", err)
	}
}

// RuntimeMetricsMaxAge is how long the Go runtime's and the process's
// metrics are reused: gathering them reads /proc and the runtime's
// statistics, work a scrape of stored bytes should not repeat every time.
const RuntimeMetricsMaxAge = time.Second

// tailMetrics is what a scrape writes after the documents: the envelopes'
// families, encoded once per EnvelopesGeneration, the runtime's and the
// process's metrics, gathered at most once per RuntimeMetricsMaxAge, then the
// exporter's own, gathered every scrape (a reload's or a round's
// outcome shows at once) but compressed again only when they changed.
type tailMetrics struct {
	runtime, own prometheus.Gatherer // runtime may be nil
	now          func() time.Time
	envelopes    prometheus.Gatherer // may be nil
	envelopesGen func() uint64       // set with envelopes

	mu            sync.Mutex
	runtimeAt     [2]time.Time // by format: text, OpenMetrics
	runtimeTail   [2]*exposition.Tail
	envelopesAt   [2]uint64 // the generation envelopesTail was encoded at
	envelopesTail [2]*exposition.Tail
	ownTail       [2]*exposition.Tail
	ownScratch    [2]bytes.Buffer // the own metrics are encoded here, kept only when they changed
}

// tails returns the tails to write after the documents, the last final.
func (s *tailMetrics) tails(format expfmt.Format) ([]*exposition.Tail, error) {
	v := 0
	if format.FormatType() == expfmt.TypeOpenMetrics {
		v = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*exposition.Tail, 0, 3)
	if s.envelopes != nil {
		// Read before gathering: a publish in between only makes the next
		// scrape encode them again.
		if gen := s.envelopesGen(); s.envelopesTail[v] == nil || gen != s.envelopesAt[v] {
			plain, err := encode(new(bytes.Buffer), s.envelopes, format, false)
			if err != nil {
				return nil, err
			}
			s.envelopesTail[v], s.envelopesAt[v] = exposition.NewTail(plain, false), gen
		}
		out = append(out, s.envelopesTail[v])
	}
	if s.runtime != nil {
		if now := s.now(); s.runtimeTail[v] == nil || now.Sub(s.runtimeAt[v]) >= RuntimeMetricsMaxAge || now.Before(s.runtimeAt[v]) {
			plain, err := encode(new(bytes.Buffer), s.runtime, format, false)
			if err != nil {
				return nil, err
			}
			s.runtimeTail[v], s.runtimeAt[v] = exposition.NewTail(plain, false), now
		}
		out = append(out, s.runtimeTail[v])
	}
	s.ownScratch[v].Reset()
	plain, err := encode(&s.ownScratch[v], s.own, format, true)
	if err != nil {
		return nil, err
	}
	if t := s.ownTail[v]; t == nil || !bytes.Equal(t.Plain(), plain) {
		s.ownTail[v] = exposition.NewTail(bytes.Clone(plain), true)
	}
	return append(out, s.ownTail[v]), nil
}

// ownMetricsError is a failure to gather or encode the exporter's own metrics.
type ownMetricsError struct{ err error }

func (e *ownMetricsError) Error() string { return e.err.Error() }

// encode gathers g and encodes its metrics in format into buf, ending with
// OpenMetrics' "# EOF" in that format when last.
func encode(buf *bytes.Buffer, g prometheus.Gatherer, format expfmt.Format, last bool) ([]byte, error) {
	families, err := g.Gather()
	if err != nil {
		return nil, &ownMetricsError{err}
	}
	enc := expfmt.NewEncoder(buf, format)
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			return nil, &ownMetricsError{err}
		}
	}
	if c, ok := enc.(expfmt.Closer); ok && last {
		if err := c.Close(); err != nil {
			return nil, &ownMetricsError{err}
		}
	}
	return buf.Bytes(), nil
}

// countingWriter counts the bytes that reached the client's connection.
type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(v string) bool {
	for part := range strings.SplitSeq(v, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
