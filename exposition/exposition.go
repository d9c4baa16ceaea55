// Package exposition keeps the documents' samples rendered and compressed,
// so that a scrape between two changes writes stored bytes only.
//
// It holds the byte-level machinery and nothing of what a document is: a
// Layout (the families, in order: a state set first, then families of
// samples labelled document_id, with their HELP and TYPE lines in the text
// format and OpenMetrics), the Builder that makes the next Exposition from
// the one before (documents cut into chunks, each family's samples of a chunk
// one segment, plain and deflated on its own, compressed again only when its
// bytes changed), the Exposition a scrape writes plain or as one gzip member
// of stored bytes (the segments' deflate blocks concatenated, their CRC-32s
// combined), Tail for the metrics that follow the documents, the state sets'
// templates, label escaping and the pool of flate writers. Package collector
// decides what the samples say; package server writes them.
package exposition

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
)

// Family is a metric family as /metrics writes it.
type Family struct{ Name, Type, Help string }

// ChunkSize is how many documents, in id order, make one chunk: a change
// marks its document's chunk dirty, and only dirty chunks are rendered again.
// Samples of a family stay together: the body is, family by family, its
// header and then that family's segment of every chunk.
const ChunkSize = 256

// StateRef is one document's place in the state set: its id and the index
// of its current state in the layout's states. A plain state set is written
// from it, stamped from a template (a state set is about half the plain body,
// and keeping it would double the exporter's memory).
type StateRef struct {
	ID    string
	State int
}

// Layout is what every exposition of one configuration shares: the
// families, their headers and the state set's templates. Made once.
type Layout struct {
	families    []Family      // the state set first
	headers     [2][]*segment // by format: text, OpenMetrics
	currentOnly bool
	states      stateSet
}

// StateSet is the family written first: for each document, a line per
// state labelled Label, 1 for its current state.
type StateSet struct {
	Family
	Label       string
	States      []string // in the order their lines are written
	CurrentOnly bool     // only each document's current state's line
}

// NewLayout returns the layout of the state set followed by families.
func NewLayout(stateSet StateSet, families []Family) *Layout {
	l := &Layout{families: append([]Family{stateSet.Family}, families...), currentOnly: stateSet.CurrentOnly}
	for v := range l.headers {
		for _, fam := range l.families {
			name := fam.Name
			if v == 1 && fam.Type == "counter" {
				name = strings.TrimSuffix(name, "_total") // OpenMetrics names counter families without it
			}
			l.headers[v] = append(l.headers[v], newSegment([]byte("# HELP "+name+" "+fam.Help+"\n# TYPE "+name+" "+fam.Type+"\n")))
		}
	}
	l.states = newStateSet(stateSet)
	return l
}

type chunk struct {
	fams   []*segment // by family of the layout
	states []StateRef
}

// Exposition is one published rendering of every document: immutable, so
// any number of scrapes write it without a lock.
type Exposition struct {
	layout *Layout
	chunks []*chunk
	// crc and size of the whole documents' part, text and OpenMetrics.
	crc  [2]uint32
	size [2]int
	// gzipped is the gzip header and the documents' part, compressed, in
	// one slice, made at the first gzip scrape of each format: a scrape
	// then writes it at once, as the bytes of a file.
	gzipped [2]struct {
		once  sync.Once
		bytes []byte
	}
}

// gzippedDocuments returns the gzip header and the documents' segments of
// format v, concatenated.
func (e *Exposition) gzippedDocuments(v int) []byte {
	g := &e.gzipped[v]
	g.once.Do(func() {
		headers := e.layout.headers[v]
		n := len(gzipHeader)
		for f := range headers {
			n += len(headers[f].gz)
			for _, ch := range e.chunks {
				n += len(ch.fams[f].gz)
			}
		}
		b := append(make([]byte, 0, n), gzipHeader...)
		for f := range headers {
			b = append(b, headers[f].gz...)
			for _, ch := range e.chunks {
				b = append(b, ch.fams[f].gz...)
			}
		}
		g.bytes = b
	})
	return g.bytes
}

// PublishStats describe the work of one publish.
type PublishStats struct {
	Chunks       int // chunks re-rendered
	Recompressed int // plain bytes compressed again
	Total        int // plain bytes of the documents' part
}

// Builder makes the next Exposition of a layout from the one before: a chunk
// is either kept as it was or rendered again, and of a rendered chunk only the
// families whose bytes changed are compressed again.
type Builder struct {
	old     *Exposition // nil when there is none of the same layout
	e       *Exposition
	scratch *[]byte
	stats   PublishStats
}

// Next starts the exposition of chunks chunks that follows old (nil at first).
func (l *Layout) Next(old *Exposition, chunks int) *Builder {
	if old != nil && old.layout != l {
		old = nil
	}
	return &Builder{old: old, e: &Exposition{layout: l, chunks: make([]*chunk, chunks)}, scratch: renderScratch.Get().(*[]byte)}
}

