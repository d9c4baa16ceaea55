package refresh

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/internal/storetest"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/upstream/upstreamtest"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

const (
	envA      = "E0000000-0000-4000-8000-00000000000A" // three documents
	envFaulty = "E0000000-0000-4000-8000-00000000000F" // its listing faults
	envToken  = "7B3F9A2C-51D4-4E8B-9C6A-D2E5F7A1B3C8"
)

var (
	envDocs = []string{testenv.GUID(0xE1, 1), testenv.GUID(0xE1, 2), testenv.GUID(0xE1, 3)}
	docA    = testenv.GUID(0xD1, 1) // watched directly
)

// listedTokens are the AuthTokens the envelope's listing gives its documents:
// random, so that no id shares a fragment with one.
var listedTokens = map[string]string{}

func init() {
	for i := range 4 {
		listedTokens[testenv.GUID(0xE1, i+1)] = testenv.RandomGUID()
	}
}

// envelopeSecrets are every token of the envelope scenario, listed ones included.
func envelopeSecrets() *testenv.Secrets {
	s := testenv.NewSecrets(testenv.FragmentLen, envToken, testenv.SecretContext)
	for id, token := range listedTokens {
		s.Add("listed token of "+id, token)
	}
	return s
}

// putListed adds an envelope document to the account, with its listed token.
func putListed(r *rig, st assuresign.Status, step int, id string) {
	r.sim.Put(simulator.Document{ID: id, AuthToken: listedTokens[id], Status: st, Step: step, StatusDate: testenv.T0})
}

// putEnvelopeAccount gives r's account envA (in progress, completed,
// created) and envFaulty, which holds docA.
func putEnvelopeAccount(r *rig) {
	putListed(r, assuresign.StatusSigningStepInProgress, 2, envDocs[0])
	putListed(r, assuresign.StatusCompleted, 0, envDocs[1])
	putListed(r, assuresign.StatusCreated, 0, envDocs[2])
	r.put(assuresign.StatusCreated, 0, docA)
	r.sim.PutEnvelope(simulator.Envelope{ID: envA, AuthToken: envToken, Documents: envDocs})
	r.sim.PutEnvelope(simulator.Envelope{ID: envFaulty, AuthToken: envToken, Documents: []string{docA}, Fault: true})
}

// envelopeRig is a rig on putEnvelopeAccount's account watching both
// envelopes and docA directly.
func envelopeRig(t *testing.T, cfg Config) (*rig, *watchlist.List) {
	t.Helper()
	r := newRig(t, rigOptions{cfg: cfg})
	putEnvelopeAccount(r)
	wl := &watchlist.List{
		Documents: []watchlist.Entry{{ID: docA, AuthToken: tokenFor(docA)}},
		Envelopes: []watchlist.Entry{
			{ID: envA, AuthToken: envToken, Labels: map[string]string{"customer": "acme"}},
			{ID: envFaulty, AuthToken: envToken},
		},
	}
	r.refresher.SetWatchList(wl)
	return r, wl
}

func envelopeView(t *testing.T, r *Refresher, id string) EnvelopeView {
	t.Helper()
	for _, v := range r.Envelopes() {
		if v.ID == id {
			return v
		}
	}
	t.Fatalf("envelope %s not found", id)
	return EnvelopeView{}
}

