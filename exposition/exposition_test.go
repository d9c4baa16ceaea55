package exposition

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The store's use of this package (what the documents' bodies say, that
// gzip and plain agree, that a publish renders only what changed) is tested
// in package collector; these test the machinery on its own.

func TestCRC32Combine(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range [][2]int{{0, 0}, {0, 5}, {5, 0}, {1, 1}, {100, 3000}, {70000, 1 << 20}} {
		a, b := make([]byte, n[0]), make([]byte, n[1])
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		want := crc32.ChecksumIEEE(append(bytes.Clone(a), b...))
		require.Equal(t, want, crc32Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b))), "lengths %v", n)
	}
}

var testStateSet = StateSet{Family: Family{"t_state", "gauge", "State."}, Label: "state", States: []string{"a", "b", "c"}}

// build returns the exposition of n documents, after old, rendering the
// chunks render says and keeping the others; document i is in state
// (i+shift)%3 and has the value i+shift.
func build(l *Layout, old *Exposition, n, shift int, render func(c int) bool) (*Exposition, PublishStats) {
	chunks := (n + ChunkSize - 1) / ChunkSize
	b := l.Next(old, chunks)
	for c := range chunks {
		if !render(c) && b.Keep(c) {
			continue
		}
		var ids []int
		for i := c * ChunkSize; i < min((c+1)*ChunkSize, n); i++ {
			ids = append(ids, i)
		}
		states := make([]StateRef, len(ids))
		for k, i := range ids {
			states[k] = StateRef{ID: testID(i), State: (i + shift) % 3}
		}
		b.Render(c, states, func(dst []byte, f int) []byte {
			s := SeriesOf([]string{"t_value", "t_events_total"}[f])
			for _, i := range ids {
				dst = s.Append(dst, testID(i), "", float64(i+shift))
			}
			return dst
		})
	}
	return b.Done()
}

// testID gives GUIDs, whose state sets are stamped from templates, but for
// every tenth document.
func testID(i int) string {
	if i%10 == 9 {
		return fmt.Sprintf("doc-%d", i)
	}
	return fmt.Sprintf("%08X-0000-4000-8000-%012X", i, i)
}

func testLayout(currentOnly bool) *Layout {
	set := testStateSet
	set.CurrentOnly = currentOnly
	return NewLayout(set, []Family{{"t_value", "gauge", "Value."}, {"t_events_total", "counter", "Events."}})
}

// want is what build's exposition says, written line by line.
func want(n, shift int, currentOnly, openMetrics bool, tail string) string {
	var b strings.Builder
	events := "t_events_total"
	if openMetrics {
		events = "t_events"
	}
	b.WriteString("# HELP t_state State.\n# TYPE t_state gauge\n")
	for i := range n {
		for s, name := range testStateSet.States {
			v := 0
			if s == (i+shift)%3 {
				v = 1
			}
			if v == 1 || !currentOnly {
				fmt.Fprintf(&b, "t_state{document_id=%q,state=%q} %d\n", testID(i), name, v)
			}
		}
	}
	b.WriteString("# HELP t_value Value.\n# TYPE t_value gauge\n")
	for i := range n {
		fmt.Fprintf(&b, "t_value{document_id=%q} %d\n", testID(i), i+shift)
	}
	fmt.Fprintf(&b, "# HELP %s Events.\n# TYPE %s counter\n", events, events)
	for i := range n {
		fmt.Fprintf(&b, "t_events_total{document_id=%q} %d\n", testID(i), i+shift)
	}
	return b.String() + tail
}

// bodies returns the plain and the gunzipped body of e, with tails.
func bodies(t *testing.T, e *Exposition, openMetrics bool, tails []*Tail) (plain, unzipped string) {
	var p, z bytes.Buffer
	require.NoError(t, e.Write(&p, openMetrics, false, func() ([]*Tail, error) { return tails, nil }))
	require.NoError(t, e.Write(&z, openMetrics, true, func() ([]*Tail, error) { return tails, nil }))
	zr, err := gzip.NewReader(&z)
	require.NoError(t, err)
	zr.Multistream(false) // one member: what every gzip reader can read
	b, err := io.ReadAll(zr)
	require.NoError(t, err, "the gzip member is valid, its CRC and length included")
	require.ErrorIs(t, zr.Reset(&z), io.EOF, "nothing follows the one member")
	return p.String(), string(b)
}

