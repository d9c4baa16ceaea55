// Package storetest has the test helpers of the store's tests (package
// collector), the refresh's and the server's, once. It does not import
// collector, so collector's own tests can use it: the store is reached
// through the methods each helper needs.
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/exposition"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/upstream/upstreamtest"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// WatchList builds a watch list of documents without labels or contexts,
// each with a distinct token.
func WatchList(ids ...string) *watchlist.List {
	wl := &watchlist.List{}
	for i, id := range ids {
		wl.Documents = append(wl.Documents, watchlist.Entry{ID: id, AuthToken: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)})
	}
	return wl
}

// AnswerAll answers every check with status st.
func AnswerAll(st assuresign.Status, date time.Time) upstreamtest.CheckFunc {
	return func(_ context.Context, checks []assuresign.Check) ([]assuresign.Result, error) {
		out := make([]assuresign.Result, len(checks))
		for i, c := range checks {
			out[i] = assuresign.Result{ID: c.ID, RawStatus: st.String(), Status: st, StatusDate: date}
		}
		return out, nil
	}
}

// DueChecks drops Store.Due's count and mark count, for tests that look only
// at what is due.
func DueChecks(due []assuresign.Check, _ int, _ uint64) []assuresign.Check { return due }

// DueIDs returns the ids of the checks Store.Due returned.
func DueIDs(due []assuresign.Check, _ int, _ uint64) []string {
	ids := make([]string, len(due))
	for i, c := range due {
		ids[i] = c.ID
	}
	return ids
}

// Published is what a scrape reads of the store (*collector.Store).
type Published interface {
	Publish() exposition.PublishStats
	Metrics() *exposition.Exposition
}

// Scrape publishes what changed in s and returns its plain body, in the
// text format, or in OpenMetrics with openMetrics (then ending in "# EOF",
// as a scrape does).
func Scrape(t testing.TB, s Published, openMetrics bool) string {
	t.Helper()
	s.Publish()
	var buf bytes.Buffer
	var tail []byte
	if openMetrics {
		tail = []byte("# EOF\n")
	}
	if err := s.Metrics().Write(&buf, openMetrics, false, TailOf(string(tail))); err != nil {
		t.Fatalf("writing the exposition: %v", err)
	}
	return buf.String()
}

// Documents turns s's text exposition into a Gatherer: every Gather renders
// s and parses the text as Prometheus would. prometheus.Gatherers sorts the
// result and checks its consistency (types, duplicate series, label names,
// UTF-8), as a registry would, also against the other gatherers given, such
// as the registry of the exporter's own metrics.
func Documents(s Published, others ...prometheus.Gatherer) prometheus.Gatherer {
	return append(prometheus.Gatherers{prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		s.Publish()
		var buf bytes.Buffer
		if err := s.Metrics().Write(&buf, false, false, TailOf("")); err != nil {
			return nil, err
		}
		return testenv.ParseText(buf.String())
	})}, others...)
}

// TailOf returns a tail for Exposition.Write: the exporter's own metrics,
// here text, cut in two Tails as the server writes the runtime's metrics,
// kept for a second, and then the exporter's.
func TailOf(text string) func() ([]*exposition.Tail, error) {
	half := len(text) / 2
	tails := []*exposition.Tail{exposition.NewTail([]byte(text[:half]), false), exposition.NewTail([]byte(text[half:]), true)}
	return func() ([]*exposition.Tail, error) { return tails, nil }
}

// CheckSuccess returns assuresign_document_check_success by document id, as
// a scrape reads it.
func CheckSuccess(t testing.TB, s Published) map[string]float64 {
	t.Helper()
	mfs, err := testenv.ParseText(Scrape(t, s, false))
	if err != nil {
		t.Fatalf("parsing the exposition: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "assuresign_document_check_success" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "document_id" {
					out[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}
