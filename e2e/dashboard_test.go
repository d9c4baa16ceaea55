//go:build unix

package e2e

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// filter is one setting of the dashboard's Customer and Team drop-downs.
type filter struct{ name, customer, team string }

var (
	// filterAll is "All" in both drop-downs (the variables' allValue).
	filterAll = filter{"All", ".*", ".*"}
	// filterConcrete is one customer and team of the watch file.
	// docCompleted (globex/legal) is outside it.
	filterConcrete = filter{"acme/sales", docDeclined.customer, docDeclined.team}
	filters        = []filter{filterAll, filterConcrete}
)

// values are the Grafana variables' values for a filter setting.
// $datasource only appears in the panels' datasource fields, never in a query.
func (f filter) values() map[string]string {
	return map[string]string{
		"customer":        f.customer,
		"team":            f.team,
		"job":             "assuresign",
		"instance":        ".*",
		"__rate_interval": "1m",
		"__range":         "5m",
		"__interval":      "15s",
	}
}

// choose returns all or concrete, by filter.
func choose[T any](f filter, all, concrete T) T {
	if f == filterConcrete {
		return concrete
	}
	return all
}

// want is what a dashboard query must give in this scenario.
type want struct {
	// check judges the instant query's (non-empty) result; nil: any data.
	check func(f filter, ss []sample) error
	// emptyOK is why the query may legitimately return nothing in this
	// scenario; "" means it must return data. No query uses it at present:
	// the scenario feeds every panel (an Error exception is injected, a
	// DocumentTRAK notification is sent, and the "or vector(0)" stats always
	// give a number, which is checked instead).
	emptyOK string
}

func ids(ds ...document) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.id
	}
	return out
}

// dashboardWants holds, for every query of the dashboard (by "type:title/refId"),
// what it must give once docDeclined is declined, docCreated has an Error
// exception and AssureSign answers.
func dashboardWants() map[string]want {
	open := ids(docCreated, docInProgress)
	return map[string]want{
		// Overview (filtered by customer / team).
		"stat:Open documents/A":           {check: stat(2, 2)},
		"stat:Declined (24h)/A":           {check: stat(1, 1)},
		"stat:Expired (24h)/A":            {check: stat(0, 0)},
		"stat:Completed (24h)/A":          {check: stat(1, 0)}, // docCompleted is globex/legal
		"stat:Stuck > 7d/A":               {check: stat(0, 0)},
		"stat:Firing AssureSign alerts/A": {check: stat(1, 1)}, // the decline; AssureSignDocumentExceptions is only pending (for: 30m)
		// Documents.
		"timeseries:Documents by status/A": {check: counts("status",
			map[string]float64{"Created": 1, "SigningStepInProgress": 1, "Declined": 1, "Completed": 1},
			map[string]float64{"Created": 1, "SigningStepInProgress": 1, "Declined": 1})},
		"table:Declined / expired in the time range/A":              {check: docs(ids(docDeclined), ids(docDeclined))},
		"table:Open documents/A":                                    {check: docs(open, open)},
		"table:Open documents/B":                                    {check: docs(ids(docInProgress), ids(docInProgress))}, // the step: only while in progress
		"table:Open documents/C":                                    {check: both(docs(open, open), within(0, 600))},
		"timeseries:StatusCheckExceptions by severity/A":            {check: positive("severity", "Error")},
		"table:Documents with Error/Fatal exceptions (last hour)/A": {check: docs(ids(docCreated), ids(docCreated))},
		// Exporter health (all customers: no filter in these queries).
		"stat:Exporter scraped/A":                              {check: stat(1, 1)},
		"stat:AssureSign reachable/A":                          {check: stat(1, 1)},
		"stat:Data age/A":                                      {check: within(0, 30)}, // seconds; a round every 2s
		"stat:Refresh interval/A":                              {check: stat(2, 2)},
		"stat:Watched documents/A":                             {check: stat(4, 4)},
		"stat:Watch list reload/A":                             {check: stat(1, 1)},
		"timeseries:AssureSign API requests by result/A":       {check: positive("result", "ok")},
		"timeseries:AssureSign API request latency/A":          {check: within(0, 30)}, // p50, seconds (30 is the top bucket)
		"timeseries:AssureSign API request latency/B":          {check: within(0, 30)}, // p99
		"timeseries:AssureSign API request latency/C":          {check: within(0, 30)}, // last round
		"timeseries:DocumentTRAK webhook requests by result/A": {check: positive("result", "accepted")},
		"timeseries:All watched documents by status/A": {check: counts("status",
			map[string]float64{"Created": 1, "SigningStepInProgress": 1, "Declined": 1, "Completed": 1},
			map[string]float64{"Created": 1, "SigningStepInProgress": 1, "Declined": 1, "Completed": 1})},
		"table:Exporter versions/A": {},
		// Envelopes: this scenario watches none (TestEnvelopeDeclineEndToEnd checks these panels' data).
		"timeseries:Envelopes by state/A": {emptyOK: "no envelope in this scenario"},
		"table:Envelopes/A":               {emptyOK: "no envelope in this scenario"},
		"table:Envelopes/B":               {emptyOK: "no envelope in this scenario"},
		"table:Envelopes/C":               {emptyOK: "no envelope in this scenario"},
	}
}

