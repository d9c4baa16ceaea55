package server

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// Callers of a reload that give up (an abandoned POST /-/reload) leave nothing
// behind, however long the reload takes; the loop goes on afterwards. Before
// the reloader honoured the caller's context, 50 abandoned calls left 50
// goroutines waiting.
func TestReloaderGivesUpWithItsCaller(t *testing.T) {
	release := make(chan struct{})
	var applied sync.WaitGroup
	applied.Add(1)
	calls := 0
	r := NewReloader(func() error {
		calls++
		if calls == 1 {
			applied.Done()
			<-release // the first reload hangs until released
		}
		return nil
	})
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { r.Run(ctx); close(ran) }()
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }); stop(); <-ran })

	first := make(chan error, 1)
	go func() { first <- r.Reload(context.Background()) }()
	applied.Wait()
	// Counted by goleak, which tells the test's goroutines from the
	// runtime's own (a count of all of them moves with the runtime's).
	before := goleak.IgnoreCurrent()

	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			reqCtx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
			defer cancel()
			assert.ErrorIs(t, r.Reload(reqCtx), context.DeadlineExceeded)
		})
	}
	wg.Wait()
	require.NoError(t, goleak.Find(before), "goroutines left by abandoned reloads")

	releaseOnce.Do(func() { close(release) })
	require.NoError(t, <-first)
	require.NoError(t, r.Reload(context.Background()), "the loop goes on")

	stop()
	<-ran
	err := r.Reload(context.Background())
	assert.True(t, errors.Is(err, context.Canceled), "after shutdown a reload says so: %v", err)
}
