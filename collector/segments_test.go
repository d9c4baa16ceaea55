package collector

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

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

// segmentStore returns a store of n documents spread over several chunks,
// each checked once at testenv.T0, statuses varied.
func segmentStore(t testing.TB, n int, cfg StoreConfig) *Store {
	s := NewStore(cfg)
	wl := &watchlist.List{}
	for i := range n {
		wl.Documents = append(wl.Documents, watchlist.Document{
			ID: fmt.Sprintf("%08X-0000-4000-8000-%012X", i, i), AuthToken: "00000000-0000-4000-8000-000000000001",
			Labels: map[string]string{"customer": fmt.Sprintf("c%d", i%7)},
		})
	}
	s.SetWatchList(wl)
	checks, _, asked := s.due(testenv.T0, 0, false, 1, "ctx")
	for i, c := range checks {
		st := assuresign.Statuses[i%len(assuresign.Statuses)]
		s.apply(assuresign.Result{ID: c.ID, Status: st, RawStatus: st.String(), StatusDate: testenv.T0, Step: 1 + i%3}, testenv.T0, schedule{interval: time.Minute, maxInterval: time.Minute, terminal: time.Hour}, asked)
	}
	s.Publish()
	return s
}

// bodies returns the plain and the gunzipped body of e, with tail.
func bodies(t testing.TB, e *Exposition, openMetrics bool, tail string) (plain, unzipped string) {
	var p, z bytes.Buffer
	require.NoError(t, e.Write(&p, openMetrics, false, tailOf(tail)))
	require.NoError(t, e.Write(&z, openMetrics, true, tailOf(tail)))
	zr, err := gzip.NewReader(&z)
	require.NoError(t, err)
	zr.Multistream(false) // one member: what every gzip reader can read
	b, err := io.ReadAll(zr)
	require.NoError(t, err, "the gzip member is valid, its CRC and length included")
	err = zr.Reset(&z)
	require.ErrorIs(t, err, io.EOF, "nothing follows the one member")
	return p.String(), string(b)
}

func TestSegmentedBodiesAreIdentical(t *testing.T) {
	for _, cfg := range []StoreConfig{{}, {CurrentStatusOnly: true}} {
		s := segmentStore(t, 3*chunkSize+17, cfg)
		for _, om := range []bool{false, true} {
			tail := "# HELP x y\n# TYPE x gauge\nx 1\n"
			if om {
				tail += "# EOF\n"
			}
			check := func(what string) {
				plain, unzipped := bodies(t, s.Metrics(), om, tail)
				require.Equal(t, plain, unzipped, "%s: gzip and plain bodies differ", what)
				if om {
					require.NoError(t, testenv.CheckOpenMetrics(plain), what)
				} else {
					_, err := testenv.ParseText(plain)
					require.NoError(t, err, what)
				}
			}
			check("full")
			// A partial update: one document in the second chunk changes.
			s.mu.Lock()
			d := s.docs[s.order[chunkSize+3]]
			s.mu.Unlock()
			before := s.Metrics()
			s.apply(assuresign.Result{ID: d.watched.ID, Status: assuresign.StatusDeclined, RawStatus: "Declined", StatusDate: testenv.T0.Add(time.Hour)}, testenv.T0.Add(time.Hour), schedule{interval: time.Minute, maxInterval: time.Minute, terminal: time.Hour}, ^uint64(0))
			stats := s.Publish()
			require.Equal(t, 1, stats.Chunks)
			require.Less(t, stats.Recompressed, stats.Total/3)
			check("partial")
			require.NotSame(t, before, s.Metrics())
			plain, _ := bodies(t, s.Metrics(), om, tail)
			require.Contains(t, plain, `assuresign_document_status{document_id="`+d.watched.ID+`",status="Declined"} 1`)
		}
	}
}

// A gzip body ends with its last tail's final block: one that is not final
// would leave the deflate stream open, so Write refuses it; PlainLength is
// what a plain scrape writes.
func TestTails(t *testing.T) {
	e := segmentStore(t, 300, StoreConfig{}).Metrics()
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
