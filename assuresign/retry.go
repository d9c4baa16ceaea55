package assuresign

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Retrier is how every AssureSign client retries: a transient failure is
// tried again after an exponential wait with equal jitter (half fixed, half
// random, so clients spread out yet never retry at once) that honours a
// server's Retry-After in full, while retries remain and the caller's
// deadline leaves time for the wait.
type Retrier struct {
	retries   int
	base, max time.Duration
	observe   func(operation, outcome string, d time.Duration)
	logger    *slog.Logger
}

// NewRetrier returns a Retrier making up to retries retries (3 when 0, none
// when negative) after waits from base (500 ms when 0) up to maxWait (10 s
// when 0). observe, when set, sees every attempt; logger, when set, every
// retry.
func NewRetrier(retries int, base, maxWait time.Duration, observe func(operation, outcome string, d time.Duration), logger *slog.Logger) *Retrier {
	switch {
	case retries == 0:
		retries = 3
	case retries < 0:
		retries = 0
	}
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	if maxWait <= 0 {
		maxWait = 10 * time.Second
	}
	if observe == nil {
		observe = func(string, string, time.Duration) {}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Retrier{retries: retries, base: base, max: maxWait, observe: observe, logger: logger}
}

// Do runs attempt until it succeeds or fails for good, observing each attempt
// under operation (name is the one logs give). The error it returns went
// through CleanError with redact.
func (r *Retrier) Do(ctx context.Context, operation, name string, redact func(string) string, attempt func(context.Context) error) error {
	for n := 0; ; n++ {
		start := time.Now()
		err := attempt(ctx)
		r.observe(operation, Outcome(err), time.Since(start))
		if err == nil {
			return nil
		}
		err = cleanError(err, redact)
		var e *Error
		if !errors.As(err, &e) || !e.Retryable() || n >= r.retries || ctx.Err() != nil {
			return err
		}
		wait := r.backoff(n, e.RetryAfter)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return err // the retry could not finish in time
		}
		r.logger.Debug("retrying "+name, "err", err, "attempt", n+1, "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// backoff is the wait before retry number attempt+1; a server's retryAfter
// is its least, and the caller's deadline bounds it.
func (r *Retrier) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := r.max
	// Compare before shifting: base<<attempt overflows for large attempts.
	if attempt < 62 && r.base <= r.max>>attempt {
		d = r.base << attempt
	}
	return max(d/2+rand.N(d/2+1), retryAfter) //nolint:gosec // G404: jitter, not a secret
}