// Within one round, an envelope's documents are listed, checked and exposed
// with its labels; a faulting envelope is its own failure only.
func TestEnvelopeDocumentsWatchedWithinOneRound(t *testing.T) {
	r, _ := envelopeRig(t, Config{})
	stats := r.round(0)
	assert.Equal(t, 4, stats.Documents, "the direct document and the envelope's three")

	st := r.sim.Stats()
	assert.Equal(t, 2, st.Listings, "one request per envelope")
	assert.Equal(t, 2, st.Requests-st.Listings, "one CheckStatus request for the direct document, beside the listings; one for the listed ones after them")

	body := storetest.Scrape(t, r.store, false)
	for _, id := range envDocs {
		assert.Contains(t, body, `assuresign_document_info{document_id="`+id+`",customer="acme"} 1`)
	}
	assert.Contains(t, body, `assuresign_document_info{document_id="`+docA+`"} 1`)

	a := envelopeView(t, r.refresher, envA)
	assert.True(t, a.ListOK)
	assert.Equal(t, assuresign.StatusCreated, a.Status, "the least advanced open status")
	require.Len(t, a.Documents, 3)
	assert.Equal(t, EnvelopeDocumentView{ID: envDocs[0], Name: simulator.DocumentName(1), OrderID: "1", Status: assuresign.StatusSigningStepInProgress}, a.Documents[0])

	f := envelopeView(t, r.refresher, envFaulty)
	assert.True(t, f.Tried)
	assert.False(t, f.ListOK)
	assert.Contains(t, f.LastError, "SOAP fault")
	assert.Empty(t, f.Documents)

	require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(`
# HELP assuresign_up 1 when every request of the last scheduled refresh round got a well-formed answer from AssureSign; a document answered without a status does not lower it (see assuresign_document_check_success).
# TYPE assuresign_up gauge
assuresign_up 1
`), "assuresign_up"), "a failed listing is not AssureSign down")
	assert.Equal(t, 1.0, testutil.ToFloat64(r.refresher.metrics.envelopeListings.WithLabelValues("ok")))
	assert.Equal(t, 1.0, testutil.ToFloat64(r.refresher.metrics.envelopeListings.WithLabelValues("soap_fault")))
	assert.Equal(t, 1, strings.Count(r.logs.String(), "envelope listings failed"), "logged once for the round")

	// The envelope's series.
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewEnvelopeCollector(r.refresher.Envelopes))
	x, err := testenv.ParseExposition(testenv.GatherText(t, reg))
	require.NoError(t, err)
	for name, want := range map[string]struct {
		labels map[string]string
		value  float64
	}{
		"info":      {map[string]string{"envelope_id": envA, "customer": "acme"}, 1},
		"documents": {map[string]string{"envelope_id": envA}, 3},
		"status":    {map[string]string{"envelope_id": envA, "status": "Created"}, 1},
		"declined":  {map[string]string{"envelope_id": envA, "status": "Declined"}, 0},
		"doc info":  {map[string]string{"envelope_id": envA, "document_id": envDocs[2], "order_id": "3"}, 1},
		"list ok":   {map[string]string{"envelope_id": envA}, 1},
		"list fail": {map[string]string{"envelope_id": envFaulty}, 0},
		"no docs":   {map[string]string{"envelope_id": envFaulty}, 0},
	} {
		family := map[string]string{"info": "assuresign_envelope_info", "documents": "assuresign_envelope_documents", "status": "assuresign_envelope_status",
			"declined": "assuresign_envelope_status", "doc info": "assuresign_envelope_document_info", "list ok": "assuresign_envelope_list_success",
			"list fail": "assuresign_envelope_list_success", "no docs": "assuresign_envelope_documents"}[name]
		v, ok := x.Find(family, want.labels)
		assert.True(t, ok, name)
		assert.Equal(t, want.value, v, name)
	}

	// No listed AuthToken anywhere the exporter writes.
	secrets := envelopeSecrets()
	secrets.AssertNone(t, "exposition", body+testenv.GatherText(t, reg)+testenv.GatherText(t, r.reg))
	secrets.AssertNone(t, "logs", r.logs.String())
	_, state := r.store.State()
	js, err := json.Marshal(state)
	require.NoError(t, err)
	secrets.AssertNone(t, "persisted state", string(js))
	views, err := json.Marshal(r.refresher.Envelopes())
	require.NoError(t, err)
	secrets.AssertNone(t, "envelope views", string(views))
}

// A declined document makes its envelope Declined.
func TestEnvelopeStatusFollowsItsDocuments(t *testing.T) {
	r, _ := envelopeRig(t, Config{})
	r.round(0)
	r.sim.Update(envDocs[0], func(d *simulator.Document) { d.Status, d.Step = assuresign.StatusDeclined, 0 })
	r.round(5 * time.Minute)
	assert.Equal(t, assuresign.StatusDeclined, envelopeView(t, r.refresher, envA).Status)
}