// variableWants are the values of the dashboard's query variables, by filter.
var variableWants = map[string]map[filter][]string{
	"customer": {filterAll: {"acme", "globex"}, filterConcrete: {"acme", "globex"}},
	"team":     {filterAll: {"legal", "sales"}, filterConcrete: {"sales"}},
	"job":      {filterAll: {"assuresign"}, filterConcrete: {"assuresign"}},
	"instance": {}, // the exporter's address, see checkVariables
}

// ---------------------------------------------------------------- checks

// stat: one series with this value.
func stat(all, concrete float64) func(filter, []sample) error {
	return func(f filter, ss []sample) error {
		want := choose(f, all, concrete)
		if len(ss) != 1 {
			return fmt.Errorf("%d series, want 1 (value %v): %v", len(ss), want, ss)
		}
		if v := ss[0].value(); v != want {
			return fmt.Errorf("value %v, want %v", v, want)
		}
		return nil
	}
}

// docs: exactly these document_id labels.
func docs(all, concrete []string) func(filter, []sample) error {
	return func(f filter, ss []sample) error {
		var got []string
		for _, s := range ss {
			got = append(got, s.Metric["document_id"])
		}
		got, want := sortedSet(got), sortedSet(choose(f, all, concrete))
		if !slices.Equal(got, want) || len(got) != len(ss) {
			return fmt.Errorf("document_id %v (%d series), want %v", got, len(ss), want)
		}
		return nil
	}
}

// counts: a series per key of the map with its value; any other series is 0.
func counts(label string, all, concrete map[string]float64) func(filter, []sample) error {
	return func(f filter, ss []sample) error {
		want := choose(f, all, concrete)
		got := map[string]float64{}
		for _, s := range ss {
			if v := s.value(); v != 0 {
				got[s.Metric[label]] = v
			}
		}
		for k, v := range want {
			if got[k] != v {
				return fmt.Errorf("%s=%q: %v, want %v (all: %v)", label, k, got[k], v, got)
			}
		}
		for k, v := range got {
			if _, ok := want[k]; !ok {
				return fmt.Errorf("%s=%q: %v, want 0 (all: %v)", label, k, v, got)
			}
		}
		return nil
	}
}

// positive: a series with label=value has a value above 0.
func positive(label, value string) func(filter, []sample) error {
	return func(_ filter, ss []sample) error {
		for _, s := range ss {
			if s.Metric[label] == value && s.value() > 0 {
				return nil
			}
		}
		return fmt.Errorf("no series with %s=%q above 0: %v", label, value, ss)
	}
}

// within: every value in [lo, hi] (not NaN).
func within(lo, hi float64) func(filter, []sample) error {
	return func(_ filter, ss []sample) error {
		for _, s := range ss {
			if v := s.value(); math.IsNaN(v) || v < lo || v > hi {
				return fmt.Errorf("value %v of %v outside [%v, %v]", v, s.Metric, lo, hi)
			}
		}
		return nil
	}
}

func both(a, b func(filter, []sample) error) func(filter, []sample) error {
	return func(f filter, ss []sample) error {
		return errors.Join(a(f, ss), b(f, ss))
	}
}

// ---------------------------------------------------------------- running them

type dashboardJob struct {
	q    dashboardQuery
	f    filter
	expr string
}

func (j dashboardJob) String() string { return fmt.Sprintf("%s [%s]", j.q.key, j.f.name) }

