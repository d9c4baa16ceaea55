package exposition

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Series writes a family's sample lines, each labelled document_id first.
type Series struct{ prefix string }

// SeriesOf returns the series of family name.
func SeriesOf(name string) Series { return Series{name + `{document_id="`} }

// Append appends the sample of document id with value; labels, when not
// empty, are further labels as written (`,name="value"`, escaped).
func (s Series) Append(b []byte, id, labels string, value float64) []byte {
	b = s.Start(b, id)
	b = append(b, labels...)
	return End(b, value)
}

// Start appends the beginning of document id's sample, up to its labels'
// end, for a caller that appends further labels before End.
func (s Series) Start(b []byte, id string) []byte {
	b = append(b, s.prefix...)
	b = append(b, id...)
	return append(b, '"')
}

// End closes a sample's labels and appends its value.
func End(b []byte, value float64) []byte {
	b = append(b, "} "...)
	b = strconv.AppendFloat(b, value, 'g', -1, 64)
	return append(b, '\n')
}

// AppendLabels appends labels, sorted by name, their values escaped.
func AppendLabels(b []byte, labels map[string]string) []byte {
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

// stateSet writes a state set: for each document, a line per state, 1 for
// the current one.
type stateSet struct {
	prefix string // name{document_id="
	// tails[i][v] ends the line of state i with value v.
	tails [][2]string
	// A watched document's id is a GUID, so all state sets of one state are
	// the same bytes but for the id in each line: templates[i] is the state
	// set of a document in state i, with zeros for the id, which goes at
	// idOffsets.
	templates [][]byte
	idOffsets []int
}

const guidLength = len("00000000-0000-0000-0000-000000000000")

func newStateSet(set StateSet) stateSet {
	s := stateSet{prefix: SeriesOf(set.Name).prefix}
	for _, st := range set.States {
		label := `",` + set.Label + `="` + st
		s.tails = append(s.tails, [2]string{label + `"} 0` + "\n", label + `"} 1` + "\n"})
	}
	placeholder := strings.Repeat("0", guidLength)
	off := 0
	for i := range set.States {
		s.templates = append(s.templates, s.appendLines(nil, StateRef{ID: placeholder, State: i}, false))
		s.idOffsets = append(s.idOffsets, off+len(s.prefix))
		off += len(s.prefix) + guidLength + len(s.tails[i][0])
	}
	return s
}

// appendStateSets appends the state sets of states.
func (l *Layout) appendStateSets(b []byte, states []StateRef) []byte {
	for _, st := range states {
		if l.currentOnly || len(st.ID) != guidLength {
			b = l.states.appendLines(b, st, l.currentOnly)
			continue
		}
		n := len(b)
		b = append(b, l.states.templates[st.State]...)
		for _, off := range l.states.idOffsets {
			copy(b[n+off:], st.ID)
		}
	}
	return b
}

// appendLines appends st's state set, for any id: a line per state, or with
// currentOnly, only the current one's.
func (s *stateSet) appendLines(b []byte, st StateRef, currentOnly bool) []byte {
	for i := range s.tails {
		v := 0
		if i == st.State {
			v = 1
		}
		if currentOnly && v == 0 {
			continue
		}
		b = append(b, s.prefix...)
		b = append(b, st.ID...)
		b = append(b, s.tails[i][v]...)
	}
	return b
}

// UnixSeconds is t as a sample's value in Unix seconds. It adds the fraction
// separately: float64(t.UnixNano()) already rounds to 256 ns, so 12:00:30.25
// would show as …30.2499998.
func UnixSeconds(t time.Time) float64 { return float64(t.Unix()) + float64(t.Nanosecond())/1e9 }
