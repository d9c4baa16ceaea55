package refresh

// A simulated day of the real scheduler: the Refresher and the real
// assuresign.Client against the in-process simulator over loopback, on a fake
// clock, counting the simulator's requests. These benchmarks print the
// request figures of docs/performance.md:
//
//	go test ./refresh -run '^$' -bench Day -benchtime 1x
//
// ns/op is the wall time of one simulated day, and says nothing of AssureSign.

import (
	"cmp"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/rest"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/upstream"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// The simulated account: of the open documents, dayActive change about every
// hour and the rest sit at the same step for days; one of those moves each
// hour of the day without DocumentTRAK (each then counts as moving for a day).
const (
	dayDocuments     = 1000
	dayOpen          = 200 // the rest are closed
	dayActive        = 20  // of the open ones
	dayNotifications = 50
	dayPollInterval  = 5 * time.Minute
	dayMaxInterval   = time.Hour // --refresh.max-interval's default
	dayTrakInterval  = time.Hour // reconciliation with DocumentTRAK on
	dayTerminal      = 24 * time.Hour
)

// dayNaive is one request per document every 5 minutes: 288,000 a day.
const dayNaive = dayDocuments * int(24*time.Hour/dayPollInterval)

// Before idle backoff and filling (docs/performance.md, 2026-12-01), at batch 50.
const (
	dayBeforePolling = 1168
	dayBeforeTrak    = 162
)

// dayRound is one round as the simulator saw it.
type dayRound struct{ due, requests int }

// dayResult is a simulated day.
type dayResult struct {
	batch         int
	notifications int
	perDay        int       // simulator requests in [0, 24h)
	rounds        int       // scheduled rounds in the day
	checked       int       // rounds of any kind compared with ceil(due/batch), the one at 24h included
	offCeil       int       // of those, rounds whose requests were not ceil(due/batch)
	first         dayRound  // the first scheduled round
	laterMax      dayRound  // the most due and requests in one scheduled round after the first, within the day
	at24h         dayRound  // the scheduled round at 24h, when the closed documents fall due
	closedEarly   int       // closed documents checked between the first round and 24h
	notified      int       // notifications whose document showed the new step after its urgent round
	urgentReqs    int       // requests sent by urgent rounds
	activeDelays  []float64 // minutes from a change of an active document to the round that saw it
	idleDelays    []float64 // the same, for the documents that sat still
	missed        int       // changes not seen within the longest interval
}

// dayChange is a status change in the simulated account.
type dayChange struct {
	at     time.Duration
	doc    int
	notify bool // DocumentTRAK announces it
}

// dayChanges are the day's changes: without notifications, each active
// document moving every hour and one idle document each hour; with them, the
// notified changes alone. None falls on a round's instant.
func dayChanges(notifications int) []dayChange {
	var out []dayChange
	if notifications > 0 {
		for i := range notifications {
			// Whole seconds, as a StatusDate comes back.
			at := time.Duration(float64(24*time.Hour) * (float64(i) + 0.37) / float64(notifications)).Round(time.Second)
			out = append(out, dayChange{at: at, doc: (i * 37) % dayOpen, notify: true})
		}
		return out
	}
	for h := range 24 {
		for j := range dayActive {
			out = append(out, dayChange{at: time.Duration(h)*time.Hour + time.Duration(j)*3*time.Minute + 90*time.Second, doc: j})
		}
		out = append(out, dayChange{at: time.Duration(h)*time.Hour + 37*time.Minute + 30*time.Second, doc: dayActive + (h*7)%(dayOpen-dayActive)})
	}
	slices.SortFunc(out, func(a, b dayChange) int { return cmp.Compare(a.at, b.at) })
	return out
}

// simulateDay runs a scheduled round every interval from 0 to 24h inclusive
// and the day's changes between them; a notified change is followed by
// CheckNow and an urgent round, as the webhook and Run would do.
// With rest, the documents are in envelopes of dayEnvelopeSize, watched by
// envelope id through the REST API.
func simulateDay(b *testing.B, batch int, interval time.Duration, notifications int, rest bool) *dayResult {
	b.Helper()
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	sim, wl, ids := newDayAccount(b, start, rest)
	clock := testenv.NewClock(start)
	store, refresher := newDayRefresher(b, sim, wl, batch, interval, clock, notifications > 0, rest, PushConfig{})
	index := map[string]int{} // document id → position in the account
	for i, id := range ids {
		index[id] = i
	}

	res := &dayResult{batch: batch, notifications: notifications}
	requests := func() int { return sim.Stats().Requests }
	// Changed documents not yet seen, with their new StatusDate and step
	// (the REST API answers no StatusDate: its step tells).
	type dayPending struct {
		at   time.Time
		step int
	}
	pending := map[string]dayPending{}
	see := func(at time.Time) {
		if len(pending) == 0 {
			return
		}
		views, _ := store.Snapshot(0)
		for _, v := range views {
			c, ok := pending[v.ID]
			if !ok || (!rest && !v.StatusDate.Equal(c.at)) || (rest && v.Step != c.step) {
				continue
			}
			changed := c.at
			delay := at.Sub(changed).Minutes()
			if index[v.ID] < dayActive {
				res.activeDelays = append(res.activeDelays, delay)
			} else {
				res.idleDelays = append(res.idleDelays, delay)
			}
			delete(pending, v.ID)
		}
	}
	round := func(at time.Time, urgentOnly bool) dayRound {
		b.Helper()
		clock.Set(at)
		before := requests()
		st := refresher.round(b.Context(), urgentOnly)
		obs := dayRound{due: st.Documents, requests: requests() - before}
		if st.Failed > 0 {
			b.Fatalf("round at %s: %d failed requests", at.Sub(start), st.Failed)
		}
		res.checked++
		if !rest && obs.requests != (obs.due+batch-1)/batch { // REST asks per envelope
			res.offCeil++
		}
		see(at)
		return obs
	}
	change := func(c dayChange) {
		b.Helper()
		at := start.Add(c.at)
		id := ids[c.doc]
		var step int
		sim.Update(id, func(d *simulator.Document) {
			d.Status, d.Step, d.StatusDate = assuresign.StatusSigningStepInProgress, 1+(d.Step%4), at
			step = d.Step
		})
		pending[id] = dayPending{at, step}
		if !c.notify {
			return
		}
		clock.Set(at)
		if !refresher.CheckNow(id, at) {
			b.Fatalf("CheckNow(%s): not watched", id)
		}
		res.urgentReqs += round(at, true).requests
		if v := statusOf(b, store, id); v.Status == assuresign.StatusSigningStepInProgress.String() && v.Step == step && v.LastCheck.Equal(at) {
			res.notified++
		}
	}

	changes := dayChanges(notifications)
	next := 0
	for k := 0; time.Duration(k)*interval <= 24*time.Hour; k++ {
		at := time.Duration(k) * interval
		for ; next < len(changes) && changes[next].at < at; next++ {
			change(changes[next])
		}
		if at == 24*time.Hour {
			views, _ := store.Snapshot(0)
			for _, v := range views {
				if index[v.ID] >= dayOpen && !v.LastCheck.Equal(start) {
					res.closedEarly++
				}
			}
		}
		obs := round(start.Add(at), false)
		switch {
		case at == 24*time.Hour:
			res.at24h = obs
			continue // outside the day
		case k == 0:
			res.first = obs
		default:
			res.laterMax = dayRound{due: max(res.laterMax.due, obs.due), requests: max(res.laterMax.requests, obs.requests)}
		}
		res.rounds++
	}
	res.perDay = requests() - res.at24h.requests
	// Changes late in the day are seen after it: keep going for as long as
	// the longest interval, for their delays (these rounds are not counted).
	for at := 24*time.Hour + interval; len(pending) > 0 && at <= 24*time.Hour+dayMaxInterval; at += interval {
		round(start.Add(at), false)
	}
	res.missed = len(pending)
	return res
}

// percentile returns the p-th percentile of xs (nearest rank), 0 for none.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	return s[max(int(math.Ceil(p/100*float64(len(s))))-1, 0)]
}

