package server

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/refresh"
	"github.com/assuresign-exporter/assuresign_exporter/upstream"
	"github.com/assuresign-exporter/assuresign_exporter/upstream/upstreamtest"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

func TestLandingPageListsDocuments(t *testing.T) {
	var ready atomic.Bool
	fx := newFixture(t, fixtureOptions{docs: fixedDocs(), answers: fixedAnswers(), ready: ready.Load, version: "1.2.3"})
	// A reload: A's labels change, B gets its own ContextIdentifier, D is
	// new. Then C's request fails, and D's status is one AssureSign never
	// documented.
	fx.upstream.set(map[string]answer{
		testenv.DocC: {err: errors.New("assuresign: HTTP status 503")},
		testenv.DocD: {result: assuresign.Result{RawStatus: "Archived", Status: assuresign.StatusUnknown}, at: testenv.T0},
	})
	fx.refresher.SetWatchList(&watchlist.List{Documents: []watchlist.Entry{
		{ID: testenv.DocA, AuthToken: testenv.SecretTokenA, Labels: map[string]string{"customer": "acme", "note": `<script>alert("x")</script>`}},
		{ID: testenv.DocB, AuthToken: testenv.SecretTokenB, ContextIdentifier: testenv.SecretDocContext},
		{ID: testenv.DocC, AuthToken: testenv.SecretTokenC, ContextIdentifier: testenv.SecretDocContext},
		{ID: testenv.DocD, AuthToken: testenv.SecretTokenWrong},
	}, LabelNames: []string{"customer", "note"}})
	waitForDocument(t, fx.store, testenv.DocC, func(d collector.DocumentView) bool { return d.LastError != "" }, "C's failed check")
	waitForDocument(t, fx.store, testenv.DocD, func(d collector.DocumentView) bool { return d.Status != "Unknown" }, "D's answer")
	page := fx.handler

	rec := get(t, page, "/")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	html := rec.Body.String()
	for _, want := range []string{
		"<span>1.2.3</span>", "First round in progress: checked 4 of 4.", `<a href="/metrics">Metrics</a>`, "4 documents by status",
		"Showing 1–4 of 4, by id.",
		// A: id, labels (escaped), status, where it stands, status date, last check.
		`<tr><td class="id">` + testenv.DocA + `</td><td><span class="lbl">customer=acme</span><span class="lbl">note=&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</span></td><td class="st active">SigningStepInProgress</td><td>in step 2 for 1 hour</td><td class="nw">2024-03-01T11:00:00Z</td><td class="nw">`,
		// B: exceptions only, so the last error.
		`<tr><td class="id">` + testenv.DocB + `</td><td></td><td class="st ok">Completed</td><td>Completed 22 hours ago</td><td class="nw">2024-02-29T13:30:00Z</td><td class="nw">`,
		`<td class="err">Unknown: u</td></tr>`,
		// C: never answered, then a failed request: a problem.
		`<tr><td class="id">` + testenv.DocC + `</td><td></td><td class="st muted">Unknown</td><td>not checked yet</td><td class="nw">never</td><td class="nw">never</td><td class="err">assuresign: HTTP status 503</td></tr>`,
		`<tr class="problem"><td class="st bad">Check failing</td><td class="id">` + testenv.DocC + `</td>`,
		`<td class="st muted">Unknown (Archived)</td>`,
	} {
		assert.Contains(t, html, want)
	}
	assert.NotContains(t, html, "<script>")
	testenv.KnownSecrets.AssertNone(t, "the landing page", html)

	ready.Store(true)
	assert.Contains(t, get(t, page, "/").Body.String(), "First round finished.")
}

// landingDocs is a watch list of n documents with labels, and a checker
// answering for them at testenv.T0: statuses spread over the life cycle, with, at
// fixed places, one Declined document, one stuck at step 2 for ten days and
// one whose checks answer with an Error exception.
func landingDocs(n int) (*watchlist.List, upstream.API) {
	wl, index := labelledDocs(n, 0x1A4D)
	wl.Documents[n/2].Labels = map[string]string{"customer": "wayne", "team": "legal"} // the one wayne
	mostly := []assuresign.Status{assuresign.StatusSigningStepInProgress, assuresign.StatusCompleted, assuresign.StatusCreated}
	return wl, upstreamtest.CheckFunc(func(_ context.Context, checks []assuresign.Check) ([]assuresign.Result, error) {
		out := make([]assuresign.Result, len(checks))
		for k, c := range checks {
			i := index[c.ID]
			st := mostly[i%len(mostly)]
			r := assuresign.Result{ID: c.ID, Status: st, StatusDate: testenv.T0.Add(-time.Duration(i%1000) * time.Minute), Step: 1 + i%3}
			switch i {
			case n - 1: // the last by id: only problems-first brings it to the top
				r.Status = assuresign.StatusDeclined
				r.StatusDate = testenv.T0.Add(-3 * 24 * time.Hour)
			case n - 2:
				r.Status, r.Step = assuresign.StatusSigningStepInProgress, 2
				r.StatusDate = testenv.T0.Add(-10 * 24 * time.Hour)
			case n - 3:
				r.Exceptions = []assuresign.Exception{{Severity: assuresign.SeverityError, Message: "Something <failed>"}}
			}
			r.RawStatus = r.Status.String()
			out[k] = r
		}
		return out, nil
	})
}

