package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestScraperReadsLargeIntoItsBuffer checks the floor's client: every byte
// of the body counted (chunked as the exporter's gzip answer is, and with a
// length as its plain one is), in a handful of large reads into the one
// buffer it keeps, on a kept connection and on new ones.
func TestScraperReadsLargeIntoItsBuffer(t *testing.T) {
	body := bytes.Repeat([]byte("assuresign_document_info{document_id=\"x\"} 1\n"), 200_000) // 9 MB
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != prometheusAccept {
			http.Error(w, "not Prometheus's Accept", http.StatusBadRequest)
			return
		}
		if r.Header.Get("Accept-Encoding") == "gzip" {
			w.Header().Set("Content-Encoding", "gzip") // chunked: writes of 100 KB, no length
			for b := body; len(b) > 0; b = b[min(len(b), 100_000):] {
				_, _ = w.Write(b[:min(len(b), 100_000)])
				w.(http.Flusher).Flush()
			}
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	for _, keep := range []bool{true, false} {
		s := newScraper(addr, "/metrics", keep)
		var reads []int
		dial := s.dial
		s.dial = func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := dial(ctx, addr)
			return &readSizes{Conn: c, sizes: &reads}, err
		}
		buf := &s.buf[0]
		before := conns.Load()
		for range 3 {
			for _, gz := range []bool{true, false} {
				r, err := s.scrape(context.Background(), gz)
				if err != nil {
					t.Fatalf("keep %v, gzip %v: %v", keep, gz, err)
				}
				if err := r.check(gz, len(body)); err != nil || r.body != len(body) {
					t.Errorf("keep %v, gzip %v: %d body bytes, want %d (%v)", keep, gz, r.body, len(body), err)
				}
				// Go's client reads a body into 8 KiB (io.Discard) or 32 KiB (io.Copy).
				for _, n := range reads {
					if n < 1<<20 {
						t.Fatalf("keep %v, gzip %v: a read of %d bytes, want 1 MiB or more", keep, gz, n)
					}
				}
				if r.reads != len(reads) {
					t.Errorf("keep %v, gzip %v: %d reads counted, %d made", keep, gz, r.reads, len(reads))
				}
				reads = reads[:0]
				if r.first <= 0 || r.last < r.first {
					t.Errorf("keep %v, gzip %v: first byte %v, last %v", keep, gz, r.first, r.last)
				}
			}
		}
		if &s.buf[0] != buf {
			t.Errorf("keep %v: the read buffer was replaced", keep)
		}
		want := map[bool]int32{true: 1, false: 6}[keep]
		if got := conns.Load() - before; got != want {
			t.Errorf("keep %v: %d connections for 6 scrapes, want %d", keep, got, want)
		}
		s.Close()
	}
	s := newScraper(addr, "/metrics", true)
	defer s.Close()
	_, _ = s.scrape(context.Background(), false)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 5 {
		_, _ = s.scrape(context.Background(), false)
	}
	runtime.ReadMemStats(&after)
	// The server's allocations count too (the same process), but not a body's worth.
	if n := (after.TotalAlloc - before.TotalAlloc) / 5; n > uint64(len(body))/10 {
		t.Errorf("%d bytes allocated a scrape of %d: the body is read into the kept buffer", n, len(body))
	}
}

// readSizes records the size of every read asked of a connection.
type readSizes struct {
	net.Conn
	sizes *[]int
}

func (c *readSizes) Read(p []byte) (int, error) {
	*c.sizes = append(*c.sizes, len(p))
	return c.Conn.Read(p)
}

// TestCPUTimeIsFinerThanTicks checks that a scrape's CPU time, about a
// millisecond, is measured: /proc/PID/stat counts 10 ms ticks.
func TestCPUTimeIsFinerThanTicks(t *testing.T) {
	var grew []time.Duration
	within := 0
	for range 5 {
		before, err := cpuTime(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		for start := time.Now(); time.Since(start) < 3*time.Millisecond; {
		}
		// A thread's run time is brought up to date when it stops running,
		// as the exporter's threads do between scrapes.
		time.Sleep(2 * time.Millisecond)
		after, err := cpuTime(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		grew = append(grew, after-before)
		if d := after - before; d > 0 && d < 10*time.Millisecond {
			within++
		}
	}
	// On a loaded machine a try may be preempted or share its tick.
	if within < 3 {
		t.Errorf("CPU time over 3 ms of spinning, five tries: %v; want most between 0 and 10 ms", grew)
	}
}
