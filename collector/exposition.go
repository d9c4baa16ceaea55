package collector

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

// The document families, in the order they are written.
const (
	famStatus = iota
	famStatusTimestamp
	famStep
	famExceptions
	famLastCheck
	famCheckSuccess
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
	famCheckSuccess:    {"assuresign_document_check_success", "gauge", "1 when AssureSign's last answer about the document carried its status, 0 when it did not (no result, or only exceptions: a wrong AuthToken or ContextIdentifier, a deleted document, another region)."},
	famInfo:            {"assuresign_document_info", "gauge", "Watched document with the labels given in the watch file."},
}

// Family is a document family as /metrics writes it.
type Family struct{ Name, Type, Help string }

// DocumentFamilies returns the document families, with their HELP text as
// written (assuresign_document_status in its state-set form), for what lists
// every family the exporter exposes (docs/metrics.md's test). The exporter's
// other families are registered with a prometheus.Registerer and described
// there.
func DocumentFamilies() []Family {
	out := make([]Family, len(families))
	for i, f := range families {
		out[i] = Family{Name: f.name, Type: f.typ, Help: f.help + cached}
	}
	return out
}

// currentStatusHelp replaces the state set's help when only the current
// status is written.
const currentStatusHelp = "Document status: one series per document, value 1, labelled with the current StatusType."

// The exposition is kept rendered and compressed, so a scrape between two
// rounds only writes stored bytes. Documents are cut, in id order, into
// chunks of chunkSize; each chunk keeps one segment per family. A change
// marks its document's chunk dirty, and publish re-renders dirty chunks,
// recompressing only the families whose bytes changed. Samples of a family
// stay together: the body is, family by family, its header and then that
// family's segment of every chunk.
const chunkSize = 256

// segment is one family's samples for one chunk: its plain bytes and the
// same deflated by a compressor of its own and flushed to a byte boundary,
// not final, so segments concatenate into one deflate stream. crc and size
// let the gzip trailer be computed without reading the plain bytes again.
type segment struct {
	plain []byte // nil for the state sets, written from chunk.states
	gz    []byte
	crc   uint32
	size  int
}

// stateRef is what a plain state set is written from: a scrape stamps it
// from a template (a state set is about half the plain body, and keeping it
// would double the exporter's memory).
type stateRef struct {
	id     string
	status assuresign.Status
}

// statusPos[s] is s's place in assuresign.Statuses, the state set's order.
var statusPos = func() []int {
	out := make([]int, len(assuresign.Statuses))
	for i, s := range assuresign.Statuses {
		out[s] = i
	}
	return out
}()

type chunk struct {
	fams   [numFamilies]*segment
	states []stateRef
}

// Exposition is one published rendering of every document: immutable, so
// any number of scrapes write it without a lock.
type Exposition struct {
	chunks      []*chunk
	headers     *[2][numFamilies]*segment // text, OpenMetrics
	currentOnly bool
	// crc and size of the whole documents' part, text and OpenMetrics.
	crc  [2]uint32
	size [2]int
}

// PublishStats describe the work of one publish.
type PublishStats struct {
	Chunks       int // chunks re-rendered
	Recompressed int // plain bytes compressed again
	Total        int // plain bytes of the documents' part
}

// headersFor returns the families' HELP and TYPE lines, compressed, in the
// text format and OpenMetrics, which names counter families without _total.
func headersFor(currentOnly bool) *[2][numFamilies]*segment {
	var out [2][numFamilies]*segment
	for v := range out {
		for f, fam := range families {
			name, help := fam.name, fam.help
			if v == 1 && fam.typ == "counter" {
				name = strings.TrimSuffix(name, "_total")
			}
			if f == famStatus && currentOnly {
				help = currentStatusHelp
			}
			out[v][f] = newSegment([]byte("# HELP " + name + " " + help + cached + "\n# TYPE " + name + " " + fam.typ + "\n"))
		}
	}
	return &out
}

var (
	stateSetHeaders    = headersFor(false)
	currentOnlyHeaders = headersFor(true)
)

// flateWriters keeps compressors between uses. Unlike a sync.Pool it is not
// emptied by every garbage collection: a compressor is about 1 MB to
// allocate and set up, more than compressing a scrape's own metrics.
var flateWriters = make(chan *flate.Writer, 8)

func getFlateWriter(w io.Writer) *flate.Writer {
	select {
	case fw := <-flateWriters:
		fw.Reset(w)
		return fw
	default:
		fw, _ := flate.NewWriter(w, flate.BestSpeed)
		return fw
	}
}

func putFlateWriter(fw *flate.Writer) {
	select {
	case flateWriters <- fw:
	default:
	}
}

func newSegment(plain []byte) *segment {
	var out bytes.Buffer
	fw := getFlateWriter(&out)
	_, _ = fw.Write(plain) // a bytes.Buffer does not fail
	_ = fw.Flush()
	putFlateWriter(fw)
	return &segment{plain: plain, gz: bytes.Clone(out.Bytes()), crc: crc32.ChecksumIEEE(plain), size: len(plain)}
}

