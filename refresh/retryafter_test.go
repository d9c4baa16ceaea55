package refresh

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/internal/storetest"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/upstream/upstreamtest"
)

// A Retry-After longer than a request could wait holds every request back,
// scheduled and urgent, until it has passed; the documents stay due.
func TestRetryAfterHoldsRequestsBack(t *testing.T) {
	var (
		mu    sync.Mutex
		now   = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
		calls int
		limit = true
	)
	checker := upstreamtest.CheckFunc(func(_ context.Context, checks []assuresign.Check) ([]assuresign.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if limit {
			return nil, &assuresign.Error{Kind: assuresign.KindHTTPStatus, StatusCode: 429, RetryAfter: 10 * time.Minute}
		}
		out := make([]assuresign.Result, len(checks))
		for i, c := range checks {
			out[i] = assuresign.Result{ID: c.ID, RawStatus: "Created", Status: assuresign.StatusCreated}
		}
		return out, nil
	})
	store := collector.NewStore(collector.StoreConfig{})
	store.SetWatchList(storetest.WatchList(testenv.GUID(0x429, 1), testenv.GUID(0x429, 2), testenv.GUID(0x429, 3)))
	reg := prometheus.NewRegistry()
	metrics := NewMetrics(reg, store.Len, 5*time.Minute, false)
	r := NewRefresher(Config{Interval: 5 * time.Minute, TerminalInterval: 24 * time.Hour, BatchSize: 1, Concurrency: 1, Timeout: time.Second,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }},
		store, checker, metrics, slog.New(slog.DiscardHandler))
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	callCount := func() int { mu.Lock(); defer mu.Unlock(); return calls }

	stats := r.round(context.Background(), false)
	assert.Equal(t, 1, callCount(), "the batches after the 429 are not sent")
	assert.Equal(t, 1, stats.Requests)
	assert.Equal(t, 3, stats.Failed)
	assert.Equal(t, 0.0, testutil.ToFloat64(metrics.up))

	advance(5 * time.Minute)
	require.True(t, r.CheckNow(testenv.GUID(0x429, 1), now))
	r.round(context.Background(), true)
	r.round(context.Background(), false)
	assert.Equal(t, 1, callCount(), "no request while Retry-After lasts")
	assert.Len(t, storetest.DueChecks(store.Due(now, 0, false, 1, "")), 3, "the documents stay due")

	mu.Lock()
	limit = false
	mu.Unlock()
	advance(5*time.Minute + time.Second)
	stats = r.round(context.Background(), false)
	assert.Equal(t, 4, callCount())
	assert.Equal(t, 3, stats.Requests)
	assert.Zero(t, stats.Failed)
	assert.Equal(t, 1.0, testutil.ToFloat64(metrics.up))
	assert.Equal(t, "Created", statusOf(t, store, testenv.GUID(0x429, 2)).Status)
}