func TestLandingPageShowsProblemsFirst(t *testing.T) {
	const n = 1000
	wl, checker := landingDocs(n)
	fx := newFixture(t, fixtureOptions{docs: wl, checker: checker, cfg: refresh.Config{BatchSize: 500}})
	html := get(t, fx.handler, "/").Body.String()
	declined, stuck, failing := testenv.GUID(0x1A4D, n-1), testenv.GUID(0x1A4D, n-2), testenv.GUID(0x1A4D, n-3)

	// Counts by status, the problem ones marked.
	assert.Contains(t, html, `<a class="tile bad nonzero" href="?status=Declined#documents"><b>1</b>Declined</a>`)
	assert.Contains(t, html, `<a class="tile bad zero" href="?status=Expired#documents"><b>0</b>Expired</a>`)
	assert.Contains(t, html, "<h2>Problems: 3</h2>")
	assert.Contains(t, html, `href="?problem=stuck#documents"><b>1</b>Stuck</a>`)
	assert.Contains(t, html, "AssureSign: <span class=\"badge up\">up</span>")
	assert.Regexp(t, "Next round: in [45] minutes", html, "5 minutes less the jitter")
	// In the problem table, newest first (by status date), each with its age.
	rows := problemRows(html)
	require.Len(t, rows, 3)
	assert.Contains(t, rows[0], failing)
	assert.Contains(t, rows[0], `<td class="err">Error: Something &lt;failed&gt;</td>`)
	assert.Contains(t, rows[1], declined)
	assert.Contains(t, rows[1], "<td>Declined 3 days ago</td>")
	assert.Contains(t, rows[2], stuck)
	assert.Contains(t, rows[2], "<td>in step 2 for 10 days</td>")
	assert.Contains(t, html, "Newest first, by status date.")

	// The stuck threshold is the page's option.
	h, err := New(Options{MetricsPath: "/metrics", Store: fx.store, Gatherer: fx.reg, Exporter: exporterFuncs{},
		Now: fx.clock.Now, StuckAfter: 30 * 24 * time.Hour})
	require.NoError(t, err)
	assert.Contains(t, get(t, h, "/").Body.String(), "<h2>Problems: 2</h2>")
}

func TestLandingPageMarksTheDemo(t *testing.T) {
	wl, checker := landingDocs(10)
	for _, demo := range []bool{false, true} {
		fx := newFixture(t, fixtureOptions{docs: wl, checker: checker, demo: demo})
		html := get(t, fx.handler, "/").Body.String()
		marker := `<span class="badge demo" id="demo" title="--demo: a built-in simulator stands in for AssureSign">Demo: simulated AssureSign, made-up documents</span>`
		if demo {
			assert.Contains(t, html, marker)
		} else {
			assert.NotContains(t, html, "Demo:")
		}
	}
}

// problemRows cuts the rows of the problem table out of the page.
func problemRows(html string) []string {
	return strings.Split(html[strings.Index(html, `id="problems"`):strings.Index(html, `id="documents"`)], `<tr class="problem">`)[1:]
}

