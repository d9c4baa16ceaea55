package server

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/refresh"
)

const (
	pageEnvA = "E0000000-0000-4000-8000-00000000000A"
	pageEnvB = "E0000000-0000-4000-8000-00000000000B"
)

func envelopePage(t *testing.T, views []refresh.EnvelopeView) http.Handler {
	t.Helper()
	h, err := New(Options{
		MetricsPath: "/metrics", Store: collector.NewStore(collector.StoreConfig{}), Gatherer: prometheus.NewRegistry(),
		Exporter: exporterFuncs{envelopes: func() []refresh.EnvelopeView { return views }},
		Now:      func() time.Time { return testenv.T0 },
	})
	require.NoError(t, err)
	return h
}

// The landing page lists each envelope with its state, its documents (names
// included, escaped) and its listing, and filters by envelope.
func TestLandingPageShowsEnvelopes(t *testing.T) {
	views := []refresh.EnvelopeView{
		{ID: pageEnvA, Labels: map[string]string{"customer": "acme"}, Status: assuresign.StatusDeclined, Tried: true, ListOK: true,
			LastList: testenv.T0.Add(-2 * time.Minute), Documents: []refresh.EnvelopeDocumentView{
				{ID: testenv.DocA, Name: `Contract <b>J. Doe</b>`, OrderID: "1", Status: assuresign.StatusDeclined},
				{ID: testenv.DocB, Name: "Schedule A", OrderID: "2", Status: assuresign.StatusCompleted},
			}},
		{ID: pageEnvB, Labels: map[string]string{"customer": "globex"}, Tried: true, LastError: "assuresign: SOAP fault s:Server: down"},
	}
	page := envelopePage(t, views)
	html := get(t, page, "/").Body.String()
	for _, want := range []string{
		`<section id="envelopes"><h2>2 envelopes</h2>`,
		`<td class="id">` + pageEnvA + `</td><td><span class="lbl">customer=acme</span></td><td class="st bad">Declined</td>`,
		`<span class="nw">1</span> <span class="id">` + testenv.DocA + `</span> Contract &lt;b&gt;J. Doe&lt;/b&gt; <span class="st bad">Declined</span>`,
		`Schedule A <span class="st ok">Completed</span>`,
		`listed 2 minutes ago`,
		`<td class="id">` + pageEnvB + `</td>`, `none listed`, `<span class="err">failed: assuresign: SOAP fault s:Server: down</span>`,
	} {
		assert.Contains(t, html, want)
	}

	filtered := get(t, page, "/?envelope=globex").Body.String()
	assert.Contains(t, filtered, "Showing 1 of 1 matching")
	assert.Contains(t, filtered, pageEnvB)
	assert.NotContains(t, filtered, pageEnvA)
	for _, part := range []string{pageEnvA[28:], strings.ToLower(pageEnvA[28:])} { // any case
		byID := get(t, page, "/?envelope="+part).Body.String()
		assert.Contains(t, byID, pageEnvA, part)
		assert.NotContains(t, byID, pageEnvB, part)
	}
	assert.Contains(t, get(t, page, "/?envelope=nothing").Body.String(), "No envelope matches.")

	// No envelopes watched: no section.
	assert.NotContains(t, get(t, envelopePage(t, nil), "/").Body.String(), `id="envelopes"`)
}

// At most envelopesShown envelopes are listed; the count says how many match.
func TestLandingPageBoundsTheEnvelopes(t *testing.T) {
	const n = envelopesShown + 10
	views := make([]refresh.EnvelopeView, n)
	for i := range views {
		views[i] = refresh.EnvelopeView{ID: testenv.GUID(0xE0, i), Labels: map[string]string{"customer": "acme"}}
	}
	html := get(t, envelopePage(t, views), "/").Body.String()
	assert.Contains(t, html, fmt.Sprintf("<h2>%d envelopes</h2>", n))
	assert.Contains(t, html, fmt.Sprintf("Showing %d of %d, by id.", envelopesShown, n))
	rows := regexp.MustCompile(`<tr class="envelope"><td class="id">([^<]*)</td>`).FindAllStringSubmatch(html, -1)
	require.Len(t, rows, envelopesShown)
	for i, row := range rows {
		assert.Equal(t, testenv.GUID(0xE0, i), row[1], "row %d", i)
	}
	assert.Contains(t, get(t, envelopePage(t, views), "/?envelope=ACME").Body.String(),
		fmt.Sprintf("Showing %d of %d matching, by id.", envelopesShown, n))
}
