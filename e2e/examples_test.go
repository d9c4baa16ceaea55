//go:build unix

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ---------------------------------------------------------------- alerts.yml for the test

// healthGroup is the group of alerts.yml with the exporter-health alerts
// (AssureSignExporterDown, AssureSignUpstreamUnreachable, ...).
const healthGroup = "assuresign-exporter"

// healthFor replaces the for: of the exporter-health alerts in the test's copy.
const healthFor = "5s"

var (
	groupLineRE    = regexp.MustCompile(`^  - name:\s*(\S+)\s*$`)
	intervalLineRE = regexp.MustCompile(`^(    )interval:\s*\S+\s*$`)
	forLineRE      = regexp.MustCompile(`^(\s+)for:\s*\S+\s*$`)
)

// rewriteAlerts returns alerts.yml for a test at 1s intervals, edited line by
// line so that everything else stays byte for byte as shipped:
//   - every group's `interval:` becomes 1s. The shipped file pins the document
//     group to 15s, which would override the test Prometheus'
//     evaluation_interval of 1s;
//   - the `for:` of every alert of the exporter-health group becomes healthFor:
//     the shipped 5m (10m for AssureSignDataStale) is too long to wait for in
//     `make test`. The document alerts are left as shipped (Declined and
//     co. have no `for:`; Stuck and Exceptions keep their 15m/30m), and so is
//     their keep_firing_for: TestRestartKeepsAlerts tests the shipped 10m.
//
// It fails if the file no longer has the expected shape, so that a change to
// alerts.yml is noticed here rather than silently testing something else.
func rewriteAlerts(src string) (string, error) {
	lines := strings.Split(src, "\n")
	group := ""
	groups, intervals, fors := 0, 0, 0
	for i, l := range lines {
		if m := groupLineRE.FindStringSubmatch(l); m != nil {
			group = m[1]
			groups++
			continue
		}
		if m := intervalLineRE.FindStringSubmatch(l); m != nil && group != "" {
			lines[i] = m[1] + "interval: 1s"
			intervals++
			continue
		}
		if m := forLineRE.FindStringSubmatch(l); m != nil && group == healthGroup {
			lines[i] = m[1] + "for: " + healthFor
			fors++
		}
	}
	switch {
	case groups == 0:
		return "", fmt.Errorf("no rule group found")
	case fors == 0:
		return "", fmt.Errorf("no `for:` found in group %q: the exporter-health alerts moved; update rewriteAlerts", healthGroup)
	}
	return strings.Join(lines, "\n"), nil
}

// TestRewriteAlerts checks the test's edit of the shipped alerts.yml: only
// the evaluation interval and the health alerts' for: change.
func TestRewriteAlerts(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "examples", "alerts.yml"))
	require.NoError(t, err)
	out, err := rewriteAlerts(string(src))
	require.NoError(t, err)

	before, after := strings.Split(string(src), "\n"), strings.Split(out, "\n")
	require.Len(t, after, len(before))
	var changed []string
	for i := range before {
		if before[i] != after[i] {
			changed = append(changed, strings.TrimSpace(before[i])+" -> "+strings.TrimSpace(after[i]))
		}
	}
	assert.Equal(t, []string{
		"interval: 15s -> interval: 1s", // assuresign-documents
		"for: 5m -> for: 5s",            // AssureSignExporterDown
		"for: 5m -> for: 5s",            // AssureSignUpstreamUnreachable
		"for: 10m -> for: 5s",           // AssureSignDataStale
		"for: 5m -> for: 5s",            // AssureSignWatchListReloadFailed
		"for: 5m -> for: 5s",            // AssureSignShardsMissing
		"for: 15m -> for: 5s",           // AssureSignShardingMismatch
		"for: 15m -> for: 5s",           // AssureSignDocumentTRAKSilent
	}, changed, "the shipped alerts.yml changed shape: check that the e2e test still tests what it should")
	assert.Contains(t, out, "        for: 15m\n", "AssureSignDocumentStuck keeps its for:")
	assert.Contains(t, out, "        for: 30m\n", "AssureSignDocumentExceptions keeps its for:")
	assert.Contains(t, out, "        keep_firing_for: 10m\n", "document alerts keep their keep_firing_for (TestRestartKeepsAlerts needs it)")
}