// TestLandingPageListsTheNewestProblems: with more problems than the page
// lists, the newest are listed, newest first, whatever their ids and kinds.
func TestLandingPageListsTheNewestProblems(t *testing.T) {
	const n, problems = 300, problemsShown + 20
	wl, index := labelledDocs(n, 0x1A4D)
	checker := upstreamtest.CheckFunc(func(_ context.Context, checks []assuresign.Check) ([]assuresign.Result, error) {
		out := make([]assuresign.Result, len(checks))
		for k, c := range checks {
			i := index[c.ID]
			r := assuresign.Result{ID: c.ID, Status: assuresign.StatusCompleted, StatusDate: testenv.T0.Add(-time.Hour)}
			if i < problems { // the higher the id, the newer; every other one expired
				r.Status, r.StatusDate = assuresign.StatusDeclined, testenv.T0.Add(-time.Duration(problems-i)*time.Minute)
				if i%2 == 1 {
					r.Status = assuresign.StatusExpired
				}
			}
			r.RawStatus = r.Status.String()
			out[k] = r
		}
		return out, nil
	})
	fx := newFixture(t, fixtureOptions{docs: wl, checker: checker, cfg: refresh.Config{BatchSize: 500}})
	html := get(t, fx.handler, "/").Body.String()
	assert.Contains(t, html, fmt.Sprintf("<h2>Problems: %d</h2>", problems))
	assert.Contains(t, html, fmt.Sprintf("The newest %d are listed; follow a count above for all.", problemsShown))
	rows := problemRows(html)
	require.Len(t, rows, problemsShown)
	for k, row := range rows {
		assert.Contains(t, row, testenv.GUID(0x1A4D, problems-1-k), "row %d", k)
	}
}

func TestLandingPageSearchFiltersAndPages(t *testing.T) {
	const n = 1000
	wl, checker := landingDocs(n)
	fx := newFixture(t, fixtureOptions{docs: wl, checker: checker, cfg: refresh.Config{BatchSize: 500}})
	ids := func(html string) []string {
		part := html[strings.Index(html, `id="documents"`):]
		var out []string
		for _, row := range strings.Split(part, `<tr><td class="id">`)[1:] {
			out = append(out, row[:36])
		}
		return out
	}
	for _, tc := range []struct {
		query string
		want  []string // the page's ids; nil: only count
		note  string
	}{
		{"/", nil, "Showing 1–100 of 1000, by id."},
		{"/?page=10", nil, "Showing 901–1000 of 1000, by id."},
		{"/?q=wayne", []string{testenv.GUID(0x1A4D, n/2)}, "Showing 1–1 of 1 matching, by id."},
		{"/?q=customer%3Dwayne", []string{testenv.GUID(0x1A4D, n/2)}, "Showing 1–1 of 1 matching"},
		{"/?q=" + strings.ToLower(testenv.GUID(0x1A4D, 7)[24:]), []string{testenv.GUID(0x1A4D, 7)}, "Showing 1–1 of 1 matching"},
		{"/?status=Declined", []string{testenv.GUID(0x1A4D, n-1)}, "of 1 matching"},
		{"/?problem=check_failing", []string{testenv.GUID(0x1A4D, n-3)}, "of 1 matching"},
		{"/?q=team-3&status=Completed", nil, "Showing 1–48 of 48 matching"},
		{"/?q=nothing-like-it", []string{}, "No document matches."},
	} {
		t.Run(tc.query, func(t *testing.T) {
			html := get(t, fx.handler, tc.query).Body.String()
			assert.Contains(t, html, tc.note)
			if tc.want != nil {
				assert.Equal(t, tc.want, append([]string{}, ids(html)...))
			}
		})
	}
	first, tenth := get(t, fx.handler, "/").Body.String(), get(t, fx.handler, "/?page=10").Body.String()
	assert.Len(t, ids(first), 100)
	assert.Equal(t, testenv.GUID(0x1A4D, 0), ids(first)[0])
	assert.Equal(t, testenv.GUID(0x1A4D, 999), ids(tenth)[99])
	assert.Contains(t, first, `<a href="?page=2#documents">next →</a>`)
	assert.Contains(t, tenth, `<a href="?page=9#documents">← previous</a>`)
	assert.NotContains(t, tenth, "next →")
	// A search keeps its filters in the pager's links and the form.
	html := get(t, fx.handler, "/?q=acme&status=Created&page=1").Body.String()
	assert.Contains(t, html, `<a class="tile ok nonzero" href="?q=acme&amp;status=Completed#documents">`)
	assert.Contains(t, html, `name="q" value="acme"`)
	assert.Contains(t, html, `<option selected>Created</option>`)
	assert.Contains(t, get(t, fx.handler, "/?q=acme&page=2").Body.String(), `<a href="?page=3&amp;q=acme#documents">next →</a>`)

	// A page past the end, up to one whose offset overflows, is the last page.
	for _, page := range []string{"11", "92233720368547758", "9223372036854775807", "99999999999999999999"} {
		html := get(t, fx.handler, "/?page="+page).Body.String()
		assert.Contains(t, html, "Showing 901–1000 of 1000, by id.", "page %s", page)
		assert.Equal(t, ids(tenth), ids(html), "page %s", page)
		assert.Contains(t, html, `<a href="?page=9#documents">← previous</a>`, "page %s", page)
		assert.NotContains(t, html, "next →", "page %s", page)
	}
	html = get(t, fx.handler, "/?q=nothing-like-it&page=9223372036854775807").Body.String()
	assert.Contains(t, html, "No document matches.")
	assert.NotContains(t, html, "← previous", "no link to a page of nothing")
}