// publish renders the dirty chunks and makes the result what scrapes write.
// Called with s.mu held for writing.
func (s *Store) publish() PublishStats {
	var stats PublishStats
	old := s.exposition.Load()
	n := (len(s.order) + chunkSize - 1) / chunkSize
	e := &Exposition{chunks: make([]*chunk, n), headers: stateSetHeaders, currentOnly: s.cfg.CurrentStatusOnly}
	if e.currentOnly {
		e.headers = currentOnlyHeaders
	}
	scratch := renderScratch.Get().(*[]byte)
	for c := range e.chunks {
		var prev *chunk
		if old != nil && c < len(old.chunks) && old.currentOnly == e.currentOnly {
			prev = old.chunks[c]
		}
		if prev != nil && !s.dirty[c] {
			e.chunks[c] = prev
			continue
		}
		stats.Chunks++
		docs := make([]*document, 0, chunkSize)
		for _, id := range s.order[c*chunkSize : min((c+1)*chunkSize, len(s.order))] {
			docs = append(docs, s.docs[id])
		}
		ch := &chunk{states: make([]stateRef, len(docs))}
		for i, d := range docs {
			ch.states[i] = stateRef{id: d.watched.ID, status: d.status}
		}
		for f := range numFamilies {
			if prev != nil && f == famStatus && slices.Equal(prev.states, ch.states) {
				ch.fams[f] = prev.fams[f]
				continue
			}
			b := appendFamily((*scratch)[:0], f, docs, ch.states, e.currentOnly)
			*scratch = b
			if prev != nil && f != famStatus && bytes.Equal(prev.fams[f].plain, b) {
				ch.fams[f] = prev.fams[f]
				continue
			}
			plain := bytes.Clone(b)
			seg := newSegment(plain)
			if f == famStatus {
				seg.plain = nil
			}
			stats.Recompressed += len(plain)
			ch.fams[f] = seg
		}
		e.chunks[c] = ch
	}
	renderScratch.Put(scratch)
	clear(s.dirty)
	for v := range 2 {
		for f := range numFamilies {
			e.add(v, e.headers[v][f])
			for _, ch := range e.chunks {
				e.add(v, ch.fams[f])
			}
		}
	}
	stats.Total = e.size[0]
	s.exposition.Store(e)
	return stats
}

func (e *Exposition) add(v int, seg *segment) {
	e.crc[v] = crc32Combine(e.crc[v], seg.crc, int64(seg.size))
	e.size[v] += seg.size
}

// appendFamily appends family f's samples for docs.
func appendFamily(b []byte, f int, docs []*document, states []stateRef, currentOnly bool) []byte {
	if f == famStatus {
		for _, st := range states {
			b = appendStateSet(b, st, currentOnly)
		}
		return b
	}
	for _, d := range docs {
		b = d.appendSamples(b, f)
	}
	return b
}

// Metrics returns the latest published exposition.
func (s *Store) Metrics() *Exposition { return s.exposition.Load() }

// gzipHeader is what gzip.Writer writes with no name, comment or time.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

// Write writes the documents' samples followed by what tail returns (the
// exporter's own metrics, encoded, "# EOF" included under OpenMetrics; it is
// called once the documents are written, so they can be gathered meanwhile):
// plain, or, with gzipped, as one gzip member of which only the tail is
// compressed now. An error from tail ends the body there and is returned.
func (e *Exposition) Write(w io.Writer, openMetrics, gzipped bool, tail func() ([]byte, error)) error {
	v := 0
	if openMetrics {
		v = 1
	}
	if !gzipped {
		return e.writePlain(w, v, tail)
	}
	if _, err := w.Write(gzipHeader); err != nil {
		return err
	}
	for f := range numFamilies {
		if _, err := w.Write(e.headers[v][f].gz); err != nil {
			return err
		}
		for _, ch := range e.chunks {
			if _, err := w.Write(ch.fams[f].gz); err != nil {
				return err
			}
		}
	}
	own, err := tail()
	if err != nil {
		return err
	}
	fw := getFlateWriter(w)
	defer putFlateWriter(fw)
	if _, err := fw.Write(own); err != nil {
		return err
	}
	if err := fw.Close(); err != nil { // the final block
		return err
	}
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], crc32Combine(e.crc[v], crc32.ChecksumIEEE(own), int64(len(own))))
	binary.LittleEndian.PutUint32(trailer[4:], uint32(e.size[v]+len(own))) //nolint:gosec // ISIZE is the length modulo 2^32 (RFC 1952)
	_, err = w.Write(trailer[:])
	return err
}

