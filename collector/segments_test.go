package collector

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/exposition"
	"github.com/assuresign-exporter/assuresign_exporter/internal/storetest"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// segmentStore returns a store of n documents spread over several chunks,
// each checked once at testenv.T0, statuses varied.
func segmentStore(t testing.TB, n int, cfg StoreConfig) *Store {
	s := NewStore(cfg)
	wl := &watchlist.List{}
	for i := range n {
		wl.Documents = append(wl.Documents, watchlist.Entry{
			ID: fmt.Sprintf("%08X-0000-4000-8000-%012X", i, i), AuthToken: "00000000-0000-4000-8000-000000000001",
			Labels: map[string]string{"customer": fmt.Sprintf("c%d", i%7)},
		})
	}
	s.SetWatchList(wl)
	checks, _, asked := s.Due(testenv.T0, 0, false, 1, "ctx")
	for i, c := range checks {
		st := assuresign.Statuses[i%len(assuresign.Statuses)]
		s.Apply(assuresign.Result{ID: c.ID, Status: st, RawStatus: st.String(), StatusDate: testenv.T0, Step: 1 + i%3}, testenv.T0, fixedSchedule{open: time.Minute, terminal: time.Hour}, asked)
	}
	s.Publish()
	return s
}

// bodies returns the plain and the gunzipped body of e, with tail.
func bodies(t testing.TB, e *exposition.Exposition, openMetrics bool, tail string) (plain, unzipped string) {
	var p, z bytes.Buffer
	require.NoError(t, e.Write(&p, openMetrics, false, storetest.TailOf(tail)))
	require.NoError(t, e.Write(&z, openMetrics, true, storetest.TailOf(tail)))
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
		s := segmentStore(t, 3*exposition.ChunkSize+17, cfg)
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
			d := s.docs[s.order[exposition.ChunkSize+3]]
			s.mu.Unlock()
			before := s.Metrics()
			s.Apply(assuresign.Result{ID: d.watched.ID, Status: assuresign.StatusDeclined, RawStatus: "Declined", StatusDate: testenv.T0.Add(time.Hour)}, testenv.T0.Add(time.Hour), fixedSchedule{open: time.Minute, terminal: time.Hour}, ^uint64(0))
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

// The documents' bodies, hashed: a change to how they are written must not
// change their bytes; a change of what they say (a help text, say) updates
// these on purpose. (fixedExposition shows a body whole.)
func TestExpositionBytesUnchanged(t *testing.T) {
	want := map[string]string{
		"current-only=false openmetrics=false": "7b78cf0148b61e170b0da253ebaa6b4c60c366f18638b3430fc4f40da049b06a",
		"current-only=false openmetrics=true":  "5c27da200fd7f9d340d95067c1443398035a6cf69f07afe76f0455594a3ff1cb",
		"current-only=true openmetrics=false":  "5548d293ddd135eda10e55598807c83fdbb4639b315b98aebf18ca39dc0e267e",
		"current-only=true openmetrics=true":   "93d431635c7735ddfcb0aa87192456d99a05cebd9b90c52a52d85029fb50fa2f",
	}
	for _, cfg := range []StoreConfig{{}, {CurrentStatusOnly: true}} {
		s := segmentStore(t, 2*256+17, cfg)
		for _, om := range []bool{false, true} {
			var b bytes.Buffer
			require.NoError(t, s.Metrics().Write(&b, om, false, storetest.TailOf("")))
			sum := sha256.Sum256(b.Bytes())
			key := fmt.Sprintf("current-only=%t openmetrics=%t", cfg.CurrentStatusOnly, om)
			assert.Equal(t, want[key], hex.EncodeToString(sum[:]), key)
		}
	}
}
