package testenv

import (
	"bufio"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ParseText parses the Prometheus text format as Prometheus would.
func ParseText(text string) ([]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	out := make([]*dto.MetricFamily, 0, len(byName))
	for _, mf := range byName {
		out = append(out, mf)
	}
	return out, nil
}

// Sample returns the value of the sample named exactly series (labels
// included, as written in the exposition, e.g. `up{job="x"}`) in a text
// exposition, failing t when there is none or the text does not parse.
func Sample(t testing.TB, exposition, series string) float64 {
	t.Helper()
	x, err := ParseExposition(exposition)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	v, ok := x.Value(series)
	if !ok {
		t.Fatalf("no sample %s in /metrics", series)
	}
	return v
}

// Exposition is a text exposition as Prometheus reads it (with expfmt). It
// is not safe for concurrent use.
type Exposition struct {
	Families map[string]*dto.MetricFamily
	// series maps a family's samples, by series as the text format writes
	// them, once Value has asked for one of that family.
	series map[string]map[string]float64
}

// ParseExposition parses a text exposition. Given families, it parses only
// theirs and leaves the rest of the text alone: a scrape of 10,000 documents
// takes a second to parse whole.
func ParseExposition(text string, families ...string) (*Exposition, error) {
	if len(families) > 0 {
		text = onlyFamilies(text, families)
	}
	mfs, err := ParseText(text)
	if err != nil {
		return nil, err
	}
	x := &Exposition{Families: make(map[string]*dto.MetricFamily, len(mfs))}
	for _, mf := range mfs {
		x.Families[mf.GetName()] = mf
	}
	return x, nil
}

// onlyFamilies keeps the lines of the named families: each family's HELP and
// TYPE lines, and the samples that follow them.
func onlyFamilies(text string, families []string) string {
	var b strings.Builder
	keep := false
	for line := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			_, rest, _ = strings.Cut(rest, " ") // HELP or TYPE
			name, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
			keep = slices.Contains(families, name)
		}
		if keep {
			b.WriteString(line)
		}
	}
	return b.String()
}

// Value returns the sample named exactly series, labels included as the text
// format writes them (e.g. `up{job="x"}`), and whether there is one.
func (x *Exposition) Value(series string) (float64, bool) {
	name, _, _ := strings.Cut(series, "{")
	// The family: name itself, or name less a histogram's or summary's suffix.
	for _, family := range []string{name, strings.TrimSuffix(name, "_bucket"), strings.TrimSuffix(name, "_count"), strings.TrimSuffix(name, "_sum")} {
		mf := x.Families[family]
		if mf == nil {
			continue
		}
		if x.series == nil {
			x.series = map[string]map[string]float64{}
		}
		samples, ok := x.series[family]
		if !ok {
			samples = map[string]float64{}
			for _, m := range mf.GetMetric() {
				for _, s := range samplesOf(mf, m) {
					samples[s.name] = s.value
				}
			}
			x.series[family] = samples
		}
		if v, ok := samples[series]; ok {
			return v, true
		}
	}
	return 0, false
}

// Find returns the value of the first series of the gauge, counter or untyped
// family name whose labels include want, and whether there is one.
func (x *Exposition) Find(name string, want map[string]string) (float64, bool) {
	for _, m := range x.Families[name].GetMetric() {
		if hasLabels(m, want) {
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Untyped != nil:
				return m.GetUntyped().GetValue(), true
			}
		}
	}
	return 0, false
}

// Has reports whether family name has a series whose labels include want.
func (x *Exposition) Has(name string, want map[string]string) bool {
	return slices.ContainsFunc(x.Families[name].GetMetric(), func(m *dto.Metric) bool { return hasLabels(m, want) })
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

// Statuses returns each document's status: the state of its
// assuresign_document_status state set whose value is 1.
func (x *Exposition) Statuses() map[string]string {
	out := map[string]string{}
	for _, m := range x.Families["assuresign_document_status"].GetMetric() {
		if m.GetGauge().GetValue() != 1 {
			continue
		}
		id, status := documentStatus(m)
		out[id] = status
	}
	return out
}

// documentStatus is the document and status of an assuresign_document_status sample.
func documentStatus(m *dto.Metric) (id, status string) {
	for _, l := range m.GetLabel() {
		switch l.GetName() {
		case "document_id":
			id = l.GetValue()
		case "status":
			status = l.GetValue()
		}
	}
	return id, status
}

// Status returns the document's status, or "" when it has none.
func (x *Exposition) Status(id string) string { return x.Statuses()[id] }

type sample struct {
	name  string
	value float64
}

// samplesOf returns m's samples with their series written as the text format
// writes them: name{label="value",...}, labels in the family's order.
func samplesOf(mf *dto.MetricFamily, m *dto.Metric) []sample {
	series := func(name string, extra ...*dto.LabelPair) string {
		labels := append(slices.Clone(m.GetLabel()), extra...)
		if len(labels) == 0 {
			return name
		}
		parts := make([]string, len(labels))
		for i, l := range labels {
			parts[i] = l.GetName() + "=" + strconv.Quote(l.GetValue())
		}
		return name + "{" + strings.Join(parts, ",") + "}"
	}
	name := mf.GetName()
	switch {
	case m.Gauge != nil:
		return []sample{{series(name), m.GetGauge().GetValue()}}
	case m.Counter != nil:
		return []sample{{series(name), m.GetCounter().GetValue()}}
	case m.Untyped != nil:
		return []sample{{series(name), m.GetUntyped().GetValue()}}
	case m.Histogram != nil:
		h := m.GetHistogram()
		out := []sample{{series(name + "_count"), float64(h.GetSampleCount())}, {series(name + "_sum"), h.GetSampleSum()}}
		for _, b := range h.GetBucket() {
			le := &dto.LabelPair{Name: new("le"), Value: new(strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64))}
			out = append(out, sample{series(name+"_bucket", le), float64(b.GetCumulativeCount())})
		}
		return out
	case m.Summary != nil:
		return []sample{{series(name + "_count"), float64(m.GetSummary().GetSampleCount())}, {series(name + "_sum"), m.GetSummary().GetSampleSum()}}
	}
	return nil
}

