package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

func TestLandingPageListsDocuments(t *testing.T) {
	s := fixedStore()
	s.SetWatchList(&WatchList{Documents: []WatchedDocument{
		{ID: docA, AuthToken: secretTokenA, Labels: map[string]string{"customer": "acme", "note": `<script>alert("x")</script>`}},
		{ID: docB, AuthToken: secretTokenB, ContextIdentifier: secretDocContext},
		{ID: docC, AuthToken: secretTokenC, ContextIdentifier: secretDocContext},
		{ID: docD, AuthToken: secretTokenWrong},
	}})
	s.Fail([]string{docC}, errors.New("assuresign: HTTP status 503"))
	s.Apply(assuresign.Result{ID: docD, RawStatus: "Archived", Status: assuresign.StatusUnknown}, t0, time.Hour, time.Hour)
	var ready atomic.Bool
	page := NewLandingPage("1.2.3", []Link{{Address: "/metrics", Text: "Metrics"}}, s, ready.Load, discardLogger())

	rec := landing(t, page, "/")
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
	assertNoSecret(t, "the landing page", html)

	ready.Store(true)
	assert.Contains(t, landing(t, page, "/").Body.String(), "First refresh round finished.")
}

func TestLandingPageShowsAtMostTheLimit(t *testing.T) {
	s := NewStore()
	ids := make([]string, landingLimit+1)
	for i := range ids {
		ids[i] = testGUID(0x1A4D, i)
	}
	s.SetWatchList(watchList(ids...))
	html := landing(t, NewLandingPage("", nil, s, func() bool { return true }, discardLogger()), "/").Body.String()
	assert.Contains(t, html, fmt.Sprintf("%d watched; the first %d by id are shown.", landingLimit+1, landingLimit))
	assert.Equal(t, landingLimit, strings.Count(html, "<tr><td>"))
	assert.Contains(t, html, ids[landingLimit-1])
	assert.NotContains(t, html, ids[landingLimit])
}

func TestLandingPageIsOnlyAtTheRoot(t *testing.T) {
	page := NewLandingPage("", nil, fixedStore(), func() bool { return true }, discardLogger())
	for _, path := range []string{"/favicon.ico", "/metric", "/index.html", "/" + docA} {
		rec := landing(t, page, path)
		assert.Equal(t, http.StatusNotFound, rec.Code, path)
		assert.NotContains(t, rec.Body.String(), docA, path)
	}
}