// testDashboard runs every query of the dashboard, for both filter settings,
// as an instant query (and as a range query too for range panels). A query
// Prometheus rejects fails at once. The data can take a few more scrapes and
// evaluations (rate() and increase() need two samples, the recording rules a
// round): the queries are polled until all give what the scenario should,
// up to a deadline.
func (s *stack) testDashboard(t *testing.T) {
	start := time.Now()
	d, queries := loadDashboard(t, filepath.Join(s.examples, "grafana-dashboard.json"))
	wants := dashboardWants()
	inDashboard := map[string]bool{}
	for _, q := range queries {
		inDashboard[q.key] = true
		if _, ok := wants[q.key]; !ok {
			t.Errorf("dashboard query %s (%q) is new to the test: decide what it must return in this scenario and add it to dashboardWants", q.key, q.target.Expr)
		}
	}
	for k := range wants {
		if !inDashboard[k] {
			t.Errorf("dashboardWants has %s, which the dashboard no longer has", k)
		}
	}

	s.checkVariables(t, d)

	var jobs []dashboardJob
	for _, q := range queries {
		for _, f := range filters {
			expr, err := substitute(q.target.Expr, f.values())
			if err != nil {
				t.Errorf("%s [%s]: %v", q.key, f.name, err)
				continue
			}
			jobs = append(jobs, dashboardJob{q, f, expr})
		}
	}

	pending := jobs
	rounds := 0
	s.eventually(t, 40*time.Second, 500*time.Millisecond, "every dashboard query to give what this scenario should", func() (bool, string) {
		rounds++
		var failing []dashboardJob
		var msgs []string
		for _, j := range pending {
			err := s.runDashboardJob(j, wants[j.q.key])
			var rejected *promAPIError
			switch {
			case errors.As(err, &rejected):
				t.Errorf("%s: Prometheus rejects %q: %v", j, j.expr, err)
			case err != nil:
				failing = append(failing, j)
				msgs = append(msgs, fmt.Sprintf("%s: %v\n    query: %s", j, err, j.expr))
			}
		}
		pending = failing
		return len(pending) == 0, fmt.Sprintf("%d queries do not:\n%s", len(pending), strings.Join(msgs, "\n"))
	})
	t.Logf("%d dashboard queries x %d filter settings give the expected data (%d polling rounds, %.1fs)",
		len(queries), len(filters), rounds, time.Since(start).Seconds())
}

func (s *stack) runDashboardJob(j dashboardJob, w want) error {
	ss, err := s.prom.query(j.expr)
	if err != nil {
		return err
	}
	switch {
	case len(ss) == 0 && w.emptyOK != "":
		// Allowed: see emptyOK.
	case len(ss) == 0:
		return errors.New("instant query: no data")
	case w.check != nil:
		if err := w.check(j.f, ss); err != nil {
			return fmt.Errorf("instant query: %w", err)
		}
	}
	if !j.q.target.Range {
		return nil
	}
	// As Grafana runs a graph: over a range, at the $__interval step.
	end := time.Now()
	rs, err := s.prom.queryRange(j.expr, end.Add(-time.Minute), end, 15*time.Second)
	if err != nil {
		return err
	}
	if len(rs) == 0 && w.emptyOK == "" {
		return errors.New("range query: no data")
	}
	return nil
}

// checkVariables runs the query variables (label_values(selector, label)) as
// Grafana does, through the label values API.
func (s *stack) checkVariables(t *testing.T, d dashboard) {
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			continue // picks the data source: no PromQL
		case "query":
		default:
			t.Errorf("variable %s: type %q is new to the test", v.Name, v.Type)
			continue
		}
		q, err := v.queryText()
		if err != nil {
			t.Error(err)
			continue
		}
		m := labelValuesRE.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label), which the test knows", v.Name, q)
			continue
		}
		wantByFilter, ok := variableWants[v.Name]
		if !ok {
			t.Errorf("variable %s is new to the test: add its values to variableWants", v.Name)
			continue
		}
		if !v.IncludeAll || v.AllValue != ".*" {
			t.Errorf("variable %s: the test assumes includeAll with allValue .*, not %v/%q", v.Name, v.IncludeAll, v.AllValue)
		}
		for _, f := range filters {
			sel, err := substitute(m[1], f.values())
			if err != nil {
				t.Errorf("variable %s: %v", v.Name, err)
				continue
			}
			var got []string
			if err := s.prom.call("/api/v1/label/"+m[2]+"/values", url.Values{"match[]": {sel}}, &got); err != nil {
				t.Errorf("variable %s [%s]: label values of %s for %s: %v", v.Name, f.name, m[2], sel, err)
				continue
			}
			want := wantByFilter[f]
			if v.Name == "instance" {
				want = []string{s.exporterAddr} // known only once the stack runs
			}
			if !slices.Equal(sortedSet(got), want) {
				t.Errorf("variable %s [%s]: %v, want %v", v.Name, f.name, got, want)
			}
		}
	}
}