func (e *Exposition) writePlain(w io.Writer, v int, tail func() ([]byte, error)) error {
	scratch := renderScratch.Get().(*[]byte)
	defer renderScratch.Put(scratch)
	for f := range numFamilies {
		if _, err := w.Write(e.headers[v][f].plain); err != nil {
			return err
		}
		for _, ch := range e.chunks {
			p := ch.fams[f].plain
			if f == famStatus {
				*scratch = appendFamily((*scratch)[:0], f, nil, ch.states, e.currentOnly)
				p = *scratch
			}
			if _, err := w.Write(p); err != nil {
				return err
			}
		}
	}
	own, err := tail()
	if err != nil {
		return err
	}
	_, err = w.Write(own)
	return err
}

// renderScratch holds the buffers samples are rendered into before they are
// copied to their exact size.
var renderScratch = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// The constant parts of the samples, built once.
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

// appendSamples appends d's samples of family f (not the state set).
func (d *document) appendSamples(b []byte, f int) []byte {
	id := d.watched.ID
	sample := func(extra string, value float64) {
		b = append(b, samplePrefix[f]...)
		b = append(b, id...)
		b = append(b, '"')
		b = append(b, extra...)
		b = append(b, "} "...)
		b = strconv.AppendFloat(b, value, 'g', -1, 64)
		b = append(b, '\n')
	}
	switch f {
	case famStatusTimestamp:
		if !d.statusDate.IsZero() {
			sample("", unixSeconds(d.statusDate))
		}
	case famStep:
		if d.status == assuresign.StatusSigningStepInProgress && d.step > 0 {
			sample("", float64(d.step))
		}
	case famExceptions:
		for i, sev := range severityIndex {
			// Unknown severities are rare: their series appears only once seen.
			if sev != assuresign.SeverityUnknown || d.exceptions[i] > 0 {
				sample(severityLabels[i], float64(d.exceptions[i]))
			}
		}
	case famLastCheck:
		if !d.lastCheck.IsZero() {
			sample("", unixSeconds(d.lastCheck))
		}
	case famCheckSuccess:
		if d.answered {
			v := 0.0
			if d.checkOK {
				v = 1
			}
			sample("", v)
		}
	case famInfo:
		b = append(b, samplePrefix[famInfo]...)
		b = append(b, id...)
		b = append(b, '"')
		b = appendInfoLabels(b, d.watched.Labels)
		b = append(b, "} 1\n"...)
	}
	return b
}

// A watched document's id is a GUID, so all state sets of one status are the
// same bytes but for the id in each line: stateSetTemplates[s] is the state
// set of a document whose status index is s, with zeros for the id, which goes
// at stateSetIDOffsets. Both are in assuresign.Statuses' order.
var stateSetTemplates, stateSetIDOffsets = func() ([][]byte, []int) {
	placeholder := strings.Repeat("0", guidLength)
	var templates [][]byte
	for _, s := range assuresign.Statuses {
		templates = append(templates, appendStateSetLines(nil, stateRef{id: placeholder, status: s}, false))
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

// appendStateSet appends st's state set: a line per status, 1 for the
// current one; with currentOnly, only the current one's line.
func appendStateSet(b []byte, st stateRef, currentOnly bool) []byte {
	if currentOnly || len(st.id) != guidLength {
		return appendStateSetLines(b, st, currentOnly)
	}
	n := len(b)
	b = append(b, stateSetTemplates[statusPos[st.status]]...)
	for _, off := range stateSetIDOffsets {
		copy(b[n+off:], st.id)
	}
	return b
}

// appendStateSetLines is appendStateSet for any id.
func appendStateSetLines(b []byte, st stateRef, currentOnly bool) []byte {
	for i := range stateSetTails {
		v := 0
		if i == statusPos[st.status] {
			v = 1
		}
		if currentOnly && v == 0 {
			continue
		}
		b = append(b, samplePrefix[famStatus]...)
		b = append(b, st.id...)
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

// crc32Combine returns the CRC-32 (IEEE) of A followed by B from their CRCs
// and B's length, as zlib's crc32_combine does: crcA times x^(8·lenB)
// modulo the polynomial, plus crcB.
func crc32Combine(crcA, crcB uint32, lenB int64) uint32 {
	return multModP(x2nModP(lenB, 3), crcA) ^ crcB
}

// multModP multiplies a and b modulo the reflected CRC-32 polynomial.
func multModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				break
			}
		}
		if b&1 != 0 {
			b = b>>1 ^ crc32.IEEE
		} else {
			b >>= 1
		}
	}
	return p
}

// x2nTable[k] is x^(2^k) modulo the polynomial.
var x2nTable = func() (t [32]uint32) {
	p := uint32(1) << 30 // x^1
	for k := range t {
		t[k] = p
		p = multModP(p, p)
	}
	return t
}()

// x2nModP returns x^(n·2^k) modulo the polynomial.
func x2nModP(n int64, k uint) uint32 {
	p := uint32(1) << 31 // x^0
	for ; n != 0; n >>= 1 {
		if n&1 != 0 {
			p = multModP(x2nTable[k&31], p)
		}
		k++
	}
	return p
}
