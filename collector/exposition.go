package collector

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"runtime"
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
// much as copying bytes. The state set is the exception: its nine lines per
// document, more than half of a rendering, differ only in the document's id
// and which line is 1, so a scrape writes them from the status instead (a few
// milliseconds for 100,000 documents, against about 100 MB kept).
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
// buf[off[f]:off[f+1]], except famStatus, which is empty there and written by
// appendStateSet from id and status.
type rendering struct {
	id     string
	status int8 // index of the current status in assuresign.Statuses (which lists them all)
	buf    []byte
	off    [numFamilies + 1]int32
}

func (r *rendering) family(f int) []byte { return r.buf[r.off[f]:r.off[f+1]] }

// The constant parts of the samples, built once: render runs for every
// document on every check.
var (
	samplePrefix = func() (out [numFamilies]string) {
		for f, fam := range families {
			out[f] = fam.name + `{document_id="`
		}
		return out
	}()
	// stateSetTails[i][v] ends the state set's line for Statuses[i] with value v.
	stateSetTails = func() [][2]string {
		out := make([][2]string, len(assuresign.Statuses))
		for i, st := range assuresign.Statuses {
			out[i] = [2]string{`",status="` + st.String() + `"} 0` + "\n", `",status="` + st.String() + `"} 1` + "\n"}
		}
		return out
	}()
	severityLabels = func() (out [len(severityIndex)]string) {
		for i, sev := range severityIndex {
			out[i] = `,severity="` + sev.String() + `"`
		}
		return out
	}()
)

// renderScratch holds the buffers render grows its samples in; the rendering
// keeps an exact-size copy. Renderings are most of the exporter's memory (about
// 1.6 KB a document), and growing each in place would leave about a third of
// every buffer unused, and cost a growth copy on every check.
var renderScratch = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (d *document) render() {
	id := d.watched.ID
	scratch := renderScratch.Get().(*[]byte)
	b := (*scratch)[:0]
	r := &rendering{id: id, status: int8(slices.Index(assuresign.Statuses, d.status))}
	sample := func(f int, extra string, value float64) {
		b = append(b, samplePrefix[f]...)
		b = append(b, id...)
		b = append(b, '"')
		b = append(b, extra...)
		b = append(b, "} "...)
		b = strconv.AppendFloat(b, value, 'g', -1, 64)
		b = append(b, '\n')
	}
	mark := func(f int) { r.off[f+1] = int32(len(b)) }

	mark(famStatus) // written at scrape time
	if !d.statusDate.IsZero() {
		sample(famStatusTimestamp, "", unixSeconds(d.statusDate))
	}
	mark(famStatusTimestamp)
	if d.status == assuresign.StatusSigningStepInProgress && d.step > 0 {
		sample(famStep, "", float64(d.step))
	}
	mark(famStep)
	for i, sev := range severityIndex {
		// Unknown severities are rare: their series appears only once seen.
		if sev != assuresign.SeverityUnknown || d.exceptions[i] > 0 {
			sample(famExceptions, severityLabels[i], float64(d.exceptions[i]))
		}
	}
	mark(famExceptions)
	if !d.lastCheck.IsZero() {
		sample(famLastCheck, "", unixSeconds(d.lastCheck))
	}
	mark(famLastCheck)
	b = append(b, samplePrefix[famInfo]...)
	b = append(b, id...)
	b = append(b, '"')
	b = appendInfoLabels(b, d.watched.Labels)
	b = append(b, "} 1\n"...)
	mark(famInfo)
	r.buf = bytes.Clone(b)
	*scratch = b
	renderScratch.Put(scratch)
	d.rendered = r
}

// A watched document's id is a GUID, so all state sets of one status are the
// same bytes but for the id in each line: stateSetTemplates[s] is the state
// set of a document whose status index is s, with zeros for the id, which goes
// at stateSetIDOffsets.
var stateSetTemplates, stateSetIDOffsets = func() ([][]byte, []int) {
	placeholder := strings.Repeat("0", guidLength)
	var templates [][]byte
	for s := range assuresign.Statuses {
		templates = append(templates, appendStateSetLines(nil, &rendering{id: placeholder, status: int8(s)}))
	}
	var offsets []int
	off := 0
	for i := range stateSetTails {
		offsets = append(offsets, off+len(samplePrefix[famStatus]))
		off += len(samplePrefix[famStatus]) + guidLength + len(stateSetTails[i][0])
	}
	return templates, offsets
}()

const guidLength = len("00000000-0000-0000-0000-000000000000")

// appendStateSet appends r's state set: a line per status, 1 for the current one.
func appendStateSet(b []byte, r *rendering) []byte {
	if len(r.id) != guidLength {
		return appendStateSetLines(b, r)
	}
	n := len(b)
	b = append(b, stateSetTemplates[r.status]...)
	for _, off := range stateSetIDOffsets {
		copy(b[n+off:], r.id)
	}
	return b
}

// appendStateSetLines is appendStateSet for any id.
func appendStateSetLines(b []byte, r *rendering) []byte {
	for i := range stateSetTails {
		b = append(b, samplePrefix[famStatus]...)
		b = append(b, r.id...)
		v := 0
		if i == int(r.status) {
			v = 1
		}
		b = append(b, stateSetTails[i][v]...)
	}
	return b
}

