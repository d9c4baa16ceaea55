package rest_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/rest"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
)

const (
	simContext = "06C4A84A-693C-46CB-8DF2-40A8215AA056"
	envA       = "EA000000-0000-4000-8000-0000000000EA"
	envB       = "EB000000-0000-4000-8000-0000000000EB"
	missingEnv = "E0000000-0000-4000-8000-00000000DEAD"
)

func docID(n int) string {
	return "D0C00000-0000-4000-8000-0000000000" + string("0123456789ABCDEF"[n/16]) + string("0123456789ABCDEF"[n%16])
}

// newSimClient serves envelope A (documents 1-3) and B (4-5) from the
// simulator and returns a client of its REST side, configured further by
// with.
func newSimClient(t *testing.T, with ...func(*rest.Config)) (*rest.Client, *simulator.Simulator) {
	sim := simulator.New(simContext)
	sim.SetAPIUser(simulator.APIUser{Username: "api.user", Key: "the-key", ContextUsername: "jane@example.com"})
	for i := 1; i <= 5; i++ {
		st := assuresign.StatusSigningStepInProgress
		if i == 2 {
			st = assuresign.StatusDeclined
		}
		sim.Put(simulator.Document{ID: docID(i), AuthToken: docID(i + 100), Status: st, Step: 1})
	}
	sim.PutEnvelope(simulator.Envelope{ID: envA, AuthToken: docID(200), Documents: []string{docID(1), docID(2), docID(3)}})
	sim.PutEnvelope(simulator.Envelope{ID: envB, AuthToken: docID(201), Documents: []string{docID(4), docID(5)}})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	cfg := rest.Config{BaseURL: srv.URL + simulator.RESTBasePath, AuthURL: srv.URL + simulator.RESTAuthPath,
		APIUsername: "api.user", APIKey: "the-key", ContextUsername: "jane@example.com", ContextIdentifier: simContext, MaxRetries: -1}
	for _, f := range with {
		f(&cfg)
	}
	c, err := rest.New(cfg)
	require.NoError(t, err)
	return c, sim
}

// historyGate fails the history requests while fail is set, and counts them.
type historyGate struct {
	fail  bool
	tries int
}