func (b *Builder) prev(c int) *chunk {
	if b.old == nil || c >= len(b.old.chunks) {
		return nil
	}
	return b.old.chunks[c]
}

// Keep takes chunk c as it was in the exposition before, and reports whether
// there was one to take.
func (b *Builder) Keep(c int) bool {
	prev := b.prev(c)
	b.e.chunks[c] = prev
	return prev != nil
}

// Render renders chunk c: states are its documents' places in the state
// set, in id order, and appendFamily appends their samples of the layout's
// family f (0 the first after the state set).
func (b *Builder) Render(c int, states []StateRef, appendFamily func(dst []byte, f int) []byte) {
	b.stats.Chunks++
	l, prev := b.e.layout, b.prev(c)
	ch := &chunk{fams: make([]*segment, len(l.families)), states: states}
	for f := range ch.fams {
		if f == 0 && prev != nil && slices.Equal(prev.states, states) {
			ch.fams[f] = prev.fams[f]
			continue
		}
		var p []byte
		if f == 0 {
			p = l.appendStateSets((*b.scratch)[:0], states)
		} else {
			p = appendFamily((*b.scratch)[:0], f-1)
		}
		*b.scratch = p
		if f != 0 && prev != nil && bytes.Equal(prev.fams[f].plain, p) {
			ch.fams[f] = prev.fams[f]
			continue
		}
		plain := bytes.Clone(p)
		seg := newSegment(plain)
		if f == 0 {
			seg.plain = nil // stamped again at each plain scrape
		}
		b.stats.Recompressed += len(plain)
		ch.fams[f] = seg
	}
	b.e.chunks[c] = ch
}

// Done returns the exposition, every chunk kept or rendered, and the work it took.
func (b *Builder) Done() (*Exposition, PublishStats) {
	renderScratch.Put(b.scratch)
	e := b.e
	for v := range e.layout.headers {
		for f, h := range e.layout.headers[v] {
			e.add(v, h)
			for _, ch := range e.chunks {
				e.add(v, ch.fams[f])
			}
		}
	}
	b.stats.Total = e.size[0]
	return e, b.stats
}

func (e *Exposition) add(v int, seg *segment) {
	e.crc[v] = crc32Combine(e.crc[v], seg.crc, int64(seg.size))
	e.size[v] += seg.size
}

// PlainLength is the length of a plain scrape of e followed by tails.
func (e *Exposition) PlainLength(openMetrics bool, tails []*Tail) int {
	n := e.size[0]
	if openMetrics {
		n = e.size[1]
	}
	for _, t := range tails {
		n += len(t.plain)
	}
	return n
}

// Write writes the documents' samples followed by the tails that tail
// returns (called once the documents are written, so they can be gathered
// meanwhile; the last one final): plain, or, with gzipped, as one gzip member
// of stored bytes. An error from tail ends the body there and is returned.
func (e *Exposition) Write(w io.Writer, openMetrics, gzipped bool, tail func() ([]*Tail, error)) error {
	v := 0
	if openMetrics {
		v = 1
	}
	if !gzipped {
		return e.writePlain(w, v, tail)
	}
	if _, err := w.Write(e.gzippedDocuments(v)); err != nil {
		return err
	}
	tails, err := tail()
	if err != nil {
		return err
	}
	if len(tails) == 0 || !tails[len(tails)-1].final {
		return errors.New("the last tail of a gzip scrape must be final")
	}
	crc, size := e.crc[v], e.size[v]
	for _, t := range tails {
		if _, err := w.Write(t.deflated); err != nil {
			return err
		}
		crc, size = crc32Combine(crc, t.crc, int64(len(t.plain))), size+len(t.plain)
	}
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], crc)
	binary.LittleEndian.PutUint32(trailer[4:], uint32(size)) //nolint:gosec // ISIZE is the length modulo 2^32 (RFC 1952)
	_, err = w.Write(trailer[:])
	return err
}

func (e *Exposition) writePlain(w io.Writer, v int, tail func() ([]*Tail, error)) error {
	scratch := renderScratch.Get().(*[]byte)
	defer renderScratch.Put(scratch)
	for f, h := range e.layout.headers[v] {
		if _, err := w.Write(h.plain); err != nil {
			return err
		}
		for _, ch := range e.chunks {
			p := ch.fams[f].plain
			if f == 0 {
				*scratch = e.layout.appendStateSets((*scratch)[:0], ch.states)
				p = *scratch
			}
			if _, err := w.Write(p); err != nil {
				return err
			}
		}
	}
	tails, err := tail()
	if err != nil {
		return err
	}
	for _, t := range tails {
		if _, err := w.Write(t.plain); err != nil {
			return err
		}
	}
	return nil
}

// renderScratch holds the buffers samples are rendered into before they are
// copied to their exact size.
var renderScratch = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}
