package refresh

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/rest"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// rig is a refresher wired to a simulator over loopback HTTP, with the
// exporter's metrics in their own registry.
type rig struct {
	sim       *simulator.Simulator
	store     *collector.Store
	reg       *prometheus.Registry
	refresher *Refresher
	clock     *testenv.Clock
	logs      *testenv.SyncBuffer
	logger    *slog.Logger
}

type rigOptions struct {
	cfg     Config
	retries int                             // client MaxRetries: 0 (or negative) for none
	wrap    func(http.Handler) http.Handler // wraps the simulator, if set
	sim     *simulator.Simulator            // the account; a new one when nil
	rest    bool                            // ask the simulator's REST side, with restUser, by envelope
}

// restUser is the REST API user of a rig with rest set.
var restUser = simulator.APIUser{Username: "api.user", Key: "K3y-0f-Th3-4P1-Us3r-Wh1ch-1s-S3cr3t", ContextUsername: "jane@example.com"}

// newRig starts a simulator for testenv.SecretContext and a refresher on a fake clock
// at testenv.T0. The client does not retry unless asked.
func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	sim := o.sim
	if sim == nil {
		sim = simulator.New(testenv.SecretContext)
	}
	var h http.Handler = sim
	if o.wrap != nil {
		h = o.wrap(sim)
	}
	srv := httptest.NewServer(h)
	tr := &http.Transport{}
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	logger, logs := testenv.DebugLogger()
	reg := prometheus.NewRegistry()
	store := collector.NewStore(collector.StoreConfig{})
	if o.cfg.Interval == 0 {
		o.cfg.Interval = 5 * time.Minute
	}
	if o.cfg.TerminalInterval == 0 {
		o.cfg.TerminalInterval = 24 * time.Hour
	}
	if o.cfg.BatchSize == 0 {
		o.cfg.BatchSize = 50
	}
	if o.cfg.Concurrency == 0 {
		o.cfg.Concurrency = 2
	}
	if o.cfg.Timeout == 0 {
		o.cfg.Timeout = 10 * time.Second
	}
	if o.cfg.ContextIdentifier == "" {
		o.cfg.ContextIdentifier = testenv.SecretContext
	}
	if o.retries <= 0 {
		o.retries = -1
	}
	clock := testenv.NewClock(testenv.T0)
	o.cfg.Now = clock.Now
	metrics := NewMetrics(reg, store.Len, o.cfg.Interval, o.cfg.Push.Enabled)
	if o.rest {
		sim.SetAPIUser(restUser)
		o.cfg.ByEnvelope = true
		client, err := rest.New(rest.Config{BaseURL: srv.URL + simulator.RESTBasePath, AuthURL: srv.URL + simulator.RESTAuthPath,
			APIUsername: restUser.Username, APIKey: restUser.Key, ContextUsername: restUser.ContextUsername, ContextIdentifier: o.cfg.ContextIdentifier,
			HTTPClient: &http.Client{Transport: tr}, MaxRetries: o.retries, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
			Observe: metrics.ObserveRequest, Now: clock.Now})
		require.NoError(t, err)
		return &rig{sim: sim, store: store, reg: reg, refresher: NewRefresher(o.cfg, store, client, metrics, logger), clock: clock, logs: logs, logger: logger}
	}
	client, err := assuresign.NewClient(assuresign.Config{
		Endpoint:    srv.URL + "/Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text",
		HTTPClient:  &http.Client{Transport: tr},
		MaxRetries:  o.retries,
		BaseBackoff: time.Millisecond,
		MaxBackoff:  5 * time.Millisecond,
		Logger:      logger,
		Observe:     metrics.ObserveRequest,
		Secrets:     o.cfg.Envelopes.Secrets, // as the exporter shares one set
	})
	require.NoError(t, err)
	refresher := NewRefresher(o.cfg, store, client, metrics, logger)
	return &rig{sim: sim, store: store, reg: reg, refresher: refresher, clock: clock, logs: logs, logger: logger}
}

// put adds documents to the simulated account, with status date testenv.T0.
func (r *rig) put(st assuresign.Status, step int, ids ...string) {
	for _, id := range ids {
		r.sim.Put(simulator.Document{ID: id, AuthToken: tokenFor(id), Status: st, Step: step, StatusDate: testenv.T0})
	}
}

// tokenFor is the AuthToken rig documents use: derived from the id.
func tokenFor(id string) string { return "70CE0000" + id[8:] }

// watch makes ids the watch list, each with tokenFor(id).
func (r *rig) watch(ids ...string) {
	wl := &watchlist.List{}
	for _, id := range ids {
		wl.Documents = append(wl.Documents, watchlist.Entry{ID: id, AuthToken: tokenFor(id)})
	}
	r.store.SetWatchList(wl)
}

// round runs a scheduled round at the given offset from testenv.T0.
func (r *rig) round(at time.Duration) roundStats {
	r.clock.Set(testenv.T0.Add(at))
	return r.refresher.round(context.Background(), false)
}

// statusOf returns the document as the landing page sees it, times in UTC.
func statusOf(t testing.TB, s *collector.Store, id string) collector.DocumentView {
	t.Helper()
	docs, _ := s.Snapshot(0)
	for _, d := range docs {
		if d.ID == id {
			// Parsed dates carry a fixed zone: compare instants.
			d.StatusDate, d.LastCheck = d.StatusDate.UTC(), d.LastCheck.UTC()
			return d
		}
	}
	t.Fatalf("document %s is not in the store", id)
	return collector.DocumentView{}
}