func TestLandingPageRefreshCanBeTurnedOff(t *testing.T) {
	fx := newFixture(t, fixtureOptions{docs: fixedDocs(), answers: fixedAnswers()})
	on := get(t, fx.handler, "/?q=acme").Body.String()
	assert.Contains(t, on, `<meta http-equiv="refresh" content="30">`)
	assert.Contains(t, on, `<a href="?q=acme&amp;refresh=off">Stop refreshing</a>`)
	off := get(t, fx.handler, "/?q=acme&refresh=off").Body.String()
	assert.NotContains(t, off, `http-equiv="refresh"`)
	assert.Contains(t, off, `<input type="hidden" name="refresh" value="off">`, "a search keeps it off")
	assert.Contains(t, off, `<a href="?q=acme">Turn it on</a>`)
}

func TestLandingPageEscapesTheQuery(t *testing.T) {
	fx := newFixture(t, fixtureOptions{docs: fixedDocs(), answers: fixedAnswers()})
	rec := get(t, fx.handler, "/?q=%22%3E%3Cscript%3Ex%3C%2Fscript%3E&status=%3Cb%3E&page=-3")
	require.Equal(t, http.StatusOK, rec.Code)
	html := rec.Body.String()
	assert.NotContains(t, html, "<script>")
	assert.NotContains(t, html, "<b>\"")
	assert.Contains(t, html, `value="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"`)
}

// TestLandingPageAt100000Documents: the page answers at 100,000 documents,
// with a search, and stays small (BenchmarkLandingPage times it beside a scrape).
func TestLandingPageAt100000Documents(t *testing.T) {
	testenv.SkipShort(t)
	const n = 100_000
	wl, checker := landingDocs(n)
	fx := newFixture(t, fixtureOptions{docs: wl, checker: checker, cfg: refresh.Config{BatchSize: 500, Concurrency: 4}})
	for _, path := range []string{"/", "/?q=wayne", "/?page=1000"} {
		rec := get(t, fx.handler, path)
		require.Equal(t, http.StatusOK, rec.Code)
		html := rec.Body.String()
		assert.Contains(t, html, "100000 documents by status")
		assert.Less(t, len(html), 256<<10, "bounded by the page size, not the documents")
	}
	assert.Contains(t, get(t, fx.handler, "/?page=1000").Body.String(), "Showing 99901–100000 of 100000, by id.")
}