// appendInfoLabels appends the watch file's labels, sorted by name.
func appendInfoLabels(b []byte, labels map[string]string) []byte {
	if len(labels) == 0 {
		return b
	}
	keys := make([]string, 0, 8)
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = append(b, ',')
		b = append(b, k...)
		b = append(b, `="`...)
		b = append(b, labelValueEscaper.Replace(labels[k])...)
		b = append(b, '"')
	}
	return b
}

// labelValueEscaper escapes as both the text format and OpenMetrics require.
var labelValueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

// unixSeconds adds the fraction separately: float64(t.UnixNano()) already
// rounds to 256 ns, so 12:00:30.25 would show as …30.2499998.
func unixSeconds(t time.Time) float64 { return float64(t.Unix()) + float64(t.Nanosecond())/1e9 }

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
	inFlight chan struct{}
}

// maxScrapesInFlight bounds the scrapes rendered at once; the rest queue. A
// scrape of many documents is CPU-bound, and without a bound a crowd of
// scrapers starves the refresh rounds that keep the data fresh.
const maxScrapesInFlight = 4

// NewMetricsHandler returns the /metrics handler.
func NewMetricsHandler(store *Store, gatherer prometheus.Gatherer, logger *slog.Logger) *MetricsHandler {
	return &MetricsHandler{store: store, gatherer: gatherer, logger: logger, inFlight: make(chan struct{}, maxScrapesInFlight)}
}

// bufioPool's writers send a plain answer 256 KiB at a time: fewer, larger
// writes than net/http's own buffering, at a small cost per scrape in flight.
var bufioPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 256<<10) }}

// bodyWriter is what a scrape's body goes through: a buffered writer for a
// plain answer, a parallelGzip for a gzipped one.
type bodyWriter interface {
	io.Writer
	io.StringWriter
}

func (h *MetricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case h.inFlight <- struct{}{}:
		defer func() { <-h.inFlight }()
	case <-r.Context().Done():
		return // the scraper gave up while queued
	}
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

	var (
		out    bodyWriter
		finish func() error
	)
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		header.Set("Content-Encoding", "gzip")
		zw := newParallelGzip(w)
		defer zw.abort() // no writes after the handler returns, whatever happens
		out, finish = zw, zw.Close
	} else {
		bw := bufioPool.Get().(*bufio.Writer)
		bw.Reset(w)
		defer func() { bw.Reset(nil); bufioPool.Put(bw) }()
		out, finish = bw, bw.Flush
	}

	if err := writeDocuments(out, h.store.renderings(), openMetrics); err != nil {
		h.logger.Debug("writing /metrics failed", "err", err)
		return
	}
	enc := expfmt.NewEncoder(out, encodeFormat)
	for _, mf := range selfFamilies {
		if err := enc.Encode(mf); err != nil {
			h.logger.Debug("writing /metrics failed", "err", err)
			return
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		_ = c.Close() // OpenMetrics' "# EOF"
	}
	if err := finish(); err != nil {
		h.logger.Debug("writing /metrics failed", "err", err)
	}
}

