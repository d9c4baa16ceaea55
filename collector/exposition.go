package collector

import (
	"bufio"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

// The document families. Each document's samples are rendered once per change
// (as kube-state-metrics does), so a scrape of many documents costs about as
// much as copying bytes.
const (
	famStatus = iota
	famStatusTimestamp
	famStep
	famExceptions
	famLastCheck
	famInfo
	numFamilies
)

const cached = " Cached from the last background CheckStatus refresh; a scrape never calls AssureSign."

var families = [numFamilies]struct{ name, typ, help string }{
	famStatus:          {"assuresign_document_status", "gauge", "Document status as a state set: 1 for the current StatusType, 0 for the others."},
	famStatusTimestamp: {"assuresign_document_status_timestamp_seconds", "gauge", "StatusDate of the document's current status, in Unix seconds."},
	famStep:            {"assuresign_document_signing_step", "gauge", "Signing step number while the document is SigningStepInProgress."},
	famExceptions:      {"assuresign_document_exceptions_total", "counter", "StatusCheckException items received for the document, by severity."},
	famLastCheck:       {"assuresign_document_last_check_timestamp_seconds", "gauge", "When a CheckStatus result for the document last arrived, in Unix seconds."},
	famInfo:            {"assuresign_document_info", "gauge", "Watched document with the labels given in the watch file."},
}

// rendering is one document's samples, family by family: family f is
// buf[off[f]:off[f+1]].
type rendering struct {
	buf []byte
	off [numFamilies + 1]int32
}

func (r *rendering) family(f int) []byte { return r.buf[r.off[f]:r.off[f+1]] }

func (d *document) render() {
	id := d.watched.ID
	b := make([]byte, 0, 1536)
	r := &rendering{}
	sample := func(name, extra string, value float64) {
		b = append(b, name...)
		b = append(b, `{document_id="`...)
		b = append(b, id...)
		b = append(b, '"')
		b = append(b, extra...)
		b = append(b, "} "...)
		b = strconv.AppendFloat(b, value, 'g', -1, 64)
		b = append(b, '\n')
	}
	mark := func(f int) { r.off[f+1] = int32(len(b)) }

	for _, st := range assuresign.Statuses {
		sample(families[famStatus].name, `,status="`+st.String()+`"`, boolFloat(st == d.status))
	}
	mark(famStatus)
	if !d.statusDate.IsZero() {
		sample(families[famStatusTimestamp].name, "", unixSeconds(d.statusDate))
	}
	mark(famStatusTimestamp)
	if d.status == assuresign.StatusSigningStepInProgress && d.step > 0 {
		sample(families[famStep].name, "", float64(d.step))
	}
	mark(famStep)
	for i, sev := range severityIndex {
		// Unknown severities are rare: their series appears only once seen.
		if sev != assuresign.SeverityUnknown || d.exceptions[i] > 0 {
			sample(families[famExceptions].name, `,severity="`+sev.String()+`"`, float64(d.exceptions[i]))
		}
	}
	mark(famExceptions)
	if !d.lastCheck.IsZero() {
		sample(families[famLastCheck].name, "", unixSeconds(d.lastCheck))
	}
	mark(famLastCheck)
	sample(families[famInfo].name, infoLabels(d.watched.Labels), 1)
	mark(famInfo)
	r.buf = b
	d.rendered = r
}

func infoLabels(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	var sb strings.Builder
	for _, k := range slices.Sorted(mapKeys(labels)) {
		sb.WriteString(",")
		sb.WriteString(k)
		sb.WriteString(`="`)
		sb.WriteString(labelValueEscaper.Replace(labels[k]))
		sb.WriteString(`"`)
	}
	return sb.String()
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// labelValueEscaper escapes as both the text format and OpenMetrics require.
var labelValueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// renderings returns every document's rendering in id order. The slices are
// immutable, so the caller writes them without holding the lock.
func (s *Store) renderings() []*rendering {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*rendering, len(s.order))
	for i, id := range s.order {
		out[i] = s.docs[id].rendered
	}
	return out
}

const (
	contentTypeText        = "text/plain; version=0.0.4; charset=utf-8"
	contentTypeOpenMetrics = "application/openmetrics-text; version=1.0.0; charset=utf-8"
)

// MetricsHandler serves /metrics: the documents' pre-rendered samples followed
// by the exporter's own metrics from gatherer, in the text format or
// OpenMetrics as the scraper asks, gzipped when it accepts gzip.
type MetricsHandler struct {
	store    *Store
	gatherer prometheus.Gatherer
	logger   *slog.Logger
}

// NewMetricsHandler returns the /metrics handler.
func NewMetricsHandler(store *Store, gatherer prometheus.Gatherer, logger *slog.Logger) *MetricsHandler {
	return &MetricsHandler{store: store, gatherer: gatherer, logger: logger}
}

var (
	gzipPool  = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return w }}
	bufioPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}
)

func (h *MetricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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

	var out io.Writer = w
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		header.Set("Content-Encoding", "gzip")
		gz := gzipPool.Get().(*gzip.Writer)
		gz.Reset(w)
		defer func() { gz.Close(); gzipPool.Put(gz) }()
		out = gz
	}
	bw := bufioPool.Get().(*bufio.Writer)
	bw.Reset(out)
	defer func() { bw.Reset(nil); bufioPool.Put(bw) }()

	if err := writeDocuments(bw, h.store.renderings(), openMetrics); err != nil {
		h.logger.Debug("writing /metrics failed", "err", err)
		return
	}
	enc := expfmt.NewEncoder(bw, encodeFormat)
	for _, mf := range selfFamilies {
		if err := enc.Encode(mf); err != nil {
			h.logger.Debug("writing /metrics failed", "err", err)
			return
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		_ = c.Close() // OpenMetrics' "# EOF"
	}
	if err := bw.Flush(); err != nil {
		h.logger.Debug("writing /metrics failed", "err", err)
	}
}

func writeDocuments(w *bufio.Writer, docs []*rendering, openMetrics bool) error {
	for f, fam := range families {
		name := fam.name
		if openMetrics && fam.typ == "counter" {
			name = strings.TrimSuffix(name, "_total") // OpenMetrics names the family without it
		}
		w.WriteString("# HELP " + name + " " + fam.help + cached + "\n# TYPE " + name + " " + fam.typ + "\n")
		for _, d := range docs {
			if _, err := w.Write(d.family(f)); err != nil {
				return err
			}
		}
	}
	return nil
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