// An exposition is its families in order, each chunk's samples after its
// header, the same plain and gzipped, in a publish from nothing and in one
// that renders a single chunk again.
func TestBuiltExposition(t *testing.T) {
	const n = 2*ChunkSize + 17
	tails := []*Tail{NewTail([]byte("x 1\n"), false), NewTail([]byte("y 2\n"), true)}
	for _, currentOnly := range []bool{false, true} {
		l := testLayout(currentOnly)
		all := func(int) bool { return true }
		e, stats := build(l, nil, n, 0, all)
		assert.Equal(t, 3, stats.Chunks)
		for _, om := range []bool{false, true} {
			plain, unzipped := bodies(t, e, om, tails)
			require.Equal(t, want(n, 0, currentOnly, om, "x 1\ny 2\n"), plain)
			require.Equal(t, plain, unzipped)
		}

		// The same again, but the second chunk: only its families are
		// compressed again, and the first and last chunk are the ones before.
		next, stats := build(l, e, n, 1, func(c int) bool { return c == 1 })
		assert.Equal(t, 1, stats.Chunks)
		assert.Same(t, e.chunks[0], next.chunks[0])
		assert.Same(t, e.chunks[2], next.chunks[2])
		assert.Equal(t, stats.Total, next.size[0])
		assert.Less(t, stats.Recompressed, stats.Total/2)
		plain, unzipped := bodies(t, next, false, tails)
		assert.Equal(t, plain, unzipped)
		assert.Contains(t, plain, fmt.Sprintf("t_value{document_id=%q} %d\n", testID(ChunkSize), ChunkSize+1))
		assert.Contains(t, plain, fmt.Sprintf("t_value{document_id=%q} %d\n", testID(0), 0))

		// Rendered again with the same bytes: every segment is the one before.
		same, stats := build(l, e, n, 0, all)
		assert.Equal(t, 0, stats.Recompressed)
		for c := range e.chunks {
			for f := range e.chunks[c].fams {
				assert.Same(t, e.chunks[c].fams[f], same.chunks[c].fams[f])
			}
		}

		// Another layout's exposition is never reused.
		other, stats := build(testLayout(!currentOnly), e, n, 0, func(int) bool { return false })
		assert.Equal(t, 3, stats.Chunks)
		plain, _ = bodies(t, other, false, tails)
		assert.Equal(t, want(n, 0, !currentOnly, false, "x 1\ny 2\n"), plain)
	}
}

// A gzip body ends with its last tail's final block: one that is not final
// would leave the deflate stream open, so Write refuses it; PlainLength is
// what a plain scrape writes.
func TestTails(t *testing.T) {
	e, _ := build(testLayout(false), nil, 300, 0, func(int) bool { return true })
	open := func() ([]*Tail, error) { return []*Tail{NewTail([]byte("a 1\n"), false)}, nil }
	require.Error(t, e.Write(io.Discard, false, true, open))

	tails := []*Tail{NewTail([]byte("a 1\n"), false), NewTail([]byte("b 2\n# EOF\n"), true)}
	for _, openMetrics := range []bool{false, true} {
		var p bytes.Buffer
		require.NoError(t, e.Write(&p, openMetrics, false, func() ([]*Tail, error) { return tails, nil }))
		assert.Equal(t, p.Len(), e.PlainLength(openMetrics, tails))
		assert.True(t, strings.HasSuffix(p.String(), "a 1\nb 2\n# EOF\n"))
	}
}

func TestAppendLabels(t *testing.T) {
	b := SeriesOf("t_info").Start(nil, "d")
	b = AppendLabels(b, map[string]string{"z": "1", "a": "say \"hi\" \\ C:\\dir\nline 2"})
	assert.Equal(t, `t_info{document_id="d",a="say \"hi\" \\ C:\\dir\nline 2",z="1"} 1`+"\n", string(End(b, 1)))
	assert.Equal(t, `t_info{document_id="d"} 1.5`+"\n", string(SeriesOf("t_info").Append(nil, "d", "", 1.5)))
}