func TestEnvelopeStatusRule(t *testing.T) {
	const (
		u, cr, ip, co = assuresign.StatusUnknown, assuresign.StatusCreated, assuresign.StatusSigningStepInProgress, assuresign.StatusCompleted
		de, ca, ex    = assuresign.StatusDeclined, assuresign.StatusCancelled, assuresign.StatusExpired
		saf, stl      = assuresign.StatusSignerAuthenticationFailed, assuresign.StatusStaled
	)
	for _, tc := range []struct {
		docs []assuresign.Status
		want assuresign.Status
	}{
		{nil, u},
		{[]assuresign.Status{co, co, co}, co},
		{[]assuresign.Status{co, de, ca, ex}, de},
		{[]assuresign.Status{ex, ca, co}, ca},
		{[]assuresign.Status{ip, ex}, ex},
		{[]assuresign.Status{co, ip, cr}, cr},
		{[]assuresign.Status{co, ip, saf}, ip},
		{[]assuresign.Status{co, saf}, saf},
		{[]assuresign.Status{co, stl}, stl},
		{[]assuresign.Status{ip, u}, u},
	} {
		assert.Equal(t, tc.want, EnvelopeStatus(tc.docs), "%v", tc.docs)
	}
}

// A document listed directly and through an envelope is watched once, as the
// direct entry says, with one warning however often the list is applied.
func TestEnvelopeDocumentAlsoListedDirectly(t *testing.T) {
	r, wl := envelopeRig(t, Config{})
	wl.Documents = append(wl.Documents, watchlist.Entry{ID: envDocs[1], AuthToken: listedTokens[envDocs[1]], Labels: map[string]string{"team": "legal"}})
	r.refresher.SetWatchList(wl)
	r.round(0)
	r.refresher.SetWatchList(wl)
	r.round(5 * time.Minute)
	assert.Equal(t, 4, r.store.Len())
	body := storetest.Scrape(t, r.store, false)
	assert.Contains(t, body, `assuresign_document_info{document_id="`+envDocs[1]+`",team="legal"} 1`)
	assert.Equal(t, 1, strings.Count(r.logs.String(), "watched both directly and through an envelope"))
	assert.Len(t, envelopeView(t, r.refresher, envA).Documents, 3, "still a document of the envelope")
}

// A failed listing keeps the envelope's last known documents; a notification
// naming the envelope lists it again at once; a periodic listing picks up an
// added document while no document is closed, and stops once one is.
func TestEnvelopeListingSchedule(t *testing.T) {
	r, _ := envelopeRig(t, Config{MaxInterval: time.Hour, TerminalInterval: 24 * time.Hour})
	r.sim.Update(envDocs[1], func(d *simulator.Document) { d.Status = assuresign.StatusCreated }) // none closed
	r.round(0)
	listings := func() int { return r.sim.Stats().Listings }
	require.Equal(t, 2, listings())

	// Before max-interval: only the failing envelope is listed again.
	r.round(5 * time.Minute)
	assert.Equal(t, 3, listings())

	// A notification naming the envelope: listed now, failing now.
	r.sim.PutEnvelope(simulator.Envelope{ID: envA, AuthToken: envToken, Documents: envDocs, Fault: true})
	require.True(t, r.refresher.CheckNow(strings.ToLower(envA), r.clock.Now()))
	r.clock.Set(testenv.T0.Add(6 * time.Minute))
	r.refresher.round(context.Background(), true)
	assert.Equal(t, 4, listings(), "an urgent round lists the named envelope only")
	a := envelopeView(t, r.refresher, envA)
	assert.False(t, a.ListOK)
	assert.Len(t, a.Documents, 3, "the last known documents stay")
	assert.Equal(t, 4, r.store.Len())

	// Recovered, with a fourth document: a scheduled round lists it again (it failed).
	extra := testenv.GUID(0xE1, 4)
	putListed(r, assuresign.StatusCreated, 0, extra)
	r.sim.PutEnvelope(simulator.Envelope{ID: envA, AuthToken: envToken, Documents: append(envDocs, extra)})
	r.round(10 * time.Minute)
	assert.Len(t, envelopeView(t, r.refresher, envA).Documents, 4)
	assert.Equal(t, 5, r.store.Len())

	// Open and listed: again after max-interval, not before.
	before := listings()
	r.round(40 * time.Minute)
	assert.Equal(t, before+1, listings(), "the faulty envelope only")
	r.round(75 * time.Minute)
	assert.Equal(t, before+3, listings())

	// A closed document: no more periodic listings of envA.
	r.sim.Update(envDocs[0], func(d *simulator.Document) { d.Status, d.Step = assuresign.StatusCompleted, 0 })
	r.round(80 * time.Minute)
	before = listings()
	r.round(3 * time.Hour)
	assert.Equal(t, before+1, listings(), "the faulty envelope only")

	assert.False(t, r.refresher.CheckNow("00000000-0000-4000-8000-000000000000", r.clock.Now()))
}

