package collector

// A simulated day of the real scheduler: the Refresher and the real
// assuresign.Client against the in-process simulator over loopback, on a fake
// clock, counting the simulator's requests. These benchmarks print the
// request figures of docs/performance.md:
//
//	go test ./collector -run '^$' -bench Day -benchtime 1x
//
// ns/op is the wall time of one simulated day, and says nothing of AssureSign.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// The simulated account.
const (
	dayDocuments     = 1000
	dayOpen          = 200 // the rest are closed
	dayNotifications = 50
	dayPollInterval  = 5 * time.Minute
	dayTrakInterval  = time.Hour // reconciliation with DocumentTRAK on
	dayTerminal      = 24 * time.Hour
)

// dayNaive is one request per document every 5 minutes: 288,000 a day.
const dayNaive = dayDocuments * int(24*time.Hour/dayPollInterval)

// dayRound is one round as the simulator saw it.
type dayRound struct{ due, requests int }

// dayResult is a simulated day.
type dayResult struct {
	batch         int
	notifications int
	perDay        int        // simulator requests in [0, 24h)
	rounds        int        // scheduled rounds in the day
	checked       int        // rounds of any kind compared with ceil(due/batch), the one at 24h included
	offCeil       int        // of those, rounds whose requests were not ceil(due/batch)
	first         dayRound   // the first scheduled round
	later         []dayRound // the scheduled rounds after it, within the day
	at24h         dayRound   // the scheduled round at 24h, when the closed documents fall due
	notified      int        // notifications whose document showed the new step after its urgent round
	urgentReqs    int        // requests sent by urgent rounds
}

// laterMax returns the most documents due and requests sent by one later
// round, and whether every later round found exactly the open documents due.
func (d *dayResult) laterMax() (due, requests int, allOpen bool) {
	allOpen = true
	for _, r := range d.later {
		due, requests = max(due, r.due), max(requests, r.requests)
		allOpen = allOpen && r.due == dayOpen
	}
	return due, requests, allOpen
}

// simulateDay runs a scheduled round every interval from 0 to 24h inclusive
// and, with notifications > 0, that many DocumentTRAK notifications spread
// over the day: each a status change in the simulator, then CheckNow and an
// urgent round, as the webhook and Run would do.
func simulateDay(b *testing.B, batch int, interval time.Duration, notifications int) *dayResult {
	b.Helper()
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	sim, wl := newDayAccount(b, start)
	clock := testenv.NewClock(start)
	store, refresher := newDayRefresher(b, sim, wl, batch, interval, clock, notifications > 0)

	res := &dayResult{batch: batch, notifications: notifications}
	requests := func() int { return sim.Stats().Requests }
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
		if obs.requests != (obs.due+batch-1)/batch {
			res.offCeil++
		}
		return obs
	}
	notify := func(i int, at time.Time) {
		b.Helper()
		// An open document moves on a step: it stays open, so the day's
		// polling load stays that of the 200 open documents.
		id := wl.Documents[(i*37)%dayOpen].ID
		var step int
		sim.Update(id, func(d *simulator.Document) {
			d.Status, d.Step, d.StatusDate = assuresign.StatusSigningStepInProgress, 1+(d.Step%4), at
			step = d.Step
		})
		clock.Set(at)
		if !refresher.CheckNow(id, at) {
			b.Fatalf("CheckNow(%s): not watched", id)
		}
		res.urgentReqs += round(at, true).requests
		if v := statusOf(b, store, id); v.Status == assuresign.StatusSigningStepInProgress.String() && v.Step == step && v.LastCheck.Equal(at) {
			res.notified++
		}
	}

	// Notifications at evenly spread instants, off the rounds' instants.
	var notifyAt []time.Duration
	for i := range notifications {
		notifyAt = append(notifyAt, time.Duration(float64(24*time.Hour)*(float64(i)+0.37)/float64(notifications)))
	}
	next := 0
	for k := 0; time.Duration(k)*interval <= 24*time.Hour; k++ {
		at := time.Duration(k) * interval
		for ; next < len(notifyAt) && notifyAt[next] < at; next++ {
			notify(next, start.Add(notifyAt[next]))
		}
		obs := round(start.Add(at), false)
		switch {
		case at == 24*time.Hour:
			res.at24h = obs
			continue // outside the day
		case k == 0:
			res.first = obs
		default:
			res.later = append(res.later, obs)
		}
		res.rounds++
	}
	res.perDay = requests() - res.at24h.requests
	return res
}

