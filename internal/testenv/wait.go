package testenv

import (
	"testing"
	"time"
)

// PollInterval is how often Eventually, and the waits built on it, look again.
const PollInterval = 20 * time.Millisecond

// Eventually calls cond every PollInterval until it reports done, and returns
// how long that took. cond's message says what it saw; at timeout Eventually
// fails t, naming what and the last message. cond may itself fail t to stop
// at once (a process that died, say). It is the one poll of the tests that
// run processes; every other wait of theirs is built on it.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (done bool, msg string)) time.Duration {
	t.Helper()
	return EventuallyEvery(t, timeout, PollInterval, what, cond)
}

// EventuallyEvery is Eventually, looking every interval: for a cond that
// costs its server something (a round of Prometheus queries).
func EventuallyEvery(t testing.TB, timeout, interval time.Duration, what string, cond func() (done bool, msg string)) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		done, msg := cond()
		if done {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, msg)
		}
		time.Sleep(interval)
	}
}

// SkipShort skips t under go test -short: for tests that build binaries or
// start servers such as Prometheus, which -short (make test-short) leaves out.
func SkipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: builds and runs binaries")
	}
}
