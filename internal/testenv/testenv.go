// Package testenv holds what the tests of several packages need alike, so
// that each exists once:
//
//   - the one harness for running binaries: BuildBinary (once per test
//     process), Start (a child process stopped at cleanup, its output shown
//     when the test fails), ExporterOptions.Start (the
//     exporter, waited for until it listens, with its base URL), and
//     StartSimulator (the AssureSign simulator); Main is the TestMain of a
//     package that builds binaries, SkipShort the guard of its tests;
//   - the one wait, Eventually, on which WaitHTTP and Process.WaitOutput are
//     built; FreeAddr, Client and Fetch for loopback HTTP;
//   - the one secret scanner, Secrets;
//   - samples read as Prometheus reads them, with expfmt: ParseExposition,
//     Sample, ParseText; CheckOpenMetrics, a strict OpenMetrics check;
//   - SyncBuffer, a buffer a logger or a child process writes while the test
//     reads it, and Clock, a settable clock;
//   - WriteFile and ReplaceFile, the tests' file writers, and the fixtures
//     (DocA..., T0) the tests share.
//
// It is ordinary code, not a _test file, so that the tests of other packages
// (and tools/perf, for the clock) can import it.
package testenv

import (
	"bytes"
	"sync"
	"time"
)

// SyncBuffer is a bytes.Buffer that writers (a logger, a child process) and a
// reading test may use at once. The zero value is ready to use.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Clock is a settable clock, safe for concurrent use: hand its Now to code
// that takes a func() time.Time.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads t until Set moves it.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