func (g *historyGate) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/history") {
		g.tries++
		if g.fail {
			return nil, errors.New("history unreachable")
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// REST answers carry no StatusDate: a closed document is dated by its own
// history in its envelope's when first seen closed, not by the envelope's
// newest event, and keeps that date; an open one is not dated, and costs no
// history request. A failed history request
// leaves the document undated, and is not repeated for an hour.
func TestClosedDocumentsDatedByHistory(t *testing.T) {
	declined := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	now := declined.Add(72 * time.Hour)
	gate := &historyGate{}
	var logs bytes.Buffer
	c, sim := newSimClient(t, func(cfg *rest.Config) {
		cfg.Now = func() time.Time { return now }
		cfg.HTTPClient = &http.Client{Transport: gate}
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	sim.Update(docID(2), func(d *simulator.Document) { d.StatusDate = declined })
	// Document 1, open, moved a step an hour ago: the newest event of the
	// envelope, which is not the decline's.
	sim.Update(docID(1), func(d *simulator.Document) { d.StatusDate = now.Add(-time.Hour) })
	check := func(env string) map[string]time.Time {
		t.Helper()
		results, err := c.CheckStatus(context.Background(), []assuresign.Check{{ID: docID(1), EnvelopeID: env}, {ID: docID(4), EnvelopeID: env}})
		require.NoError(t, err)
		dates := map[string]time.Time{}
		for _, r := range results {
			if r.Err == nil {
				dates[r.ID] = r.StatusDate
			}
		}
		return dates
	}

	dates := check(envA)
	assert.True(t, declined.Equal(dates[docID(2)]), "the declined document: %v", dates[docID(2)])
	assert.Zero(t, dates[docID(1)], "an open document is not dated")
	assert.Equal(t, 1, gate.tries)
	assert.Zero(t, check(envB)[docID(4)])
	assert.Equal(t, 1, gate.tries, "no closed document in B: no history request")

	check(envA)
	assert.Equal(t, 1, gate.tries, "a document dated keeps its date without asking again")

	cancelled := declined.Add(70 * time.Hour)
	sim.Update(docID(3), func(d *simulator.Document) { d.Status, d.StatusDate = assuresign.StatusCancelled, cancelled })
	dates = check(envA)
	assert.Equal(t, 2, gate.tries)
	assert.True(t, cancelled.Equal(dates[docID(3)]), "newly closed: the history's newest event, %v", dates[docID(3)])
	assert.True(t, declined.Equal(dates[docID(2)]), "the earlier one keeps its date, %v", dates[docID(2)])

	gate.fail = true
	expired := declined.Add(71 * time.Hour)
	sim.Update(docID(5), func(d *simulator.Document) { d.Status, d.StatusDate = assuresign.StatusExpired, expired })
	dates = check(envB)
	assert.Equal(t, 3, gate.tries)
	assert.Zero(t, dates[docID(5)], "the history failed: undated")
	assert.Contains(t, logs.String(), "envelope history failed")
	assert.Contains(t, logs.String(), "envelope_id="+envB)
	gate.fail = false
	check(envB)
	assert.Equal(t, 3, gate.tries, "a failed history is not asked again at once")
	assert.Equal(t, 1, strings.Count(logs.String(), "envelope history failed"), "logged once")
	now = now.Add(time.Hour)
	dates = check(envB)
	assert.Equal(t, 4, gate.tries, "but after an hour")
	assert.True(t, expired.Equal(dates[docID(5)]), "%v", dates[docID(5)])
}

// A batch is answered with one status request per envelope, not per
// document: results come in the checks' order, then the envelopes' other
// documents; a document in no envelope cannot be asked about, and an
// unknown envelope fails its own documents only.
func TestCheckStatusOneRequestPerEnvelope(t *testing.T) {
	c, sim := newSimClient(t)
	checks := []assuresign.Check{
		{ID: docID(2), EnvelopeID: envA}, {ID: docID(4), EnvelopeID: envB}, {ID: docID(1), EnvelopeID: envA},
		{ID: docID(9)}, {ID: docID(8), EnvelopeID: missingEnv},
	}
	before := sim.Stats().RESTStatuses
	results, err := c.CheckStatus(context.Background(), checks)
	require.NoError(t, err)
	assert.Equal(t, 3, sim.Stats().RESTStatuses-before, "one request per envelope: A, B and the unknown one")
	require.Len(t, results, 7, "five checks, then documents 3 and 5 that came along")
	for i, ch := range checks {
		assert.Equal(t, ch.ID, results[i].ID, "result %d in the checks' order", i)
	}
	assert.Equal(t, assuresign.StatusDeclined, results[0].Status)
	assert.Equal(t, assuresign.StatusSigningStepInProgress, results[1].Status)
	assert.Equal(t, 1, results[2].Step)
	assert.Error(t, results[3].Err, "no envelope: cannot be asked about")
	var e *assuresign.Error
	require.ErrorAs(t, results[4].Err, &e)
	assert.Equal(t, 404, e.StatusCode)
	assert.ElementsMatch(t, []string{docID(3), docID(5)}, []string{results[5].ID, results[6].ID})
}

// A listing is one status request, whose statuses come with it.
func TestListEnvelopeDocumentsCarriesStatuses(t *testing.T) {
	c, sim := newSimClient(t)
	before := sim.Stats().RESTStatuses
	l, err := c.ListEnvelopeDocuments(context.Background(), assuresign.EnvelopeRequest{ID: envA})
	require.NoError(t, err)
	assert.Equal(t, 1, sim.Stats().RESTStatuses-before)
	require.Len(t, l.Documents, 3)
	require.Len(t, l.Results, 3)
	assert.Equal(t, envA, l.EnvelopeID)
	for i, d := range l.Documents {
		assert.Equal(t, d.ID, l.Results[i].ID)
		assert.Empty(t, d.AuthToken, "the REST API needs none")
	}
	assert.Equal(t, assuresign.StatusDeclined, l.Results[1].Status)
}

// A second 401 fails the batch with the credentials' error, and the hint
// names what to check.
func TestCheckStatusCredentialsRefused(t *testing.T) {
	c, sim := newSimClient(t)
	sim.RefuseNext(2)
	_, err := c.CheckStatus(context.Background(), []assuresign.Check{{ID: docID(1), EnvelopeID: envA}})
	require.True(t, errors.Is(err, rest.ErrCredentialsRefused), "got %v", err)
	hint := c.Hint(err)
	for _, want := range []string{"ASSURESIGN_API_USERNAME", "ASSURESIGN_API_KEY", "ASSURESIGN_CONTEXT_USERNAME", "--assuresign.rest.auth-url"} {
		assert.Contains(t, hint, want)
	}
	assert.Contains(t, c.Hint(&assuresign.Error{Kind: assuresign.KindHTTPStatus, StatusCode: 404}), "envelope id")
}
