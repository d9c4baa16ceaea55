package fanout

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestEachBoundsConcurrency(t *testing.T) {
	var running, most, calls atomic.Int32
	Each(context.Background(), 20, 3, func(context.Context, int) {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(5 * time.Millisecond)
		running.Add(-1)
		calls.Add(1)
	})
	assert.Equal(t, int32(20), calls.Load())
	assert.Equal(t, int32(3), most.Load())
}

func TestEachStopsStartingWhenCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	Each(ctx, 10, 1, func(context.Context, int) {
		if calls.Add(1) == 2 {
			cancel()
		}
	})
	assert.Equal(t, int32(2), calls.Load())
}

func TestEachWithoutLimitStillRuns(t *testing.T) {
	var calls atomic.Int32
	Each(context.Background(), 4, 0, func(context.Context, int) { calls.Add(1) })
	assert.Equal(t, int32(4), calls.Load())
}
