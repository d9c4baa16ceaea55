package server

import (
	"bytes"
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

var tailBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (h *metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Gather first: an error must become a 500 before any byte is sent.
	selfFamilies, err := h.gatherer.Gather()
	if err != nil {
		h.logger.Error("gathering exporter metrics failed", "err", err)
		http.Error(w, "gathering exporter metrics failed", http.StatusInternalServerError)
		return
	}
	format := expfmt.NegotiateAccept(r.Header, expfmt.NewFormat(expfmt.TypeTextPlain), expfmt.NewFormat(expfmt.TypeOpenMetrics))
	openMetrics := format.FormatType() == expfmt.TypeOpenMetrics
	header := w.Header()
	header.Set("Content-Type", contentTypeText)
	encodeFormat := expfmt.NewFormat(expfmt.TypeTextPlain)
	if openMetrics {
		header.Set("Content-Type", contentTypeOpenMetrics)
		encodeFormat = expfmt.NewFormat(expfmt.TypeOpenMetrics)
	}
	header.Add("Vary", "Accept-Encoding")

	// The exporter's own metrics are the only part encoded per scrape.
	tail := tailBuffers.Get().(*bytes.Buffer)
	defer tailBuffers.Put(tail)
	tail.Reset()
	enc := expfmt.NewEncoder(tail, encodeFormat)
	for _, mf := range selfFamilies {
		if err := enc.Encode(mf); err != nil {
			h.logger.Error("encoding exporter metrics failed", "err", err)
			http.Error(w, "encoding exporter metrics failed", http.StatusInternalServerError)
			return
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		_ = c.Close() // OpenMetrics' "# EOF"
	}
	gzipped := acceptsGzip(r.Header.Get("Accept-Encoding"))
	if gzipped {
		header.Set("Content-Encoding", "gzip")
	}
	if err := h.store.Metrics().Write(w, openMetrics, gzipped, tail.Bytes()); err != nil {
		h.logger.Debug("writing /metrics failed", "err", err)
	}
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