// ---------------------------------------------------------------- the dashboard

type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID      int      `json:"id"`
	Type    string   `json:"type"`
	Title   string   `json:"title"`
	Targets []target `json:"targets"`
	Panels  []panel  `json:"panels"` // a collapsed row's panels
}

type target struct {
	RefID   string `json:"refId"`
	Expr    string `json:"expr"`
	Range   bool   `json:"range"`
	Instant bool   `json:"instant"`
	Format  string `json:"format"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"` // a string, or {"query": "..."}
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
}

// queryText is the variable's query, whichever way it is spelled.
func (v variable) queryText() (string, error) {
	var s string
	if err := json.Unmarshal(v.Query, &s); err == nil {
		return s, nil
	}
	var o struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &o); err != nil {
		return "", fmt.Errorf("variable %s: query is neither a string nor {query}: %s", v.Name, v.Query)
	}
	return o.Query, nil
}

// dashboardQuery is one target of one panel.
type dashboardQuery struct {
	key    string // "type:title/refId": titles are not unique (a stat and a table are both "Open documents")
	panel  panel
	target target
}

func loadDashboard(t *testing.T, path string) (dashboard, []dashboardQuery) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(b, &d), path)
	var qs []dashboardQuery
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, tg := range p.Targets {
				qs = append(qs, dashboardQuery{key: p.Type + ":" + p.Title + "/" + tg.RefID, panel: p, target: tg})
			}
		}
	}
	walk(d.Panels)
	require.NotEmpty(t, qs, "no query in %s", path)
	return d, qs
}

// grafanaVarRE matches Grafana's variable syntaxes: $name, ${name},
// ${name:format} and the deprecated [[name]].
var grafanaVarRE = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(:[^}]*)?\}|\$([A-Za-z0-9_]+)|\[\[([^\]]+)\]\]`)

// substitute fills in Grafana variables. Any variable without a value, and
// any format suffix, is an error naming it.
func substitute(expr string, values map[string]string) (string, error) {
	var unknown []string
	out := grafanaVarRE.ReplaceAllStringFunc(expr, func(m string) string {
		sm := grafanaVarRE.FindStringSubmatch(m)
		name := sm[1] + sm[3] + sm[4]
		if sm[2] != "" || sm[4] != "" {
			unknown = append(unknown, m+" (unsupported syntax)")
			return m
		}
		v, ok := values[name]
		if !ok {
			unknown = append(unknown, m)
			return m
		}
		return v
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("unknown Grafana variable(s) %s in %q: give the test a value for them", strings.Join(unknown, ", "), expr)
	}
	return out, nil
}

func TestSubstitute(t *testing.T) {
	vars := map[string]string{"customer": ".*", "team": "sales", "__rate_interval": "1m", "__range": "5m", "__interval": "15s"}
	got, err := substitute(`rate(x{customer=~"$customer", team=~"${team}"}[$__rate_interval]) + y[$__range] + z[$__interval]`, vars)
	require.NoError(t, err)
	assert.Equal(t, `rate(x{customer=~".*", team=~"sales"}[1m]) + y[5m] + z[15s]`, got)

	for _, bad := range []string{`x[$__range_s]`, `x[$__interval_ms]`, `x{a="$region"}`, `x{a="${customer:csv}"}`, `x{a="[[team]]"}`} {
		_, err := substitute(bad, vars)
		assert.Error(t, err, bad)
	}
}

// labelValuesRE parses a Grafana variable query label_values(selector, label).
var labelValuesRE = regexp.MustCompile(`^\s*label_values\(\s*(.+?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)

// sortedSet returns the distinct strings, sorted.
func sortedSet(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