func writeDocuments(w bodyWriter, docs []*rendering, openMetrics bool) error {
	for f, fam := range families {
		name := fam.name
		if openMetrics && fam.typ == "counter" {
			name = strings.TrimSuffix(name, "_total") // OpenMetrics names the family without it
		}
		if _, err := w.WriteString("# HELP " + name + " " + fam.help + cached + "\n# TYPE " + name + " " + fam.typ + "\n"); err != nil {
			return err
		}
		if f == famStatus {
			if err := writeStateSets(w, docs); err != nil {
				return err
			}
			continue
		}
		for _, d := range docs {
			if _, err := w.Write(d.family(f)); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeStateSets writes every document's state set, 32 KiB at a time.
func writeStateSets(w io.Writer, docs []*rendering) error {
	scratch := renderScratch.Get().(*[]byte)
	defer renderScratch.Put(scratch)
	b := (*scratch)[:0]
	for _, d := range docs {
		b = appendStateSet(b, d)
		if len(b) >= 32<<10 {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	*scratch = b
	_, err := w.Write(b)
	return err
}

// Gzip on every core. A scrape of 100,000 documents is about 160 MB before
// compression, and deflate at BestSpeed manages a few hundred MB/s on one
// core, so one stream alone would take most of a second. parallelGzip cuts the
// body into blocks and deflates them at once on all cores. Each block has a
// fresh compressor (no back-reference crosses blocks) and ends with a sync
// flush (byte-aligned, not final), so the blocks concatenate into one valid
// deflate stream; the writer adds gzip's header and its trailer (CRC-32 and
// length of the whole). The answer is one ordinary gzip member and
// decompresses to exactly the bytes written; it is about 1% larger than one
// stream would be (a block's start cannot refer to the block before).
//
// Memory stays bounded however many scrapes run: a scrape holds at most
// GOMAXPROCS+1 blocks (about 1 MiB on two cores), and at most GOMAXPROCS
// blocks are deflated at once over all scrapes, so at most that many
// compressors (about 1.1 MiB each) are in use.
const gzipBlockSize = 256 << 10

// gzipSlots bounds the blocks being deflated at once, over all scrapes.
var gzipSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

type gzipBlock struct {
	in   []byte
	out  bytes.Buffer
	done chan struct{} // closed when out holds in, deflated
}

var (
	gzipBlocks   = sync.Pool{New: func() any { return &gzipBlock{in: make([]byte, 0, gzipBlockSize)} }}
	flateWriters = sync.Pool{New: func() any { w, _ := flate.NewWriter(nil, flate.BestSpeed); return w }}
	// gzipHeader is what gzip.Writer writes at BestSpeed with no name, comment or time.
	gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255}
	// deflateEnd is an empty final block: the end of the deflate stream.
	deflateEnd = func() []byte {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, flate.BestSpeed)
		_ = w.Close()
		return b.Bytes()
	}()
)

// parallelGzip is a gzip writer compressing blocks concurrently. One goroutine
// writes the compressed blocks to w in order, so w sees one writer at a time;
// Close or abort must be called before w may no longer be written.
type parallelGzip struct {
	w       io.Writer
	cur     *gzipBlock      // being filled
	queue   chan *gzipBlock // blocks being compressed, in order
	drained chan struct{}   // closed when the writing goroutine is done
	ended   bool

	mu  sync.Mutex
	err error // the first error writing to w

	// Only the writing goroutine touches these until drained is closed.
	crc  uint32
	size uint32
}

func newParallelGzip(w io.Writer) *parallelGzip {
	// With the block the writer waits for and the one being queued, as many
	// blocks as cores can be deflating for this scrape.
	z := &parallelGzip{w: w, queue: make(chan *gzipBlock, max(runtime.GOMAXPROCS(0)-1, 1)), drained: make(chan struct{})}
	go z.writeBlocks()
	return z
}

func (z *parallelGzip) writeBlocks() {
	defer close(z.drained)
	z.write(gzipHeader)
	for b := range z.queue {
		<-b.done
		if z.failed() == nil {
			z.crc = crc32.Update(z.crc, crc32.IEEETable, b.in)
			z.size += uint32(len(b.in)) // ISIZE is the length modulo 2^32
			z.write(b.out.Bytes())
		}
		gzipBlocks.Put(b)
	}
}

func (z *parallelGzip) write(p []byte) {
	if _, err := z.w.Write(p); err != nil {
		z.mu.Lock()
		if z.err == nil {
			z.err = err
		}
		z.mu.Unlock()
	}
}

func (z *parallelGzip) failed() error {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.err
}

func (z *parallelGzip) Write(p []byte) (int, error) { return zwrite(z, p) }

func (z *parallelGzip) WriteString(s string) (int, error) { return zwrite(z, s) }

// zwrite copies p into blocks, starting each block's compression once it is
// full. A write error shows at the next block.
func zwrite[T string | []byte](z *parallelGzip, p T) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if z.cur == nil {
			z.cur = gzipBlocks.Get().(*gzipBlock)
			z.cur.in = z.cur.in[:0]
			z.cur.out.Reset()
			z.cur.done = make(chan struct{})
		}
		k := copy(z.cur.in[len(z.cur.in):cap(z.cur.in)], p)
		z.cur.in = z.cur.in[:len(z.cur.in)+k]
		p = p[k:]
		if len(z.cur.in) == cap(z.cur.in) {
			z.submit()
			if err := z.failed(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// submit starts compressing the current block and queues it for writing; it
// waits while the queue is full.
func (z *parallelGzip) submit() {
	b := z.cur
	z.cur = nil
	go func() {
		gzipSlots <- struct{}{}
		fw := flateWriters.Get().(*flate.Writer)
		fw.Reset(&b.out)
		_, _ = fw.Write(b.in) // a bytes.Buffer does not fail
		_ = fw.Flush()
		flateWriters.Put(fw)
		<-gzipSlots
		close(b.done)
	}()
	z.queue <- b
}

// Close compresses what is left, waits for every block to be written and
// ends the stream.
func (z *parallelGzip) Close() error {
	if z.ended {
		return z.failed()
	}
	if z.cur != nil && len(z.cur.in) > 0 {
		z.submit()
	}
	z.end()
	if err := z.failed(); err != nil {
		return err
	}
	trailer := make([]byte, 0, len(deflateEnd)+8)
	trailer = append(trailer, deflateEnd...)
	trailer = binary.LittleEndian.AppendUint32(trailer, z.crc)
	trailer = binary.LittleEndian.AppendUint32(trailer, z.size)
	_, err := z.w.Write(trailer)
	return err
}

// abort waits for the blocks in flight and drops the rest, leaving the
// stream unfinished; it does nothing after Close.
func (z *parallelGzip) abort() {
	if !z.ended {
		z.end()
	}
}

func (z *parallelGzip) end() {
	z.ended = true
	if z.cur != nil {
		gzipBlocks.Put(z.cur)
		z.cur = nil
	}
	close(z.queue)
	<-z.drained
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
