package assuresign

import (
	"maps"
	"math/bits"
	"slices"
	"strings"
	"sync"
)

// fragmentLen is the shortest piece of a secret that is redacted on its own:
// a fault that echoes a request cut inside an AuthToken must not show the rest.
const fragmentLen = 8

// Secrets is every secret the exporter knows (the watched and listed
// AuthTokens, the ContextIdentifiers, the webhook token), by source, so that
// server text is redacted of all of them: an answer may echo the tokens of
// documents outside its request. It is safe for concurrent use.
type Secrets struct {
	mu      sync.RWMutex
	sources map[string]source
	large   map[string]windowSet // the sources of largeWindows windows or more
	index   secretIndex
}

// source is one source's secrets as kept: the distinct windows of its GUIDs
// (see secretIndex), sorted, and its other secrets.
type source struct {
	windows []uint32
	others  []string
}

// largeWindows is the size from which a source is large: its windows are
// searched in its own sorted slice, at 4 bytes a window, rather than counted
// in the index's map at about 20 (the watch list's: at 100,000 documents, 2.5
// million windows). Small sources, many and often replaced (each envelope's
// listed tokens), stay in the map, which is searched once whatever their
// number.
const largeWindows = 1024

// NewSecrets returns an empty set.
func NewSecrets() *Secrets {
	return &Secrets{sources: map[string]source{}, large: map[string]windowSet{}, index: newSecretIndex()}
}

// Set replaces the secrets of name (say "watch list"); none removes it.
func (s *Secrets) Set(name string, values []string) {
	src := source{windows: make([]uint32, 0, (32-fragmentLen+1)*len(values))} // as many as GUIDs have
	for _, v := range values {
		if h, ok := hexDigits(v); ok && len(h) >= fragmentLen {
			src.windows = appendWindows(src.windows, h)
		} else if v != "" {
			src.others = append(src.others, v)
		}
	}
	slices.Sort(src.windows)
	src.windows = slices.Clone(slices.Compact(src.windows)) // Clone trims the capacity
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count(name, s.sources[name], -1)
	delete(s.sources, name)
	if len(src.windows)+len(src.others) > 0 {
		s.sources[name] = src
		s.count(name, src, 1)
	}
}

// count puts src, the secrets of name, in the index (n 1) or out (n -1).
func (s *Secrets) count(name string, src source, n int32) {
	switch {
	case len(src.windows) < largeWindows:
		for _, w := range src.windows {
			s.index.countHex(w, n)
		}
	case n > 0:
		s.large[name] = newWindowSet(src.windows)
		s.index.sorted = slices.Collect(maps.Values(s.large))
	default:
		delete(s.large, name)
		s.index.sorted = slices.Collect(maps.Values(s.large))
	}
	for _, v := range src.others {
		s.index.add(v, n)
	}
}

// Redact returns text with every secret, and every piece of one of
// fragmentLen characters or more, replaced by "<secret>".
func (s *Secrets) Redact(text string) string { return NewRedactor(s).Redact(text) }

// Holds reports whether id, a GUID an upstream named, is a known secret
// whole (every window of it is known): an answer that echoes a secret as a
// document's id must not make it a label. A nil set holds nothing.
func (s *Secrets) Holds(id string) bool {
	h, ok := hexDigits(id)
	if s == nil || !ok || len(h) < fragmentLen {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, w := range appendWindows(nil, h) {
		if !s.index.hasHex(w) {
			return false
		}
	}
	return true
}

func (s *Secrets) spans(text, folded string, out [][2]int) [][2]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.index.spans(text, folded, out)
}

// secretIndex finds secrets and their pieces. A secret of hex digits and
// hyphens (a GUID) is found by its hex digits, in any case, with hyphens
// anywhere between them: each window of fragmentLen digits is a uint32, so
// a GUID costs 25 small entries, counted in hex or, for a large source, in
// its sorted slice. Any other secret is found by its fragmentLen-byte pieces,
// ASCII case folded (which keeps byte offsets in the text and its folded copy
// identical), or whole when shorter. Counts let sources share a secret.
type secretIndex struct {
	hex    map[uint32]int32
	sorted []windowSet
	pieces map[string]int32
	short  map[string]int32
}

func newSecretIndex() secretIndex {
	return secretIndex{hex: map[uint32]int32{}, pieces: map[string]int32{}, short: map[string]int32{}}
}

// add counts secret in (n 1) or out (n -1).
func (x *secretIndex) add(secret string, n int32) {
	count := func(m map[string]int32, k string) {
		if m[k] += n; m[k] <= 0 {
			delete(m, k)
		}
	}
	if h, ok := hexDigits(secret); ok && len(h) >= fragmentLen {
		for _, w := range appendWindows(nil, h) {
			x.countHex(w, n)
		}
		return
	}
	s := asciiLower(secret)
	switch {
	case s == "":
	case len(s) < fragmentLen:
		count(x.short, s)
	default:
		for i := 0; i+fragmentLen <= len(s); i++ {
			count(x.pieces, s[i:i+fragmentLen])
		}
	}
}