func TestLandingPageIsOnlyAtTheRoot(t *testing.T) {
	page := newFixture(t, fixtureOptions{docs: fixedDocs(), answers: fixedAnswers()}).handler
	for _, path := range []string{"/favicon.ico", "/metric", "/index.html", "/" + testenv.DocA} {
		rec := get(t, page, path)
		assert.Equal(t, http.StatusNotFound, rec.Code, path)
		assert.NotContains(t, rec.Body.String(), testenv.DocA, path)
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
	sim := simulator.New(testenv.SecretContext)
	for _, d := range []simulator.Document{
		{ID: testenv.DocA, AuthToken: testenv.SecretTokenA, Status: assuresign.StatusCreated, StatusDate: testenv.T0, Exceptions: []assuresign.Exception{
			{Severity: assuresign.SeverityWarning, Message: "token " + testenv.SecretTokenA + " for context " + strings.ToLower(testenv.SecretContext)},
			{Severity: assuresign.SeverityError, Message: "raw " + strings.ReplaceAll(testenv.SecretTokenA, "-", "")},
		}},
		{ID: testenv.DocB, AuthToken: testenv.SecretTokenB, Status: assuresign.StatusCreated, StatusDate: testenv.T0},
		{ID: testenv.DocC, AuthToken: testenv.SecretTokenC, Status: assuresign.StatusCreated, StatusDate: testenv.T0},
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
	wl := &watchlist.List{Documents: []watchlist.Entry{
		{ID: testenv.DocA, AuthToken: testenv.SecretTokenA, Labels: map[string]string{"customer": "acme"}},
		{ID: testenv.DocB, AuthToken: testenv.SecretTokenB, ContextIdentifier: testenv.SecretDocContext},
		{ID: testenv.DocC, AuthToken: testenv.SecretTokenWrong},
	}, LabelNames: []string{"customer"}}
	client, err := assuresign.NewClient(assuresign.Config{
		Endpoint: srv.URL + simulator.CheckStatusPath, HTTPClient: &http.Client{Transport: tr}, MaxRetries: -1, Logger: testenv.DiscardLogger(),
	})
	require.NoError(t, err)
	fx := newFixture(t, fixtureOptions{docs: wl, checker: client, cfg: refresh.Config{BatchSize: 50}})

	page := func(want ...string) {
		t.Helper()
		rec := get(t, fx.handler, "/")
		require.Equal(t, http.StatusOK, rec.Code)
		for _, w := range want {
			assert.Contains(t, rec.Body.String(), w)
		}
		testenv.KnownSecrets.AssertNone(t, "the landing page", rec.Body.String())
	}
	page(
		`<td class="id">`+testenv.DocA+`</td><td><span class="lbl">customer=acme</span></td><td class="st active">Created</td>`,
		"Error: raw &lt;secret&gt;", // A's exception, its token redacted
		"Error: The ContextIdentifier is not valid for this account.",
		"Error: The AuthToken is not valid for this document.",
	)

	// A failed request for A: its error is shown instead.
	sim.SetFault(simulator.Fault{Kind: simulator.FaultSOAPFault})
	require.True(t, fx.refresher.CheckNow(testenv.DocA, testenv.T0))
	waitForDocument(t, fx.store, testenv.DocA, func(d collector.DocumentView) bool { return !strings.Contains(d.LastError, "raw") }, "the failed request's error")
	sim.ClearFault()
	a, _ := view(fx.store, testenv.DocA)
	require.NotEmpty(t, a.LastError)
	page(`<td class="id">`+testenv.DocA+`</td><td><span class="lbl">customer=acme</span></td><td class="st active">Created</td>`, template.HTMLEscapeString(a.LastError))

	for _, accept := range []string{"", "application/openmetrics-text;version=1.0.0"} {
		text := body(t, scrape(fx.handler, http.Header{"Accept": {accept}}))
		assert.Contains(t, text, `customer="acme"`)
		testenv.KnownSecrets.AssertNone(t, "/metrics (Accept: "+accept+")", text)
	}
}

func TestLandingPageShowsCheckIntervals(t *testing.T) {
	s := collector.NewStore(collector.StoreConfig{})
	intervals := []refresh.CheckInterval{{Band: "5m", Documents: 20}, {Band: "1h", Documents: 180}, {Band: "terminal", Documents: 800}}
	h, err := New(Options{MetricsPath: "/metrics", Store: s, Gatherer: prometheus.NewRegistry(),
		Exporter: exporterFuncs{intervals: func() []refresh.CheckInterval { return intervals }}})
	require.NoError(t, err)
	html := get(t, h, "/").Body.String()
	assert.Contains(t, html, "<h2>How often documents are asked</h2>")
	assert.Contains(t, html, "<tr><td>5m</td><td>20</td></tr>\n<tr><td>1h</td><td>180</td></tr>\n<tr><td>terminal</td><td>800</td></tr>")

	assert.NotContains(t, get(t, newHandler(t, s, prometheus.NewRegistry(), testenv.DiscardLogger()), "/").Body.String(), "How often documents are asked",
		"no section without a refresher to ask")
}

func TestLandingPageShowsDocumentTRAKTrust(t *testing.T) {
	fx := newFixture(t, fixtureOptions{})
	page := func(p *refresh.PushView) string {
		h, err := New(Options{MetricsPath: "/metrics", Store: fx.store, Gatherer: fx.reg, Now: fx.clock.Now,
			Exporter: exporterFuncs{upstream: func() refresh.Upstream { return refresh.Upstream{Up: true, Push: p} }}})
		require.NoError(t, err)
		return get(t, h, "/").Body.String()
	}
	assert.NotContains(t, page(nil), `id="push"`, "nothing without the webhook")

	html := page(&refresh.PushView{Trusted: true, ReconcileInterval: 6 * time.Hour, LastNotification: testenv.T0.Add(-3 * time.Minute)})
	assert.Contains(t, html, `<span class="badge up">trusted</span> open documents reconciled every 6 hours`)
	assert.Contains(t, html, "last notification 3 minutes ago")
	assert.NotContains(t, html, `id="push-missed"`)

	html = page(&refresh.PushView{ReconcileInterval: 6 * time.Hour, Missed: 2, LastMissed: testenv.T0.Add(-10 * time.Minute),
		LastMissedID: testenv.DocB, LastMissedStatus: "Declined"})
	assert.Contains(t, html, `<span class="badge hold">not trusted</span> every document on the normal schedule`)
	assert.Contains(t, html, "last notification none yet")
	assert.Contains(t, html, `2 missed changes: the last, `+testenv.DocB+` to Declined, found 10 minutes ago by a check, not announced`)
}
