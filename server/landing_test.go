package server

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

func TestLandingPageListsDocuments(t *testing.T) {
	var ready atomic.Bool
	fx := newFixture(t, fixtureOptions{docs: fixedDocs(), answers: fixedAnswers(), ready: ready.Load, version: "1.2.3"})
	// A reload: A's labels change, B gets its own ContextIdentifier, D is
	// new. Then C's request fails, and D's status is one AssureSign never
	// documented.
	fx.upstream.set(map[string]answer{
		docC: {err: errors.New("assuresign: HTTP status 503")},
		docD: {result: assuresign.Result{RawStatus: "Archived", Status: assuresign.StatusUnknown}, at: t0},
	})
	fx.refresher.SetWatchList(&watchlist.List{Documents: []watchlist.Document{
		{ID: docA, AuthToken: secretTokenA, Labels: map[string]string{"customer": "acme", "note": `<script>alert("x")</script>`}},
		{ID: docB, AuthToken: secretTokenB, ContextIdentifier: secretDocContext},
		{ID: docC, AuthToken: secretTokenC, ContextIdentifier: secretDocContext},
		{ID: docD, AuthToken: secretTokenWrong},
	}, LabelNames: []string{"customer", "note"}})
	waitForDocument(t, fx.store, docC, func(d collector.DocumentView) bool { return d.LastError != "" }, "C's failed check")
	waitForDocument(t, fx.store, docD, func(d collector.DocumentView) bool { return d.Status != "Unknown" }, "D's answer")
	page := fx.handler

	rec := get(t, page, "/")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	html := rec.Body.String()
	for _, want := range []string{
		"Version 1.2.3.", "Waiting for the first refresh round.", `<a href="/metrics">Metrics</a>`, "4 watched.",
		// A: id, labels (escaped), status, step, status date, last check.
		"<tr><td>" + docA + "</td><td>customer=acme note=&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; </td><td>SigningStepInProgress</td><td>2</td><td>2024-03-01T11:00:00Z</td><td>2024-03-01T12:00:30Z</td><td class=\"err\"></td></tr>",
		// B: exceptions only, so the last error.
		"<tr><td>" + docB + "</td><td></td><td>Completed</td><td></td><td>2024-02-29T13:30:00Z</td><td>2024-03-01T12:00:00Z</td><td class=\"err\">Unknown: u</td></tr>",
		// C: never answered, then a failed request.
		"<tr><td>" + docC + "</td><td></td><td>Unknown</td><td></td><td>never</td><td>never</td><td class=\"err\">assuresign: HTTP status 503</td></tr>",
		"<tr><td>" + docD + "</td><td></td><td>Unknown (Archived)</td>",
	} {
		assert.Contains(t, html, want)
	}
	assert.NotContains(t, html, "<script>")
	allSecrets.AssertNone(t, "the landing page", html)

	ready.Store(true)
	assert.Contains(t, get(t, page, "/").Body.String(), "First refresh round finished.")
}

func TestLandingPageShowsAtMostTheLimit(t *testing.T) {
	s := collector.NewStore(collector.StoreConfig{})
	ids := make([]string, landingLimit+1)
	for i := range ids {
		ids[i] = testGUID(0x1A4D, i)
	}
	s.SetWatchList(watchList(ids...))
	html := get(t, newHandler(t, s, prometheus.NewRegistry(), discardLogger()), "/").Body.String()
	assert.Contains(t, html, fmt.Sprintf("%d watched; the first %d by id are shown.", landingLimit+1, landingLimit))
	assert.Equal(t, landingLimit, strings.Count(html, "<tr><td>"))
	assert.Contains(t, html, ids[landingLimit-1])
	assert.NotContains(t, html, ids[landingLimit])
}

func TestLandingPageIsOnlyAtTheRoot(t *testing.T) {
	page := newFixture(t, fixtureOptions{docs: fixedDocs(), answers: fixedAnswers()}).handler
	for _, path := range []string{"/favicon.ico", "/metric", "/index.html", "/" + docA} {
		rec := get(t, page, path)
		assert.Equal(t, http.StatusNotFound, rec.Code, path)
		assert.NotContains(t, rec.Body.String(), docA, path)
	}
}