// A listing that would take the watched documents over the limit is refused
// like a failed one.
func TestEnvelopeListingOverTheLimit(t *testing.T) {
	r, _ := envelopeRig(t, Config{Envelopes: EnvelopeLimits{MaxDocuments: 3}})
	r.round(0)
	a := envelopeView(t, r.refresher, envA)
	assert.False(t, a.ListOK)
	assert.Contains(t, a.LastError, "--watch.max-documents=3")
	assert.Equal(t, 1, r.store.Len())
	assert.Equal(t, 1.0, testutil.ToFloat64(r.refresher.metrics.envelopeListings.WithLabelValues("too_many_documents")))
}

// A restart lists each envelope again, one request each, and its documents
// come back with their persisted state: only those due are asked about.
func TestEnvelopeRestartKeepsListedDocumentsState(t *testing.T) {
	r, wl := envelopeRig(t, Config{})
	r.round(0)
	_, saved := r.store.State()
	js, err := json.Marshal(saved)
	require.NoError(t, err)
	envelopeSecrets().AssertNone(t, "persisted state", string(js))

	next := newRig(t, rigOptions{sim: r.sim})
	next.clock.Set(testenv.T0.Add(time.Minute))
	next.refresher.SetWatchList(wl)
	next.refresher.Restore(saved)
	_, st := next.store.State()
	assert.Len(t, st.Documents, 4, "parked documents are kept in the state until listed")
	r.sim.ResetStats()
	next.round(time.Minute)
	stats := r.sim.Stats()
	assert.Equal(t, 2, stats.Listings, "one listing per envelope")
	assert.Zero(t, stats.Documents, "nothing was due a minute later")
	assert.Equal(t, assuresign.StatusSigningStepInProgress.String(), statusOf(t, next.store, envDocs[0]).Status)
	_, st = next.store.State()
	assert.Len(t, st.Documents, 4)
}

// A restart whose first listings fail keeps the saved documents waiting: they
// come back, state and schedule kept, with the first listing that succeeds.
func TestEnvelopeRestartWithFailingListings(t *testing.T) {
	r, wl := envelopeRig(t, Config{})
	wl.Envelopes = wl.Envelopes[:1] // envA only
	r.refresher.SetWatchList(wl)
	r.round(0)
	_, saved := r.store.State()
	require.Len(t, saved.Documents, 4)

	next := newRig(t, rigOptions{sim: r.sim})
	next.clock.Set(testenv.T0.Add(time.Minute))
	next.refresher.SetWatchList(wl)
	next.refresher.Restore(saved)
	r.sim.PutEnvelope(simulator.Envelope{ID: envA, AuthToken: envToken, Documents: envDocs, Fault: true})
	next.round(time.Minute)
	require.False(t, envelopeView(t, next.refresher, envA).ListOK)
	_, st := next.store.State()
	assert.Len(t, st.Documents, 4, "a failed listing drops no saved document")
	assert.NotContains(t, next.logs.String(), "dropped persisted documents")

	r.sim.PutEnvelope(simulator.Envelope{ID: envA, AuthToken: envToken, Documents: envDocs})
	r.sim.ResetStats()
	next.round(2 * time.Minute)
	assert.Zero(t, r.sim.Stats().Documents, "the saved schedule stands: nothing is due")
	assert.Equal(t, assuresign.StatusSigningStepInProgress.String(), statusOf(t, next.store, envDocs[0]).Status)
	assert.Equal(t, 4, next.store.Len())
}

