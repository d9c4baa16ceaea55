package fanout

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEachRunsEveryIndexOnce(t *testing.T) {
	const n = 50
	var seen [n]atomic.Int32
	Each(context.Background(), n, 4, func(_ context.Context, i int) { seen[i].Add(1) })
	for i := range seen {
		if got := seen[i].Load(); got != 1 {
			t.Errorf("index %d ran %d times, want 1", i, got)
		}
	}
}

func TestEachRunsAtMostLimitAtOnce(t *testing.T) {
	const limit = 3
	var running, peak atomic.Int32
	var mu sync.Mutex
	Each(context.Background(), 20, limit, func(context.Context, int) {
		now := running.Add(1)
		mu.Lock()
		if now > peak.Load() {
			peak.Store(now)
		}
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		running.Add(-1)
	})
	if got := peak.Load(); got != limit {
		t.Errorf("peak concurrency %d, want %d", got, limit)
	}
}

func TestEachWithoutALimitRunsOneAtATime(t *testing.T) {
	var running, peak atomic.Int32
	Each(context.Background(), 5, 0, func(context.Context, int) {
		if now := running.Add(1); now > peak.Load() {
			peak.Store(now)
		}
		time.Sleep(time.Millisecond)
		running.Add(-1)
	})
	if got := peak.Load(); got != 1 {
		t.Errorf("peak concurrency %d with limit 0, want 1", got)
	}
}

func TestEachPassesTheContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "round")
	Each(ctx, 2, 2, func(got context.Context, _ int) {
		if got.Value(key{}) != "round" {
			t.Error("f did not get the caller's context")
		}
	})
}
