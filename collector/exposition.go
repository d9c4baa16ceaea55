package collector

import (
	"bytes"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

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

// WriteMetrics writes every document's samples, family by family, in the
// text format or, with openMetrics, in OpenMetrics (without its "# EOF").
func (s *Store) WriteMetrics(w io.Writer, openMetrics bool) error {
	docs := s.renderings()
	for f, fam := range families {
		name := fam.name
		if openMetrics && fam.typ == "counter" {
			name = strings.TrimSuffix(name, "_total") // OpenMetrics names the family without it
		}
		if _, err := io.WriteString(w, "# HELP "+name+" "+fam.help+cached+"\n# TYPE "+name+" "+fam.typ+"\n"); err != nil {
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