// A reload that drops an envelope drops its documents; one that changes its
// AuthToken lists it again at once.
func TestEnvelopeReload(t *testing.T) {
	r, wl := envelopeRig(t, Config{})
	r.round(0)
	require.Equal(t, 4, r.store.Len())
	listings := r.sim.Stats().Listings

	changed := *wl
	changed.Envelopes = []watchlist.Entry{{ID: envA, AuthToken: testenv.RandomGUID(), Labels: wl.Envelopes[0].Labels}}
	r.refresher.SetWatchList(&changed)
	r.clock.Set(testenv.T0.Add(time.Minute))
	r.refresher.round(context.Background(), true)
	assert.Equal(t, listings+1, r.sim.Stats().Listings, "the changed envelope only, at once")
	assert.False(t, envelopeView(t, r.refresher, envA).ListOK, "the simulator refuses the new token")
	assert.Equal(t, 4, r.store.Len(), "its documents stay as last listed")

	dropped := *wl
	dropped.Envelopes = nil
	r.refresher.SetWatchList(&dropped)
	assert.Equal(t, 1, r.store.Len(), "only the direct document is left")
	assert.Empty(t, r.refresher.Envelopes())
}

// A listing answered 429 with Retry-After holds every request back, as a
// CheckStatus answer would, and is that envelope's failure only.
func TestEnvelopeListingRetryAfter(t *testing.T) {
	r := newRig(t, rigOptions{wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if strings.Contains(req.Header.Get("SOAPAction"), "ListEnvelopeDocuments") {
				w.Header().Set("Retry-After", "120")
				http.Error(w, "slow down", http.StatusTooManyRequests)
				return
			}
			next.ServeHTTP(w, req)
		})
	}})
	r.refresher.SetWatchList(&watchlist.List{Envelopes: []watchlist.Entry{{ID: envA, AuthToken: envToken}}})
	r.round(0)
	assert.True(t, testenv.T0.Add(120*time.Second).Equal(r.refresher.Upstream().HeldUntil), "held until %v", r.refresher.Upstream().HeldUntil)
	assert.Equal(t, 1.0, testutil.ToFloat64(r.refresher.metrics.envelopeListings.WithLabelValues("http_429")))
	assert.False(t, envelopeView(t, r.refresher, envA).ListOK)
}

// A listing made with credentials a reload has since changed, AuthToken or
// ContextIdentifier, is not recorded: the envelope stays due at once.
func TestEnvelopeListingOfChangedCredentialsIgnored(t *testing.T) {
	never := func([]string) bool { return false }
	for name, change := range map[string]func(*watchlist.Entry){
		"auth token": func(d *watchlist.Entry) { d.AuthToken = testenv.RandomGUID() },
		"context":    func(d *watchlist.Entry) { d.ContextIdentifier = testenv.RandomGUID() },
	} {
		var e envelopes
		entry := watchlist.Entry{ID: envA, AuthToken: envToken}
		require.Equal(t, 1, e.set(&watchlist.List{Envelopes: []watchlist.Entry{entry}}, testenv.DiscardLogger(), nil), name)
		due := e.due(testenv.T0, true, time.Hour, "", never)
		require.Len(t, due, 1, name)

		change(&entry)
		e.set(&watchlist.List{Envelopes: []watchlist.Entry{entry}}, testenv.DiscardLogger(), nil)
		due[0].got = &assuresign.EnvelopeListing{Documents: []assuresign.EnvelopeDocument{{ID: envDocs[0]}}}
		assert.False(t, e.record(due, testenv.T0, testenv.DiscardLogger(), nil), name)
		assert.Empty(t, e.byID[envA].documents, name)
		assert.Len(t, e.due(testenv.T0, true, time.Hour, "", never), 1, "%s: still to be listed at once", name)
	}
}