// CheckOpenMetrics checks text strictly against OpenMetrics 1.0.0's text
// format: every line a descriptor, a sample or the final "# EOF"; families
// contiguous and not repeated; descriptors before samples; sample names
// allowed for the family's type; counters named without _total in their
// descriptors; labels well formed, unique and escaped; values and timestamps
// numbers; no series twice.
func CheckOpenMetrics(text string) error {
	if !strings.HasSuffix(text, "# EOF\n") {
		return fmt.Errorf("does not end with %q", "# EOF\n")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if slices.Index(lines, "# EOF") != len(lines)-1 {
		return fmt.Errorf("# EOF is not only the last line")
	}
	lines = lines[:len(lines)-1]
	suffixes := map[string][]string{
		"counter":        {"_total", "_created"},
		"gauge":          {""},
		"histogram":      {"_bucket", "_count", "_sum", "_created"},
		"gaugehistogram": {"_gcount", "_gsum", "_bucket"},
		"summary":        {"", "_count", "_sum", "_created"},
		"info":           {"_info"},
		"stateset":       {""},
		"unknown":        {""},
	}
	type family struct {
		typ          string
		help, unit   bool
		samples      bool
		seenSeries   map[string]bool
		descriptorAt int
	}
	families := map[string]*family{}
	var cur string
	startFamily := func(name string, n int) (*family, error) {
		f := families[name]
		if f == nil {
			if !metricNameRE.MatchString(name) {
				return nil, fmt.Errorf("line %d: bad metric family name %q", n, name)
			}
			f = &family{typ: "unknown", seenSeries: map[string]bool{}, descriptorAt: n}
			families[name] = f
			cur = name
			return f, nil
		}
		if name != cur {
			return nil, fmt.Errorf("line %d: family %s is interleaved with another", n, name)
		}
		return f, nil
	}
	for i, line := range lines {
		n := i + 1
		if line == "" {
			return fmt.Errorf("line %d: empty line", n)
		}
		if strings.HasPrefix(line, "#") {
			parts := strings.SplitN(line, " ", 4)
			if len(parts) < 3 || parts[0] != "#" {
				return fmt.Errorf("line %d: bad descriptor %q", n, line)
			}
			f, err := startFamily(parts[2], n)
			if err != nil {
				return err
			}
			if f.samples {
				return fmt.Errorf("line %d: descriptor after samples of %s", n, parts[2])
			}
			arg := ""
			if len(parts) == 4 {
				arg = parts[3]
			}
			switch parts[1] {
			case "HELP":
				if f.help {
					return fmt.Errorf("line %d: second HELP for %s", n, parts[2])
				}
				f.help = true
				if err := checkEscapes(arg, true); err != nil {
					return fmt.Errorf("line %d: HELP: %w", n, err)
				}
			case "TYPE":
				if f.typ != "unknown" || suffixes[arg] == nil {
					return fmt.Errorf("line %d: bad or second TYPE %q", n, arg)
				}
				f.typ = arg
				if arg == "counter" && strings.HasSuffix(parts[2], "_total") {
					return fmt.Errorf("line %d: counter family %s must be named without _total", n, parts[2])
				}
			case "UNIT":
				if f.unit || !strings.HasSuffix(parts[2], "_"+arg) {
					return fmt.Errorf("line %d: bad UNIT %q", n, arg)
				}
				f.unit = true
			default:
				return fmt.Errorf("line %d: unknown descriptor %q", n, parts[1])
			}
			continue
		}
		name, labels, rest, err := splitSample(line)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		fam := ""
		if cur != "" {
			for _, suf := range suffixes[families[cur].typ] {
				if name == cur+suf {
					fam = cur
				}
			}
		}
		if fam == "" {
			// A sample of an earlier family, or a misnamed one of this family?
			for other, f := range families {
				for _, suf := range suffixes[f.typ] {
					if name == other+suf || name == other {
						return fmt.Errorf("line %d: sample %s does not belong here (family %s, type %s; current family %s)", n, name, other, f.typ, cur)
					}
				}
			}
			// A sample starting a family of type unknown, named as itself.
			if _, err := startFamily(name, n); err != nil {
				return err
			}
			fam = name
		}
		f := families[fam]
		f.samples = true
		series := name + "{" + labels + "}"
		if f.seenSeries[series] {
			return fmt.Errorf("line %d: series %s twice", n, series)
		}
		f.seenSeries[series] = true
		fields := strings.Split(rest, " ")
		if len(fields) > 2 {
			return fmt.Errorf("line %d: exemplars or extra fields are not expected: %q", n, rest)
		}
		v, err := parseOMNumber(fields[0])
		if err != nil {
			return fmt.Errorf("line %d: value: %w", n, err)
		}
		if f.typ == "counter" && (v < 0 || v != v) {
			return fmt.Errorf("line %d: counter value %v", n, v)
		}
		if len(fields) == 2 {
			if _, err := parseOMNumber(fields[1]); err != nil {
				return fmt.Errorf("line %d: timestamp: %w", n, err)
			}
		}
	}
	return nil
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	omNumberRE   = regexp.MustCompile(`^(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?Inf|NaN)$`)
)

func parseOMNumber(s string) (float64, error) {
	if !omNumberRE.MatchString(s) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return strconv.ParseFloat(s, 64)
}

// splitSample splits `name{labels} rest`; labels is the text between the braces.
func splitSample(line string) (name, labels, rest string, err error) {
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return "", "", "", fmt.Errorf("bad sample %q", line)
	}
	name = line[:i]
	if !metricNameRE.MatchString(name) {
		return "", "", "", fmt.Errorf("bad metric name %q", name)
	}
	line = line[i:]
	if line[0] == '{' {
		// Walk the label set, honouring escapes inside values.
		seen := map[string]bool{}
		j := 1
		for line[j] != '}' {
			eq := strings.IndexByte(line[j:], '=')
			if eq < 0 {
				return "", "", "", fmt.Errorf("bad labels in %q", line)
			}
			ln := line[j : j+eq]
			if !labelNameRE.MatchString(ln) || seen[ln] {
				return "", "", "", fmt.Errorf("bad or repeated label name %q", ln)
			}
			seen[ln] = true
			j += eq + 1
			if j >= len(line) || line[j] != '"' {
				return "", "", "", fmt.Errorf("label %s: value not quoted", ln)
			}
			j++
			start := j
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' {
					j++
				}
			}
			if j >= len(line) {
				return "", "", "", fmt.Errorf("label %s: unterminated value", ln)
			}
			if err := checkEscapes(line[start:j], true); err != nil {
				return "", "", "", fmt.Errorf("label %s: %w", ln, err)
			}
			j++ // closing quote
			if j >= len(line) {
				return "", "", "", fmt.Errorf("unterminated label set")
			}
			switch line[j] {
			case ',':
				j++
			case '}':
			default:
				return "", "", "", fmt.Errorf("unexpected %q after label %s", line[j], ln)
			}
		}
		labels = line[1:j]
		line = line[j+1:]
	}
	if !strings.HasPrefix(line, " ") || strings.HasPrefix(line, "  ") {
		return "", "", "", fmt.Errorf("want one space before the value in %q", line)
	}
	return name, labels, line[1:], nil
}