// The landing page shows every document's last error, and errors are where
// secrets could slip through: AssureSign's exceptions quoting a token or the
// ContextIdentifier, answers for a document of another account or with a
// wrong AuthToken, a failed request. With all of these on it, the page (and
// /metrics beside it) holds no AuthToken or ContextIdentifier. Collector's
// TestSecretsNeverLeak searches the documents' views, the logs and the
// exposition after many more kinds of failure; this is the page itself.
func TestLandingPageNeverShowsSecrets(t *testing.T) {
	sim := simulator.New(secretContext)
	for _, d := range []simulator.Document{
		{ID: docA, AuthToken: secretTokenA, Status: assuresign.StatusCreated, StatusDate: t0, Exceptions: []assuresign.Exception{
			{Severity: assuresign.SeverityWarning, Message: "token " + secretTokenA + " for context " + strings.ToLower(secretContext)},
			{Severity: assuresign.SeverityError, Message: "raw " + strings.ReplaceAll(secretTokenA, "-", "")},
		}},
		{ID: docB, AuthToken: secretTokenB, Status: assuresign.StatusCreated, StatusDate: t0},
		{ID: docC, AuthToken: secretTokenC, Status: assuresign.StatusCreated, StatusDate: t0},
	} {
		sim.Put(d)
	}
	srv := httptest.NewServer(sim)
	tr := &http.Transport{}
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	// B has its own ContextIdentifier, of another account; C's AuthToken in
	// the watch file is wrong.
	wl := &watchlist.List{Documents: []watchlist.Document{
		{ID: docA, AuthToken: secretTokenA, Labels: map[string]string{"customer": "acme"}},
		{ID: docB, AuthToken: secretTokenB, ContextIdentifier: secretDocContext},
		{ID: docC, AuthToken: secretTokenWrong},
	}, LabelNames: []string{"customer"}}
	client, err := assuresign.NewClient(assuresign.Config{
		Endpoint: srv.URL, HTTPClient: &http.Client{Transport: tr}, MaxRetries: -1, Logger: discardLogger(),
	})
	require.NoError(t, err)
	fx := newFixture(t, fixtureOptions{docs: wl, checker: client, cfg: collector.RefreshConfig{BatchSize: 50}})

	page := func(want ...string) {
		t.Helper()
		rec := get(t, fx.handler, "/")
		require.Equal(t, http.StatusOK, rec.Code)
		for _, w := range want {
			assert.Contains(t, rec.Body.String(), w)
		}
		allSecrets.AssertNone(t, "the landing page", rec.Body.String())
	}
	page(
		"<td>"+docA+"</td><td>customer=acme </td><td>Created</td>",
		"Error: raw &lt;secret&gt;", // A's exception, its token redacted
		"Error: The ContextIdentifier is not valid for this account.",
		"Error: The AuthToken is not valid for this document.",
	)

	// A failed request for A: its error is shown instead.
	sim.SetFault(simulator.Fault{Kind: simulator.FaultSOAPFault})
	require.True(t, fx.refresher.CheckNow(docA, t0))
	waitForDocument(t, fx.store, docA, func(d collector.DocumentView) bool { return !strings.Contains(d.LastError, "raw") }, "the failed request's error")
	sim.ClearFault()
	a, _ := view(fx.store, docA)
	require.NotEmpty(t, a.LastError)
	page("<td>"+docA+"</td><td>customer=acme </td><td>Created</td>", template.HTMLEscapeString(a.LastError))

	for _, accept := range []string{"", "application/openmetrics-text;version=1.0.0"} {
		text := body(t, scrape(fx.handler, http.Header{"Accept": {accept}}))
		assert.Contains(t, text, `customer="acme"`)
		allSecrets.AssertNone(t, "/metrics (Accept: "+accept+")", text)
	}
}

func TestLandingPageShowsCheckIntervals(t *testing.T) {
	s := collector.NewStore(collector.StoreConfig{})
	intervals := []collector.CheckInterval{{Band: "5m", Documents: 20}, {Band: "1h", Documents: 180}, {Band: "terminal", Documents: 800}}
	h, err := New(Options{MetricsPath: "/metrics", Store: s, Gatherer: prometheus.NewRegistry(), Ready: func() bool { return true },
		CheckIntervals: func() []collector.CheckInterval { return intervals }})
	require.NoError(t, err)
	html := get(t, h, "/").Body.String()
	assert.Contains(t, html, "<h2>How often documents are asked</h2>")
	assert.Contains(t, html, "<tr><td>5m</td><td>20</td></tr>\n<tr><td>1h</td><td>180</td></tr>\n<tr><td>terminal</td><td>800</td></tr>")

	assert.NotContains(t, get(t, newHandler(t, s, prometheus.NewRegistry(), discardLogger()), "/").Body.String(), "How often documents are asked",
		"no section without a refresher to ask")
}