// A listing that hangs delays no check: a notification for a document
// watched directly is answered while it still hangs, and the round ends
// once it returns.
func TestSlowListingDelaysNoCheck(t *testing.T) {
	r, _ := envelopeRig(t, Config{})
	r.round(0) // envFaulty fails: it is listed again at the next scheduled round
	listing, release := make(chan struct{}, 1), make(chan struct{})
	r.refresher.api = upstreamtest.WithListing{API: r.refresher.api, List: func(ctx context.Context, _ assuresign.EnvelopeRequest) (*assuresign.EnvelopeListing, error) {
		select {
		case listing <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil, errors.New("hung up")
	}}
	r.sim.Update(docA, func(d *simulator.Document) { d.Status = assuresign.StatusCompleted })
	done := make(chan roundStats, 1)
	go func() { done <- r.round(time.Minute) }()
	<-listing
	require.True(t, r.refresher.CheckNow(docA, r.clock.Now()))
	assert.Eventually(t, func() bool { return statusOf(t, r.store, docA).Status == assuresign.StatusCompleted.String() },
		time.Second, 10*time.Millisecond, "answered while the listing hangs")
	select {
	case <-done:
		t.Fatal("the round ended before its listing")
	default:
	}
	// An envelope named meanwhile: its known documents are checked at once,
	// and it is listed by the next urgent round, which the round asks for.
	require.True(t, r.refresher.CheckNow(envA, r.clock.Now()))
	assert.Eventually(t, func() bool { return statusOf(t, r.store, envDocs[0]).LastCheck.After(testenv.T0) },
		time.Second, 10*time.Millisecond, "the named envelope's documents checked while the listing hangs")
	close(release)
	<-done
	assert.False(t, envelopeView(t, r.refresher, envFaulty).ListOK)
	assert.Len(t, r.refresher.wake, 1, "an urgent round is asked for")
	never := func([]string) bool { return false }
	due := r.refresher.env.due(r.clock.Now(), true, time.Hour, "", never)
	require.Len(t, due, 1)
	assert.Equal(t, envA, due[0].id)
}

// Limits count what is exported: a document listed directly and through an
// envelope counts twice (its series and the envelope's), and one envelope's
// documents have a bound of their own. A refused listing is counted and
// leaves nothing of it watched.
func TestEnvelopeLimitsCountExportedPairs(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  Config
		flag string
	}{
		"total":        {Config{Envelopes: EnvelopeLimits{MaxDocuments: 4}, MaxInterval: time.Hour}, "--watch.max-documents=4"},
		"per envelope": {Config{Envelopes: EnvelopeLimits{MaxEnvelopeDocuments: 2}, MaxInterval: time.Hour}, "--watch.max-envelope-documents=2"},
	} {
		t.Run(name, func(t *testing.T) {
			r, wl := envelopeRig(t, tc.cfg)
			// envDocs[0] and envDocs[1] directly too: 3 distinct documents, 5 exported pairs.
			for _, id := range envDocs[:2] {
				wl.Documents = append(wl.Documents, watchlist.Entry{ID: id, AuthToken: listedTokens[id]})
			}
			r.refresher.SetWatchList(wl)
			r.round(0)
			a := envelopeView(t, r.refresher, envA)
			assert.False(t, a.ListOK)
			assert.Contains(t, a.LastError, tc.flag)
			assert.Empty(t, a.Documents)
			assert.Equal(t, 3, r.store.Len(), "the direct documents only")
			assert.Equal(t, 1.0, testutil.ToFloat64(r.refresher.metrics.envelopeListings.WithLabelValues("too_many_documents")))

			// Listed again after max-interval, not every round; logged once.
			listings := r.sim.Stats().Listings
			r.round(5 * time.Minute)
			assert.Equal(t, listings+1, r.sim.Stats().Listings, "the faulty envelope only")
			r.round(time.Hour)
			assert.Equal(t, listings+3, r.sim.Stats().Listings)
			assert.Equal(t, 2.0, testutil.ToFloat64(r.refresher.metrics.envelopeListings.WithLabelValues("too_many_documents")))
			assert.Equal(t, 1, strings.Count(r.logs.String(), "envelope listing refused, over a limit"))
		})
	}
}

