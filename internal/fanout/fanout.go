// Package fanout runs a bounded number of calls at once: the one copy of the
// semaphore-and-WaitGroup the refresh and --check both need.
package fanout

import (
	"context"
	"sync"
)

// Each runs f(ctx, i) for every i in [0, n), at most limit at a time (at
// least one), and returns when all have returned. It cancels nothing itself:
// f sees ctx and decides what a cancelled context means for its call.
func Each(ctx context.Context, n, limit int, f func(ctx context.Context, i int)) {
	if limit < 1 {
		limit = 1
	}
	slots := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			f(ctx, i)
		})
	}
	wg.Wait()
}
