package refresh

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/internal/storetest"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// restRig is a rig on the REST API watching envA (in progress, completed,
// created) and, when faulty, envFaulty, by id only.
func restRig(t *testing.T, cfg Config, faulty bool) *rig {
	t.Helper()
	r := newRig(t, rigOptions{cfg: cfg, rest: true})
	putEnvelopeAccount(r)
	wl := &watchlist.List{Envelopes: []watchlist.Entry{{ID: envA, Labels: map[string]string{"customer": "acme"}}}}
	if faulty {
		wl.Envelopes = append(wl.Envelopes, watchlist.Entry{ID: envFaulty})
	}
	r.refresher.SetWatchList(wl)
	return r
}

// Under REST, the first round's listings bring the documents and their
// statuses: one request per envelope, none more for the documents.
func TestRESTListingsBringStatuses(t *testing.T) {
	r := restRig(t, Config{}, true)
	stats := r.round(0)
	st := r.sim.Stats()
	assert.Equal(t, 1, st.RESTAuthentications)
	assert.Equal(t, 2, st.RESTStatuses, "one status request per envelope, none for its documents")
	assert.Zero(t, stats.Requests, "no check request")

	body := storetest.Scrape(t, r.store, false)
	for _, id := range envDocs {
		assert.Contains(t, body, `assuresign_document_info{document_id="`+id+`",customer="acme"} 1`)
	}
	assert.Equal(t, "SigningStepInProgress", statusOf(t, r.store, envDocs[0]).Status)
	assert.Equal(t, 2, statusOf(t, r.store, envDocs[0]).Step)
	assert.Equal(t, "Completed", statusOf(t, r.store, envDocs[1]).Status)
	a := envelopeView(t, r.refresher, envA)
	assert.Equal(t, assuresign.StatusCreated, a.Status, "derived: the least advanced open document")
	assert.False(t, envelopeView(t, r.refresher, envFaulty).ListOK)
}

// Later rounds ask once per envelope, however many of its documents are
// due; closed envelopes are left alone.
func TestRESTChecksOncePerEnvelope(t *testing.T) {
	r := restRig(t, Config{MaxInterval: time.Hour}, false)
	r.round(0)
	// envB, watched 3 minutes later, is not due with envA (slack: 2.5m): no request of
	// envA's round may be filled up with its documents.
	envB, envBDocs := "E0000000-0000-4000-8000-00000000000B", []string{testenv.GUID(0xE2, 1), testenv.GUID(0xE2, 2)}
	for _, id := range envBDocs {
		r.sim.Put(simulator.Document{ID: id, AuthToken: tokenFor(id), Status: assuresign.StatusCreated, StatusDate: testenv.T0})
	}
	r.sim.PutEnvelope(simulator.Envelope{ID: envB, AuthToken: envToken, Documents: envBDocs})
	r.refresher.SetWatchList(&watchlist.List{Envelopes: []watchlist.Entry{{ID: envA}, {ID: envB}}})
	// An urgent round, as the reload's: only envB is listed.
	r.clock.Set(testenv.T0.Add(3 * time.Minute))
	r.refresher.round(context.Background(), true)
	before := r.sim.Stats().RESTStatuses
	stats := r.round(5 * time.Minute)
	assert.Equal(t, 2, stats.Documents, "envA's two open documents")
	assert.Equal(t, 1, stats.Requests)
	assert.Equal(t, 1, r.sim.Stats().RESTStatuses-before, "one request for envA's two due documents, none for envB")
	for _, id := range envBDocs {
		putListed(r, assuresign.StatusCompleted, 0, id)
	}

	// A closed envelope: its documents closed, it is asked about as closed documents are.
	for _, id := range envDocs {
		putListed(r, assuresign.StatusCompleted, 0, id)
	}
	r.round(10 * time.Minute)
	before = r.sim.Stats().RESTStatuses
	for m := 15; m < 6*60; m += 5 {
		r.round(time.Duration(m) * time.Minute)
	}
	assert.Zero(t, r.sim.Stats().RESTStatuses-before, "a closed envelope is not asked about for hours")
}

// A 401 mid-run costs one renewal and no lost round: the round's statuses land.
func TestRESTUnauthorizedMidRunRenewsOnce(t *testing.T) {
	r := restRig(t, Config{}, false)
	r.round(0)
	r.sim.ExpireTokens()
	putListed(r, assuresign.StatusDeclined, 0, envDocs[0])
	r.round(5 * time.Minute)
	assert.Equal(t, 2, r.sim.Stats().RESTAuthentications, "one renewal")
	assert.Equal(t, "Declined", statusOf(t, r.store, envDocs[0]).Status)
	assert.Equal(t, 1.0, testutil.ToFloat64(r.refresher.metrics.up))

	// A refused API user: up goes to 0.
	r.sim.RefuseNext(2)
	r.round(10 * time.Minute)
	assert.Equal(t, 0.0, testutil.ToFloat64(r.refresher.metrics.up))
}

// A refused API user at start-up: every listing fails, up is 0 (not the 1
// of a round with nothing to check), and the refusal is logged once.
func TestRESTRefusedAtStart(t *testing.T) {
	r := restRig(t, Config{}, false)
	r.sim.SetAPIUser(simulator.APIUser{Username: restUser.Username, Key: "another-key", ContextUsername: restUser.ContextUsername})
	r.round(0)
	assert.Equal(t, 0.0, testutil.ToFloat64(r.refresher.metrics.up))
	r.round(5 * time.Minute)
	assert.Equal(t, 0.0, testutil.ToFloat64(r.refresher.metrics.up))
	assert.Equal(t, 1, strings.Count(r.logs.String(), "refused the API user's credentials"), r.logs.String())
	assert.Contains(t, r.logs.String(), "ASSURESIGN_API_KEY")

	r.sim.SetAPIUser(restUser)
	r.round(10 * time.Minute)
	assert.Equal(t, 1.0, testutil.ToFloat64(r.refresher.metrics.up))
}

// Under REST a listing is the status request of its envelope's documents:
// when it fails, the round's tail (checking what another listing brought)
// does not ask again about the same envelope. Its documents wait, as after any
// failed request, for the next round.
func TestRESTFailedListingIsNotAskedAgainInTheSameRound(t *testing.T) {
	r := restRig(t, Config{}, false)
	r.round(0)
	r.sim.PutEnvelope(simulator.Envelope{ID: envA, AuthToken: envToken, Documents: envDocs, Fault: true})
	envB, envBDoc := "E0000000-0000-4000-8000-00000000000B", testenv.GUID(0xE2, 1)
	r.sim.Put(simulator.Document{ID: envBDoc, AuthToken: tokenFor(envBDoc), Status: assuresign.StatusCreated, StatusDate: testenv.T0})
	r.sim.PutEnvelope(simulator.Envelope{ID: envB, AuthToken: envToken, Documents: []string{envBDoc}})
	r.refresher.SetWatchList(&watchlist.List{Envelopes: []watchlist.Entry{{ID: envA}, {ID: envB}}})
	r.clock.Set(testenv.T0.Add(time.Minute))
	assert.True(t, r.refresher.CheckNow(envA, r.clock.Now()))

	before := r.sim.Stats().RESTStatuses
	r.refresher.round(context.Background(), true)
	assert.Equal(t, 2, r.sim.Stats().RESTStatuses-before, "envA's listing (which fails) and envB's, nothing more")
	assert.Equal(t, "Created", statusOf(t, r.store, envBDoc).Status, "envB's listing brought its document's status")
	assert.False(t, envelopeView(t, r.refresher, envA).ListOK)
}
