package exposition

import (
	"bytes"
	"compress/flate"
	"hash/crc32"
	"io"
)

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

func newSegment(plain []byte) *segment {
	var out bytes.Buffer
	fw := getFlateWriter(&out)
	_, _ = fw.Write(plain) // a bytes.Buffer does not fail
	_ = fw.Flush()
	putFlateWriter(fw)
	return &segment{plain: plain, gz: bytes.Clone(out.Bytes()), crc: crc32.ChecksumIEEE(plain), size: len(plain)}
}

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

// gzipHeader is what gzip.Writer writes with no name, comment or time.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

// Tail is metrics that follow the documents in a scrape (the exporter's
// own), encoded once and kept with their compressed form, so a scrape that
// reuses a Tail writes stored bytes only.
type Tail struct {
	plain    []byte
	deflated []byte // flushed to a byte boundary; with final, the stream's last block
	crc      uint32
	final    bool
}

// NewTail compresses plain for gzip scrapes. The last Tail of a scrape must
// be final: its block ends the deflate stream.
func NewTail(plain []byte, final bool) *Tail {
	var out bytes.Buffer
	fw := getFlateWriter(&out)
	_, _ = fw.Write(plain) // a bytes.Buffer does not fail
	if final {
		_ = fw.Close()
	} else {
		_ = fw.Flush()
	}
	putFlateWriter(fw)
	return &Tail{plain: plain, deflated: bytes.Clone(out.Bytes()), crc: crc32.ChecksumIEEE(plain), final: final}
}

// Plain returns the tail's encoded metrics.
func (t *Tail) Plain() []byte { return t.plain }

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