// checkEscapes allows only the \\, \n and \" escapes, and no raw newline
// or (when quoted) unescaped double quote.
func checkEscapes(s string, quoted bool) error {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 >= len(s) {
				return fmt.Errorf("trailing backslash")
			}
			i++
			if s[i] != '\\' && s[i] != 'n' && s[i] != '"' {
				return fmt.Errorf("bad escape \\%c", s[i])
			}
		case '\n':
			return fmt.Errorf("raw newline")
		case '"':
			if quoted {
				return fmt.Errorf("unescaped double quote")
			}
		}
	}
	return nil
}

// SampleLines returns the non-comment lines of an exposition.
func SampleLines(text string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// statusCount is how many statuses a state set has: the eight documented
// StatusTypes and Unknown. (testenv cannot import assuresign, whose own tests
// use testenv.)
const statusCount = 9

// AssertStateSets checks that every document in g's assuresign_document_status
// has one series per status, exactly one of them 1; it returns each
// document's status.
func AssertStateSets(t testing.TB, g prometheus.Gatherer) map[string]string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	states := map[string]map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "assuresign_document_status" {
			continue
		}
		for _, m := range mf.GetMetric() {
			id, st := documentStatus(m)
			if states[id] == nil {
				states[id] = map[string]float64{}
			}
			states[id][st] = m.GetGauge().GetValue()
		}
	}
	current := map[string]string{}
	for id, byStatus := range states {
		if len(byStatus) != statusCount {
			t.Errorf("%s: %d status series, want %d", id, len(byStatus), statusCount)
		}
		for st, v := range byStatus {
			switch v {
			case 1:
				if current[id] != "" {
					t.Errorf("%s: a second status is 1: %s", id, st)
				}
				current[id] = st
			case 0:
			default:
				t.Errorf("%s: status %s is %v", id, st, v)
			}
		}
		if current[id] == "" {
			t.Errorf("%s: no status is 1", id)
		}
	}
	return current
}