func (x *secretIndex) countHex(w uint32, n int32) {
	if x.hex[w] += n; x.hex[w] <= 0 {
		delete(x.hex, w)
	}
}

func (x *secretIndex) hasHex(w uint32) bool {
	if _, found := x.hex[w]; found {
		return true
	}
	for _, ws := range x.sorted {
		if ws.has(w) {
			return true
		}
	}
	return false
}

// windowSet is a large source's distinct windows, sorted, and where each run
// of equal top bits starts in them: a search is one look-up and a binary
// search of some 30 windows, not of millions.
type windowSet struct {
	windows []uint32
	starts  []uint32 // of the windows w>>shift == b: windows[starts[b]:starts[b+1]]
	shift   uint
}

func newWindowSet(windows []uint32) windowSet {
	topBits := bits.Len(uint(len(windows) / 32))
	s := windowSet{windows: windows, starts: make([]uint32, 1<<topBits+1), shift: uint(32 - topBits)}
	for _, w := range windows {
		s.starts[w>>s.shift+1]++
	}
	for b := 1; b < len(s.starts); b++ {
		s.starts[b] += s.starts[b-1]
	}
	return s
}

func (s windowSet) has(w uint32) bool {
	b := w >> s.shift
	_, found := slices.BinarySearch(s.windows[s.starts[b]:s.starts[b+1]], w)
	return found
}

// spans appends to out the byte spans of text that hold a secret or a piece of one.
func (x *secretIndex) spans(text, folded string, out [][2]int) [][2]int {
	if len(x.hex)+len(x.sorted) > 0 {
		var w uint32
		var at [fragmentLen]int // where the last fragmentLen digits are, as a ring
		run := 0
		for i := 0; i < len(text); i++ {
			d, ok := hexValue(text[i])
			if !ok {
				if text[i] != '-' {
					run = 0
				}
				continue
			}
			w = w<<4 | uint32(d)
			at[run%fragmentLen] = i
			run++
			if run >= fragmentLen && x.hasHex(w) {
				out = append(out, [2]int{at[run%fragmentLen], i + 1})
			}
		}
	}
	for i := 0; len(x.pieces) > 0 && i+fragmentLen <= len(folded); i++ {
		if _, found := x.pieces[folded[i:i+fragmentLen]]; found {
			out = append(out, [2]int{i, i + fragmentLen})
		}
	}
	for fs := range x.short {
		for off := 0; ; {
			i := strings.Index(folded[off:], fs)
			if i < 0 {
				break
			}
			out = append(out, [2]int{off + i, off + i + len(fs)})
			off += i + 1
		}
	}
	return out
}

// Redactor replaces a request's secrets, and every secret known, in server
// or library text, should either ever echo them; any fragment of 8 or more
// characters of one too. It is safe for concurrent use.
type Redactor struct {
	own   secretIndex
	known *Secrets // nil: the request's own only
}

// NewRedactor returns a Redactor for these secrets and, when known is set,
// every secret the exporter knows (case-insensitive; a GUID also without its
// hyphens).
func NewRedactor(known *Secrets, secrets ...string) *Redactor {
	r := &Redactor{own: newSecretIndex(), known: known}
	for _, s := range secrets {
		r.own.add(s, 1)
	}
	return r
}

// Redact returns s with every secret, or piece of one, replaced by "<secret>".
func (r *Redactor) Redact(s string) string {
	if s == "" {
		return s
	}
	folded := asciiLower(s)
	// Mark every piece of every secret before replacing any, so pieces that
	// overlap in s are removed as one.
	spans := r.own.spans(s, folded, nil)
	if r.known != nil {
		spans = r.known.spans(s, folded, spans)
	}
	if len(spans) == 0 {
		return s
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	var b strings.Builder
	last := 0
	for k := 0; k < len(spans); {
		start, end := spans[k][0], spans[k][1]
		for k++; k < len(spans) && spans[k][0] <= end; k++ {
			end = max(end, spans[k][1])
		}
		b.WriteString(s[last:start])
		b.WriteString("<secret>")
		last = end
	}
	b.WriteString(s[last:])
	return b.String()
}

// hexDigits returns v's hex digits when v holds only hex digits and hyphens.
func hexDigits(v string) (string, bool) {
	if strings.Trim(v, "0123456789abcdefABCDEF-") != "" {
		return "", false
	}
	return strings.ReplaceAll(v, "-", ""), true
}

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// appendWindows appends each window of fragmentLen of the hex digits h, as a uint32.
func appendWindows(ws []uint32, h string) []uint32 {
	var w uint32
	for i := 0; i < len(h); i++ {
		d, _ := hexValue(h[i])
		if w = w<<4 | uint32(d); i >= fragmentLen-1 {
			ws = append(ws, w)
		}
	}
	return ws
}
