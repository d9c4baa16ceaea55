package server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/assuresign-exporter/assuresign_exporter/collector"
)

const (
	contentTypeText        = "text/plain; version=0.0.4; charset=utf-8"
	contentTypeOpenMetrics = "application/openmetrics-text; version=1.0.0; charset=utf-8"
)

// metricsHandler serves /metrics: the documents' samples, rendered and
// compressed when they changed, followed by the exporter's own metrics from
// gatherer, in the text format or OpenMetrics as the scraper asks, gzipped
// when it accepts gzip.
type metricsHandler struct {
	store    *collector.Store
	gatherer prometheus.Gatherer
	logger   *slog.Logger
}

func newMetricsHandler(store *collector.Store, gatherer prometheus.Gatherer, logger *slog.Logger) *metricsHandler {
	return &metricsHandler{store: store, gatherer: gatherer, logger: logger}
}

var (
	tailBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	bodyWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 256<<10) }}
)

func (h *metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	format := expfmt.NegotiateAccept(r.Header, expfmt.NewFormat(expfmt.TypeTextPlain), expfmt.NewFormat(expfmt.TypeOpenMetrics))
	openMetrics := format.FormatType() == expfmt.TypeOpenMetrics
	// The exporter's own metrics are the only part encoded per scrape. They
	// are gathered while the stored documents are written: reading /proc
	// for the process metrics takes longer than writing 10,000 documents.
	tail := tailBuffers.Get().(*bytes.Buffer)
	tail.Reset()
	gathered := make(chan error, 1)
	go func() { gathered <- h.encodeOwn(tail, format) }()
	waited := false
	wait := func() ([]byte, error) {
		waited = true
		if err := <-gathered; err != nil {
			return nil, err
		}
		return tail.Bytes(), nil
	}
	defer func() {
		if !waited { // the body was cut short before the exporter's own metrics
			if err := <-gathered; err != nil {
				h.logger.Debug("gathering exporter metrics failed", "err", err)
			}
		}
		tailBuffers.Put(tail)
	}()

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
	// One large write instead of one per stored segment: a few system calls
	// a scrape, as writing the body from memory would take.
	sent := &countingWriter{w: w}
	bw := bodyWriters.Get().(*bufio.Writer)
	bw.Reset(sent)
	defer func() { bw.Reset(nil); bodyWriters.Put(bw) }()
	err := h.store.Metrics().Write(bw, openMetrics, gzipped, wait)
	if err == nil {
		err = bw.Flush()
	}
	var own *ownMetricsError
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

// ownMetricsError is a failure to gather or encode the exporter's own metrics.
type ownMetricsError struct{ err error }

func (e *ownMetricsError) Error() string { return e.err.Error() }

// encodeOwn gathers and encodes the exporter's own metrics into buf, ending
// with OpenMetrics' "# EOF" in that format.
func (h *metricsHandler) encodeOwn(buf *bytes.Buffer, format expfmt.Format) error {
	families, err := h.gatherer.Gather()
	if err != nil {
		return &ownMetricsError{err}
	}
	enc := expfmt.NewEncoder(buf, format)
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			return &ownMetricsError{err}
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		if err := c.Close(); err != nil {
			return &ownMetricsError{err}
		}
	}
	return nil
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