// An envelope may not take another's documents, nor list an envelope's id as
// a document: the first envelope in watch-list order keeps a document, the
// second is refused it, counted and logged once however many rounds list it.
func TestEnvelopeCannotTakeAnothersDocuments(t *testing.T) {
	const envB = "E0000000-0000-4000-8000-00000000000B"
	r, wl := envelopeRig(t, Config{})
	own := testenv.GUID(0xE1, 4)
	putListed(r, assuresign.StatusCreated, 0, own)
	r.sim.Put(simulator.Document{ID: envA, AuthToken: testenv.RandomGUID(), Status: assuresign.StatusCreated, StatusDate: testenv.T0})
	r.sim.PutEnvelope(simulator.Envelope{ID: envB, AuthToken: envToken, Documents: []string{envDocs[0], envA, own}})
	wl.Envelopes = append(wl.Envelopes, watchlist.Entry{ID: envB, AuthToken: envToken, Labels: map[string]string{"customer": "mallory"}})
	r.refresher.SetWatchList(wl)
	r.round(0)
	r.round(time.Hour)
	b := envelopeView(t, r.refresher, envB)
	assert.True(t, b.ListOK)
	require.Len(t, b.Documents, 1)
	assert.Equal(t, own, b.Documents[0].ID)
	assert.Len(t, envelopeView(t, r.refresher, envA).Documents, 3, "the first envelope keeps its documents")
	body := storetest.Scrape(t, r.store, false)
	assert.Contains(t, body, `assuresign_document_info{document_id="`+envDocs[0]+`",customer="acme"} 1`)
	assert.NotContains(t, body, `document_id="`+envA+`"`)
	assert.Equal(t, 2.0, testutil.ToFloat64(r.refresher.metrics.dropped.WithLabelValues("envelope_document")))
	assert.Equal(t, 1, strings.Count(r.logs.String(), "listed documents refused for their envelope"), "once")
	assert.Contains(t, r.logs.String(), `first_reason="envelope `+envA+` has it"`)
}

// A listing that names a secret the exporter knows (here the account's
// ContextIdentifier) as a document's id does not make it a label, a page's
// text or a log's, under either API: under REST the listing's answer also
// carries the refused document's status, here an undocumented one, which
// was logged with its id before it was dropped.
func TestEnvelopeDocumentWhoseIDIsASecretIsRefused(t *testing.T) {
	const envB = "E0000000-0000-4000-8000-00000000000B"
	for _, api := range []string{"soap", "rest"} {
		t.Run(api, func(t *testing.T) {
			secret := testenv.RandomGUID()
			secrets := assuresign.NewSecrets()
			secrets.Set("context identifier", []string{secret})
			var r *rig
			var wl *watchlist.List
			if api == "rest" {
				r = restRig(t, Config{Envelopes: EnvelopeLimits{Secrets: secrets}}, false)
				wl = &watchlist.List{Envelopes: []watchlist.Entry{{ID: envA}, {ID: envB}}}
			} else {
				r, wl = envelopeRig(t, Config{Envelopes: EnvelopeLimits{Secrets: secrets}})
				wl.Envelopes = append(wl.Envelopes, watchlist.Entry{ID: envB, AuthToken: envToken})
			}
			own := testenv.GUID(0xE1, 4)
			putListed(r, assuresign.StatusCreated, 0, own)
			r.sim.Put(simulator.Document{ID: secret, AuthToken: testenv.RandomGUID(), Status: assuresign.StatusCreated, RawStatus: "ON_HOLD", StatusDate: testenv.T0})
			r.sim.PutEnvelope(simulator.Envelope{ID: envB, AuthToken: envToken, Documents: []string{secret, own}})
			r.refresher.SetWatchList(wl)
			r.round(0)
			r.round(time.Hour)
			b := envelopeView(t, r.refresher, envB)
			require.Len(t, b.Documents, 1)
			assert.Equal(t, own, b.Documents[0].ID)
			assert.Equal(t, 1.0, testutil.ToFloat64(r.refresher.metrics.dropped.WithLabelValues("envelope_document")))
			assert.Contains(t, r.logs.String(), `first_reason="its id is a secret the exporter knows"`)
			for what, text := range map[string]string{"/metrics": storetest.Scrape(t, r.store, false), "log": r.logs.String()} {
				assert.NotContains(t, strings.ToUpper(text), secret, what)
			}
		})
	}
}

