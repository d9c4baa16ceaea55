// Package fanout runs a bounded number of calls at once: the one copy of the
// semaphore and WaitGroup that batched requests and listings share.
package fanout

import (
	"context"
	"sync"
)

// Each calls f for every i in [0, n), at most limit at a time (at least one),
// and returns when all calls have returned. Calls not yet started when ctx
// ends are not made.
func Each(ctx context.Context, n, limit int, f func(ctx context.Context, i int)) {
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(ctx, i)
		}()
	}
	wg.Wait()
}