// verdict is the performance table's ok column.
func verdict(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// BenchmarkDay simulates a day of 1,000 watched documents (200 open, 800
// closed; of the open ones 20 change about every hour, 180 sit still for
// days) at batch sizes 50 (the default) and 100 (what the binary rows of
// docs/performance.md use), at the default --refresh.max-interval of 1h:
// polled every 5 minutes, and with DocumentTRAK on (hourly reconciliation and
// 50 notifications). Each reports requests/day and x-fewer-than-naive
// (against one request per document every 5 minutes, 288,000), the polled
// day the delays from a change to the round that saw it, and logs the
// performance table's rows with their targets.
func BenchmarkDay(b *testing.B) {
	for _, batch := range []int{50, 100} {
		b.Run(fmt.Sprintf("polling/batch=%d", batch), func(b *testing.B) {
			var d *dayResult
			for b.Loop() {
				d = simulateDay(b, batch, dayPollInterval, 0, false)
			}
			fewer := float64(dayNaive) / float64(d.perDay)
			activeP95, idleP95, idleMax := percentile(d.activeDelays, 95), percentile(d.idleDelays, 95), percentile(d.idleDelays, 100)
			b.ReportMetric(float64(d.perDay), "requests/day")
			b.ReportMetric(fewer, "x-fewer-than-naive")
			b.ReportMetric(float64(d.first.requests), "requests/first-round")
			b.ReportMetric(float64(d.laterMax.requests), "requests/later-round")
			b.ReportMetric(float64(d.offCeil), "rounds-off-ceil")
			b.ReportMetric(activeP95, "active-seen-p95-min")
			b.ReportMetric(idleP95, "idle-seen-p95-min")
			b.ReportMetric(idleMax, "idle-seen-max-min")
			b.ReportMetric(float64(d.missed), "changes-unseen")
			b.Logf("upstream requests per round, 1,000 documents (200 open, 800 closed), batch %d: "+
				"first round %d due → %d requests; %d later rounds at most %d due → %d requests; round at 24 h %d due → %d; closed documents checked before 24 h: %d; rounds off ceil(due/batch): %d of %d "+
				"(target: exactly ceil(due/batch); closed documents not due until 24 h; ok: %s)",
				batch, d.first.due, d.first.requests, d.rounds-1, d.laterMax.due, d.laterMax.requests, d.at24h.due, d.at24h.requests, d.closedEarly, d.offCeil, d.checked,
				verdict(d.offCeil == 0 && d.closedEarly == 0 && d.first.due == dayDocuments && d.at24h.due >= dayDocuments-dayOpen))
			b.Logf("upstream requests per day, 1,000 documents (200 open: 20 moving, 180 still for days; 800 closed), refresh 5m, max-interval 1h, batch %d: %d requests in %d rounds = %.0fx fewer than %d; before: %d = %.0fx at batch 50 "+
				"(target at batch 50: ≥ 700x fewer, at most 411; ok: %s)",
				batch, d.perDay, d.rounds, fewer, dayNaive, dayBeforePolling, float64(dayNaive)/dayBeforePolling, verdict(d.perDay <= 411))
			b.Logf("change to detection, the 20 moving documents: %d changes, p95 %.1f min, max %.1f min (target: p95 ≤ --refresh.interval, 5 min; ok: %s)",
				len(d.activeDelays), activeP95, percentile(d.activeDelays, 100), verdict(activeP95 <= dayPollInterval.Minutes() && d.missed == 0))
			b.Logf("change to detection, the 180 documents still for days, without DocumentTRAK: %d changes, p95 %.1f min, max %.1f min (target: p95 ≤ --refresh.max-interval, 60 min; ok: %s)",
				len(d.idleDelays), idleP95, idleMax, verdict(idleP95 <= dayMaxInterval.Minutes() && d.missed == 0))
		})
		b.Run(fmt.Sprintf("documenttrak/batch=%d", batch), func(b *testing.B) {
			var d *dayResult
			for b.Loop() {
				d = simulateDay(b, batch, dayTrakInterval, dayNotifications, false)
			}
			fewer := float64(dayNaive) / float64(d.perDay)
			b.ReportMetric(float64(d.perDay), "requests/day")
			b.ReportMetric(fewer, "x-fewer-than-naive")
			b.ReportMetric(float64(d.perDay-d.urgentReqs), "scheduled-requests/day")
			b.ReportMetric(float64(d.urgentReqs), "notified-requests/day")
			b.ReportMetric(float64(d.notified), "notifications-seen-at-once")
			b.ReportMetric(float64(d.offCeil), "rounds-off-ceil")
			b.Logf("the same with DocumentTRAK, hourly reconciliation, %d notifications a day, batch %d: "+
				"%d requests (%d in %d hourly rounds + %d for notifications, %d/%d seen at once) = %.0fx fewer; before: %d = %.0fx at batch 50; rounds off ceil(due/batch): %d of %d "+
				"(target at batch 50: not worse than before; ok: %s)",
				d.notifications, batch, d.perDay, d.perDay-d.urgentReqs, d.rounds, d.urgentReqs, d.notified, d.notifications, fewer,
				dayBeforeTrak, float64(dayNaive)/dayBeforeTrak, d.offCeil, d.checked,
				verdict(d.perDay <= dayBeforeTrak && d.notified == d.notifications && d.offCeil == 0))
		})
	}
}

// dayEnvelopeSize is the documents of each envelope in the REST day.
const dayEnvelopeSize = 5

// BenchmarkDayREST is BenchmarkDay's day through the REST API: the 1,000
// documents in envelopes of 5 (the 200 open ones in the first 40), watched
// by envelope id, polled every 5 minutes and with DocumentTRAK. One status
// request per envelope is the API's cost; it prints requests/day beside
// SOAP's for the same day (its documents watched directly, batch 50):
//
//	go test ./refresh -run '^$' -bench DayREST -benchtime 1x
func BenchmarkDayREST(b *testing.B) {
	for _, tc := range []struct {
		name          string
		interval      time.Duration
		notifications int
	}{{"polling", dayPollInterval, 0}, {"documenttrak", dayTrakInterval, dayNotifications}} {
		b.Run(tc.name, func(b *testing.B) {
			var d, soap *dayResult
			for b.Loop() {
				d = simulateDay(b, 50, tc.interval, tc.notifications, true)
			}
			soap = simulateDay(b, 50, tc.interval, tc.notifications, false)
			b.ReportMetric(float64(d.perDay), "requests/day")
			b.ReportMetric(float64(soap.perDay), "soap-requests/day")
			b.ReportMetric(float64(d.first.requests), "requests/first-round")
			b.ReportMetric(float64(d.laterMax.requests), "requests/later-round")
			b.ReportMetric(float64(d.closedEarly), "closed-checked-early")
			b.ReportMetric(float64(d.missed), "changes-unseen")
			b.Logf("REST, 1,000 documents in 200 envelopes of 5 (40 open, 160 closed), refresh %s, max-interval 1h, %d notifications: %d requests a day "+
				"(token fetches included; first round %d, later rounds at most %d; closed documents checked before 24 h: %d; changes unseen: %d); "+
				"SOAP, the same documents watched directly, batch 50: %d; naive (a request per document every 5 min): %d",
				tc.interval, tc.notifications, d.perDay, d.first.requests, d.laterMax.requests, d.closedEarly, d.missed, soap.perDay, dayNaive)
		})
	}
}

// dayContext is the simulated account's ContextIdentifier.
const dayContext = "C0FFEE00-1234-4ABC-9DEF-0123456789AB"

// newDayAccount returns the simulated account, dayDocuments of which dayOpen
// are open (the first dayActive of them moved within the hour, the rest
// have sat still for days), the watch list of all of them and their ids, in
// that order. With rest, they are in envelopes of dayEnvelopeSize, in order,
// and the watch list names the envelopes.
func newDayAccount(b *testing.B, start time.Time, rest bool) (*simulator.Simulator, *watchlist.List, []string) {
	b.Helper()
	sim := simulator.New(dayContext)
	docs := simulator.DemoDocuments(dayDocuments, 1)
	closed := []assuresign.Status{assuresign.StatusCompleted, assuresign.StatusDeclined, assuresign.StatusExpired, assuresign.StatusCancelled, assuresign.StatusStaled}
	var wf strings.Builder
	wf.WriteString("documents:\n")
	var ids []string
	for i := range docs {
		d := &docs[i]
		d.Exceptions = nil
		switch {
		case i < dayActive: // moved within the last hour
			d.Status, d.Step, d.StatusDate = assuresign.StatusSigningStepInProgress, 1+i%3, start.Add(-time.Duration(i+1)*3*time.Minute)
		case i < dayOpen: // still for 2 to 9 days
			d.Status, d.Step = assuresign.StatusSigningStepInProgress, 1+i%3
			d.StatusDate = start.Add(-time.Duration(2+i%8)*24*time.Hour - time.Duration(i)*time.Minute)
			if i%2 == 0 {
				d.Status, d.Step = assuresign.StatusCreated, 0
			}
		default:
			d.Status, d.Step, d.StatusDate = closed[i%len(closed)], 0, start.Add(-time.Duration(i)*time.Minute)
		}
		sim.Put(*d)
		fmt.Fprintf(&wf, "  - id: %s\n    auth_token: %s\n", d.ID, d.AuthToken)
		ids = append(ids, d.ID)
	}
	parse := watchlist.Parse
	if rest {
		parse = watchlist.ParseEnvelopesOnly
		wf.Reset()
		wf.WriteString("envelopes:\n")
		for i := 0; i < len(ids); i += dayEnvelopeSize {
			e := simulator.Envelope{ID: fmt.Sprintf("E0E0%04X-0000-4000-8000-00000000E0E0", i), Documents: ids[i:min(i+dayEnvelopeSize, len(ids))]}
			sim.PutEnvelope(e)
			fmt.Fprintf(&wf, "  - id: %s\n", e.ID)
		}
	}
	wl, err := parse("day.yml", []byte(wf.String()), 0)
	if err != nil {
		b.Fatal(err)
	}
	return sim, wl, ids
}

// newDayRefresher returns a store watching wl and the real refresher and
// client asking sim over loopback, on clock.
func newDayRefresher(b *testing.B, sim *simulator.Simulator, wl *watchlist.List, batch int, interval time.Duration, clock *testenv.Clock, webhook, byEnvelope bool, push PushConfig) (*collector.Store, *Refresher) {
	b.Helper()
	srv := httptest.NewServer(sim)
	tr := &http.Transport{}
	b.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	var client upstream.API
	var err error
	if byEnvelope {
		sim.SetAPIUser(restUser)
		client, err = rest.New(rest.Config{BaseURL: srv.URL + simulator.RESTBasePath, AuthURL: srv.URL + simulator.RESTAuthPath,
			APIUsername: restUser.Username, APIKey: restUser.Key, ContextUsername: restUser.ContextUsername,
			HTTPClient: &http.Client{Transport: tr}, Now: clock.Now})
	} else {
		client, err = assuresign.NewClient(assuresign.Config{
			Endpoint:   srv.URL + "/Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text",
			HTTPClient: &http.Client{Transport: tr},
		})
	}
	if err != nil {
		b.Fatal(err)
	}
	store := collector.NewStore(collector.StoreConfig{})
	refresher := NewRefresher(Config{
		Interval: interval, MaxInterval: dayMaxInterval, TerminalInterval: dayTerminal, BatchSize: batch, Concurrency: 4,
		Timeout: 30 * time.Second, ContextIdentifier: dayContext, Now: clock.Now, ByEnvelope: byEnvelope, Push: push,
	}, store, client, NewMetrics(prometheus.NewRegistry(), store.Len, interval, webhook || push.Enabled), testenv.DiscardLogger())
	refresher.SetWatchList(wl)
	return store, refresher
}