// Listings reach assuresign_api_requests_total and the request-duration
// histogram under their own operation, through the client's Observe hook as
// main wires it; status checks stay under theirs.
func TestListingsAreCountedUnderTheirOperation(t *testing.T) {
	r, _ := envelopeRig(t, Config{})
	r.round(0)
	requests := map[string]map[string]float64{}
	durations := map[string]uint64{}
	mfs, err := r.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch mf.GetName() {
			case "assuresign_api_requests_total":
				if requests[labels["operation"]] == nil {
					requests[labels["operation"]] = map[string]float64{}
				}
				requests[labels["operation"]][labels["result"]] = m.GetCounter().GetValue()
			case "assuresign_api_request_duration_seconds":
				durations[labels["operation"]] = m.GetHistogram().GetSampleCount()
			}
		}
	}
	listings := requests[assuresign.OpListEnvelopeDocuments]
	assert.Equal(t, 1.0, listings["ok"], "envA's listing")
	assert.Equal(t, 1.0, listings["soap_fault"], "envFaulty's listing")
	assert.Equal(t, uint64(2), durations[assuresign.OpListEnvelopeDocuments])
	assert.Positive(t, requests[assuresign.OpCheckStatus]["ok"])
	assert.Equal(t, uint64(requests[assuresign.OpCheckStatus]["ok"]), durations[assuresign.OpCheckStatus])
}

// A round that changes nothing of the envelopes keeps their generation, so
// the next scrape does not encode every envelope's families again; a change
// of a listed document's status moves it.
func TestEnvelopesGenerationMovesOnlyWithAChange(t *testing.T) {
	r, _ := envelopeRig(t, Config{Interval: 5 * time.Minute})
	r.round(0)
	gen := r.refresher.EnvelopesGeneration()
	before := r.refresher.Envelopes()
	r.round(5 * time.Minute)
	assert.Equal(t, before, r.refresher.Envelopes(), "nothing changed")
	assert.Equal(t, gen, r.refresher.EnvelopesGeneration(), "a round that changed nothing")
	r.sim.Update(envDocs[0], func(d *simulator.Document) { d.Status, d.Step = assuresign.StatusDeclined, 0 })
	r.round(10 * time.Minute)
	assert.Equal(t, assuresign.StatusDeclined, envelopeView(t, r.refresher, envA).Status)
	assert.Greater(t, r.refresher.EnvelopesGeneration(), gen, "a declined document")
}

// An envelope's listed tokens are redacted while it is watched, and leave the
// set of secrets with it: the set does not grow with every envelope ever
// watched.
func TestListedTokensLeaveWithTheirEnvelope(t *testing.T) {
	secrets := assuresign.NewSecrets()
	r, wl := envelopeRig(t, Config{Envelopes: EnvelopeLimits{Secrets: secrets}})
	r.round(0)
	listed := listedTokens[envDocs[0]]
	assert.True(t, secrets.Holds(listed), "a listed token is known once listed")
	r.refresher.SetWatchList(&watchlist.List{Documents: wl.Documents})
	assert.False(t, secrets.Holds(listed), "still known after its envelope left the watch list")
}
