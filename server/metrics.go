package server

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

// metricsHandler serves /metrics: the documents' pre-rendered samples followed
// by the exporter's own metrics from gatherer, in the text format or
// OpenMetrics as the scraper asks, gzipped when it accepts gzip.
type metricsHandler struct {
	store    *collector.Store
	gatherer prometheus.Gatherer
	logger   *slog.Logger
	inFlight chan struct{}
}

// maxScrapesInFlight bounds the scrapes rendered at once; the rest queue. A
// scrape of many documents is CPU-bound, and without a bound a crowd of
// scrapers starves the refresh rounds that keep the data fresh.
const maxScrapesInFlight = 4

// newMetricsHandler returns the /metrics handler.
func newMetricsHandler(store *collector.Store, gatherer prometheus.Gatherer, logger *slog.Logger) *metricsHandler {
	return &metricsHandler{store: store, gatherer: gatherer, logger: logger, inFlight: make(chan struct{}, maxScrapesInFlight)}
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

func (h *metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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

	if err := h.store.WriteMetrics(out, openMetrics); err != nil {
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
