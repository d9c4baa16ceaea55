package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// The simulated account of the day rows.
const (
	dayDocuments     = 1000
	dayOpen          = 200 // the rest are closed
	dayNotifications = 50
	dayPollInterval  = 5 * time.Minute
	dayTrakInterval  = time.Hour // reconciliation with DocumentTRAK on
	dayTerminal      = 24 * time.Hour
	defaultBatch     = 50 // --assuresign.batch-size's default
	endpointPath     = "/Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text"
)

// naivePerDay is one request per document every 5 minutes.
const naivePerDay = dayDocuments * int(24*time.Hour/dayPollInterval)

// roundObs is one round as the simulator saw it.
type roundObs struct {
	due, requests int
}

// dayResult is a simulated day of the real scheduler.
type dayResult struct {
	batch         int
	interval      time.Duration
	notifications int
	perDay        int // simulator requests in [0, 24h)
	rounds        int // scheduled rounds in the day
	offCeil       int // rounds (of any kind) whose requests were not ceil(due/batch)
	first         roundObs
	steady        []roundObs // scheduled rounds after the first, within the day
	at24h         roundObs   // the scheduled round at 24h, when closed documents fall due
	notified      int        // notifications whose document showed the new status after its urgent round
	urgentReqs    int        // requests sent by urgent rounds
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// simulateDay runs the real Refresher against the in-process simulator on a
// fake clock: a scheduled Round every interval from t=0 to t=24h inclusive,
// and, with notifications > 0, that many DocumentTRAK notifications spread
// over the day, each a status change followed by CheckNow and an urgent Round.
func simulateDay(ctx context.Context, batch int, interval time.Duration, notifications int) (*dayResult, error) {
	contextID := "C0FFEE00-1234-4ABC-9DEF-0123456789AB"
	sim := simulator.New(contextID)
	docs := simulator.DemoDocuments(dayDocuments, 1)
	closed := []assuresign.Status{assuresign.StatusCompleted, assuresign.StatusDeclined, assuresign.StatusExpired, assuresign.StatusCancelled, assuresign.StatusStaled}
	t0 := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	var wl strings.Builder
	wl.WriteString("documents:\n")
	for i := range docs {
		d := &docs[i]
		d.Exceptions = nil
		d.StatusDate = t0.Add(-time.Duration(i) * time.Minute)
		switch {
		case i < dayOpen && i%2 == 0:
			d.Status, d.Step = assuresign.StatusCreated, 0
		case i < dayOpen:
			d.Status, d.Step = assuresign.StatusSigningStepInProgress, 1+i%3
		default:
			d.Status, d.Step = closed[i%len(closed)], 0
		}
		sim.Put(*d)
		fmt.Fprintf(&wl, "  - id: %s\n    auth_token: %s\n", d.ID, d.AuthToken)
	}
	list, err := collector.ParseWatchList("day.yml", []byte(wl.String()), 0)
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	client, err := assuresign.NewClient(assuresign.Config{Endpoint: srv.URL + endpointPath})
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.DiscardHandler)
	store := collector.NewStore()
	store.SetWatchList(list)
	metrics := collector.NewMetrics(prometheus.NewRegistry(), store.Len, interval)
	refresher := collector.NewRefresher(collector.RefreshConfig{
		Interval: interval, TerminalInterval: dayTerminal, BatchSize: batch, Concurrency: 4,
		Timeout: 30 * time.Second, ContextIdentifier: contextID,
	}, store, client, metrics, logger)
	clock := testenv.NewClock(t0)
	refresher.SetClock(clock.Now)

	res := &dayResult{batch: batch, interval: interval, notifications: notifications}
	requests := func() int { return sim.Stats().Requests }
	round := func(at time.Time, urgentOnly bool) (roundObs, error) {
		if err := ctx.Err(); err != nil {
			return roundObs{}, err
		}
		clock.Set(at)
		before := requests()
		st := refresher.Round(ctx, urgentOnly)
		obs := roundObs{due: st.Documents, requests: requests() - before}
		if st.Failed > 0 {
			return obs, fmt.Errorf("round at %s: %d failed requests", at.Sub(t0), st.Failed)
		}
		if obs.requests != ceilDiv(obs.due, batch) {
			res.offCeil++
		}
		return obs, nil
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
			if err := notify(ctx, sim, store, refresher, clock, res, docs, next, t0.Add(notifyAt[next]), round); err != nil {
				return nil, err
			}
		}
		obs, err := round(t0.Add(at), false)
		if err != nil {
			return nil, err
		}
		switch {
		case at == 24*time.Hour:
			res.at24h = obs
			continue // outside the day
		case k == 0:
			res.first = obs
		default:
			res.steady = append(res.steady, obs)
		}
		res.rounds++
	}
	// The round at 24h was not part of the day.
	res.perDay = requests() - res.at24h.requests
	return res, nil
}