// verdict is the performance table's ok column.
func verdict(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// BenchmarkDay simulates a day of 1,000 watched documents (200 open, 800
// closed) at batch sizes 50 (the default) and 100 (what the binary rows of
// docs/performance.md use): polled every 5 minutes, and with DocumentTRAK on
// (hourly reconciliation and 50 notifications). Each reports requests/day and
// x-fewer-than-naive (against one request per document every 5 minutes,
// 288,000), and logs the performance table's rows with their targets.
func BenchmarkDay(b *testing.B) {
	for _, batch := range []int{50, 100} {
		b.Run(fmt.Sprintf("polling/batch=%d", batch), func(b *testing.B) {
			var d *dayResult
			for b.Loop() {
				d = simulateDay(b, batch, dayPollInterval, 0)
			}
			laterDue, laterReq, allOpen := d.laterMax()
			perRound := float64(laterDue) / float64(max(laterReq, 1))
			fewer := float64(dayNaive) / float64(d.perDay)
			b.ReportMetric(float64(d.perDay), "requests/day")
			b.ReportMetric(fewer, "x-fewer-than-naive")
			b.ReportMetric(float64(d.first.requests), "requests/first-round")
			b.ReportMetric(float64(laterReq), "requests/later-round")
			b.ReportMetric(float64(d.offCeil), "rounds-off-ceil")
			b.ReportMetric(perRound, "x-fewer-per-round")
			b.Logf("upstream requests per round, 1,000 documents (200 open, 800 closed), batch %d: "+
				"first round %d due → %d requests; %d later rounds %d due → %d requests each; round at 24 h %d due → %d; rounds off ceil(due/batch): %d of %d "+
				"(target: exactly ceil(due/batch); closed documents not due until 24 h; ok: %s)",
				batch, d.first.due, d.first.requests, len(d.later), laterDue, laterReq, d.at24h.due, d.at24h.requests, d.offCeil, d.checked,
				verdict(d.offCeil == 0 && allOpen && d.first.due == dayDocuments && d.at24h.due == dayDocuments))
			b.Logf("requests per round against one-request-per-document polling, batch %d: %.0fx (%d open documents in %d requests) (target: = batch size; ok: %s)",
				batch, perRound, laterDue, laterReq, verdict(perRound == float64(batch)))
			b.Logf("upstream requests per day, 1,000 documents (200 open, 800 closed), refresh 5m, batch %d: %d requests in %d rounds = %.0fx fewer than %d (target: ≥ 250x fewer; ok: %s)",
				batch, d.perDay, d.rounds, fewer, dayNaive, verdict(fewer >= 250))
		})
		b.Run(fmt.Sprintf("documenttrak/batch=%d", batch), func(b *testing.B) {
			var d *dayResult
			for b.Loop() {
				d = simulateDay(b, batch, dayTrakInterval, dayNotifications)
			}
			fewer := float64(dayNaive) / float64(d.perDay)
			b.ReportMetric(float64(d.perDay), "requests/day")
			b.ReportMetric(fewer, "x-fewer-than-naive")
			b.ReportMetric(float64(d.perDay-d.urgentReqs), "scheduled-requests/day")
			b.ReportMetric(float64(d.urgentReqs), "notified-requests/day")
			b.ReportMetric(float64(d.notified), "notifications-seen-at-once")
			b.ReportMetric(float64(d.offCeil), "rounds-off-ceil")
			b.Logf("the same with DocumentTRAK, hourly reconciliation, %d notifications a day, batch %d: "+
				"%d requests (%d in %d hourly rounds + %d for notifications, %d/%d seen at once) = %.0fx fewer; rounds off ceil(due/batch): %d of %d "+
				"(target: ≥ 1000x fewer; ok: %s)",
				d.notifications, batch, d.perDay, d.perDay-d.urgentReqs, d.rounds, d.urgentReqs, d.notified, d.notifications, fewer, d.offCeil, d.checked,
				verdict(fewer >= 1000 && d.notified == d.notifications && d.offCeil == 0))
		})
	}
}

// dayContext is the simulated account's ContextIdentifier.
const dayContext = "C0FFEE00-1234-4ABC-9DEF-0123456789AB"

// newDayAccount returns the simulated account, dayDocuments of which dayOpen
// are open, and the watch list of all of them.
func newDayAccount(b *testing.B, start time.Time) (*simulator.Simulator, *watchlist.List) {
	b.Helper()
	sim := simulator.New(dayContext)
	docs := simulator.DemoDocuments(dayDocuments, 1)
	closed := []assuresign.Status{assuresign.StatusCompleted, assuresign.StatusDeclined, assuresign.StatusExpired, assuresign.StatusCancelled, assuresign.StatusStaled}
	var wf strings.Builder
	wf.WriteString("documents:\n")
	for i := range docs {
		d := &docs[i]
		d.Exceptions = nil
		d.StatusDate = start.Add(-time.Duration(i) * time.Minute)
		switch {
		case i < dayOpen && i%2 == 0:
			d.Status, d.Step = assuresign.StatusCreated, 0
		case i < dayOpen:
			d.Status, d.Step = assuresign.StatusSigningStepInProgress, 1+i%3
		default:
			d.Status, d.Step = closed[i%len(closed)], 0
		}
		sim.Put(*d)
		fmt.Fprintf(&wf, "  - id: %s\n    auth_token: %s\n", d.ID, d.AuthToken)
	}
	wl, err := watchlist.Parse("day.yml", []byte(wf.String()), 0)
	if err != nil {
		b.Fatal(err)
	}
	return sim, wl
}

// newDayRefresher returns a store watching wl and the real refresher and
// client asking sim over loopback, on clock.
func newDayRefresher(b *testing.B, sim *simulator.Simulator, wl *watchlist.List, batch int, interval time.Duration, clock *testenv.Clock, webhook bool) (*Store, *Refresher) {
	b.Helper()
	srv := httptest.NewServer(sim)
	tr := &http.Transport{}
	b.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	client, err := assuresign.NewClient(assuresign.Config{
		Endpoint:   srv.URL + "/Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text",
		HTTPClient: &http.Client{Transport: tr},
	})
	if err != nil {
		b.Fatal(err)
	}
	store := NewStore(StoreConfig{})
	store.SetWatchList(wl)
	refresher := NewRefresher(RefreshConfig{
		Interval: interval, TerminalInterval: dayTerminal, BatchSize: batch, Concurrency: 4,
		Timeout: 30 * time.Second, ContextIdentifier: dayContext, Now: clock.Now,
	}, store, client, NewMetrics(prometheus.NewRegistry(), store.Len, interval, webhook), discardLogger())
	return store, refresher
}