// notify is DocumentTRAK's path: the document changes in AssureSign, the
// webhook calls CheckNow, and the refresher's urgent round asks for it.
func notify(ctx context.Context, sim *simulator.Simulator, store *collector.Store, refresher *collector.Refresher, clock *testenv.Clock,
	res *dayResult, docs []simulator.Document, i int, at time.Time, round func(time.Time, bool) (roundObs, error)) error {
	// An open document moves on a step: it stays open, so the day's
	// polling load stays that of 200 open documents.
	id := docs[(i*37)%dayOpen].ID
	var step int
	sim.Update(id, func(d *simulator.Document) {
		d.Status, d.Step, d.StatusDate = assuresign.StatusSigningStepInProgress, 1+(d.Step%4), at
		step = d.Step
	})
	clock.Set(at)
	if !refresher.CheckNow(id, at) {
		return fmt.Errorf("CheckNow(%s): not watched", id)
	}
	obs, err := round(at, true)
	if err != nil {
		return err
	}
	res.urgentReqs += obs.requests
	views, _ := store.Snapshot(0)
	for _, v := range views {
		if v.ID == id && v.Status == assuresign.StatusSigningStepInProgress.String() && v.Step == step && v.LastCheck.Equal(at) {
			res.notified++
		}
	}
	return nil
}

// dayTable runs the day simulations at the binary's batch size and at the
// default one, and turns them into rows.
func dayTable(ctx context.Context, batch int) ([]row, error) {
	var rows []row
	batches := []int{batch}
	if batch != defaultBatch {
		batches = append(batches, defaultBatch)
	}
	type pair struct{ poll, trak *dayResult }
	var results []pair
	for _, b := range batches {
		poll, err := simulateDay(ctx, b, dayPollInterval, 0)
		if err != nil {
			return rows, fmt.Errorf("simulated day, batch %d: %w", b, err)
		}
		trak, err := simulateDay(ctx, b, dayTrakInterval, dayNotifications)
		if err != nil {
			return rows, fmt.Errorf("simulated day with DocumentTRAK, batch %d: %w", b, err)
		}
		results = append(results, pair{poll, trak})
	}

	for _, p := range results {
		d := p.poll
		steadyDue, steadyReq, steadyOK := 0, 0, true
		for _, s := range d.steady {
			steadyDue, steadyReq = max(steadyDue, s.due), max(steadyReq, s.requests)
			if s.due != dayOpen {
				steadyOK = false
			}
		}
		ok := d.offCeil == 0 && p.trak.offCeil == 0 && steadyOK &&
			d.first.due == dayDocuments && d.at24h.due == dayDocuments
		rows = append(rows, row{
			what: fmt.Sprintf("upstream requests per round, 1,000 documents (200 open, 800 closed), batch %d", d.batch),
			measured: fmt.Sprintf("first round %d due → %d requests; %d later rounds %d due → %d requests each; round at 24 h %d due → %d; rounds off ceil(due/batch): %d of %d",
				d.first.due, d.first.requests, len(d.steady), steadyDue, steadyReq, d.at24h.due, d.at24h.requests,
				d.offCeil+p.trak.offCeil, d.rounds+1+p.trak.rounds+1+p.trak.notifications),
			target: "exactly ceil(due/batch); closed documents not due until 24 h",
			ok:     okIf(ok),
		})
		ratio := float64(steadyDue) / float64(max(steadyReq, 1))
		rows = append(rows, row{
			what:     fmt.Sprintf("requests per round against one-request-per-document polling, batch %d", d.batch),
			measured: fmt.Sprintf("%.0fx (%d open documents in %d requests)", ratio, steadyDue, steadyReq),
			target:   fmt.Sprintf("= batch size (%d)", d.batch),
			ok:       okIf(ratio == float64(d.batch)),
		})
	}
	for _, p := range results {
		polled := float64(naivePerDay) / float64(p.poll.perDay)
		rows = append(rows, row{
			what: fmt.Sprintf("upstream requests per day, 1,000 documents (200 open, 800 closed), refresh 5m, batch %d", p.poll.batch),
			measured: fmt.Sprintf("%d requests in %d rounds = %.0fx fewer than %s",
				p.poll.perDay, p.poll.rounds, polled, thousands(naivePerDay)),
			target: "≥ 250x fewer",
			ok:     okIf(polled >= 250),
		})
		t := p.trak
		trak := float64(naivePerDay) / float64(t.perDay)
		rows = append(rows, row{
			what: fmt.Sprintf("the same with DocumentTRAK, hourly reconciliation, %d notifications a day, batch %d", t.notifications, t.batch),
			measured: fmt.Sprintf("%d requests (%d in %d hourly rounds + %d for notifications, %d/%d seen at once) = %.0fx fewer; polling alone %.0fx",
				t.perDay, t.perDay-t.urgentReqs, t.rounds, t.urgentReqs, t.notified, t.notifications, trak, polled),
			target: "≥ 1000x fewer",
			ok:     okIf(trak >= 1000 && t.notified == t.notifications),
		})
	}
	return rows, nil
}

// thousands formats n with commas.
func thousands(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
