package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// scraper is the fastest client this machine allows, so that a scrape's time
// is the server's: it writes the request itself and reads the answer in
// large reads into one buffer it keeps, parsing only the header and the
// chunk sizes. Go's client reads a body in pieces of a few KiB (io.Discard
// copies 8 KiB at a time), which cost about a millisecond a scrape on both
// sides and hid the exporter's share of a gzip scrape in the client's.
type scraper struct {
	addr, path string
	keep       bool // one kept connection, or a new one each scrape
	conn       net.Conn
	buf        []byte
	dial       func(ctx context.Context, addr string) (net.Conn, error)
}

// scrapeReadSize is the scraper's read size: larger than what loopback
// delivers to one read, so each read takes all there is.
const scrapeReadSize = 4 << 20

func newScraper(addr, path string, keep bool) *scraper {
	var d net.Dialer
	dial := func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	return &scraper{addr: addr, path: path, keep: keep, buf: make([]byte, scrapeReadSize), dial: dial}
}

// scrapeResult is one scrape: its time to the first and to the last byte,
// the body's length as sent (gzipped or not, without chunk framing), the
// reads it took and its Content-Encoding.
type scrapeResult struct {
	last, first time.Duration
	body        int
	reads       int
	encoding    string
}

// Close closes the kept connection, if any.
func (s *scraper) Close() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// scrape sends one scrape, as Prometheus asks for it, and reads its answer
// to the last byte without keeping it.
func (s *scraper) scrape(ctx context.Context, gz bool) (res scrapeResult, err error) {
	req := "GET " + s.path + " HTTP/1.1\r\nHost: " + s.addr + "\r\nAccept: " + prometheusAccept + "\r\n"
	if gz {
		req += "Accept-Encoding: gzip\r\n"
	}
	if !s.keep {
		req += "Connection: close\r\n"
	}
	req += "\r\n"
	start := time.Now()
	if s.conn == nil {
		if s.conn, err = s.dial(ctx, s.addr); err != nil {
			return res, err
		}
	}
	defer func() {
		if err != nil || !s.keep {
			s.Close()
		}
	}()
	deadline := time.Now().Add(time.Minute)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := s.conn.SetDeadline(deadline); err != nil {
		return res, err
	}
	if _, err := s.conn.Write([]byte(req)); err != nil {
		return res, err
	}
	// have is s.buf[:n]: bytes read and not yet consumed start at off.
	n, off := 0, 0
	read := func() error {
		if off > 0 { // keep what is unconsumed (a header, a chunk-size line) at the start
			n = copy(s.buf, s.buf[off:n])
			off = 0
		}
		if n == len(s.buf) {
			return errors.New("a header or chunk-size line longer than the read buffer")
		}
		m, err := s.conn.Read(s.buf[n:])
		if m > 0 && res.reads == 0 {
			res.first = time.Since(start)
		}
		if m > 0 {
			res.reads++
		}
		n += m
		if err != nil && m == 0 {
			return err
		}
		return nil
	}
	// The header.
	var end int
	for end = bytes.Index(s.buf[:n], []byte("\r\n\r\n")); end < 0; end = bytes.Index(s.buf[:n], []byte("\r\n\r\n")) {
		if err := read(); err != nil {
			return res, fmt.Errorf("reading the header: %w", err)
		}
	}
	length, chunked, err := parseHeader(s.buf[:end], &res)
	if err != nil {
		return res, err
	}
	off = end + 4
	if !chunked {
		for n-off < length {
			res.body += n - off
			length -= n - off
			off = n
			if err := read(); err != nil {
				return res, fmt.Errorf("reading the body: %w", err)
			}
		}
		res.body += length
		off += length
	} else {
		for {
			// A chunk-size line, then its data and CRLF; size 0 ends the body.
			i := bytes.Index(s.buf[off:n], []byte("\r\n"))
			if i < 0 {
				if err := read(); err != nil {
					return res, fmt.Errorf("reading a chunk size: %w", err)
				}
				continue
			}
			line, _, _ := bytes.Cut(s.buf[off:off+i], []byte(";"))
			size, err := strconv.ParseUint(string(bytes.TrimSpace(line)), 16, 31)
			if err != nil {
				return res, fmt.Errorf("chunk size %q: %w", line, err)
			}
			off += i + 2
			if size == 0 {
				break
			}
			res.body += int(size)
			for skip := int(size) + 2; skip > 0; {
				k := min(skip, n-off)
				off, skip = off+k, skip-k
				if skip > 0 {
					if err := read(); err != nil {
						return res, fmt.Errorf("reading a chunk: %w", err)
					}
				}
			}
		}
		// No trailers: the empty line ends the body.
		for n-off < 2 {
			if err := read(); err != nil {
				return res, fmt.Errorf("reading the end of the body: %w", err)
			}
		}
		if !bytes.HasPrefix(s.buf[off:n], []byte("\r\n")) {
			return res, errors.New("trailers after a chunked body")
		}
		off += 2
	}
	res.last = time.Since(start)
	if n != off {
		return res, fmt.Errorf("%d bytes after the answer", n-off)
	}
	return res, nil
}

// parseHeader reads the status, the body's length or chunking and its
// encoding from a response header.
func parseHeader(h []byte, res *scrapeResult) (length int, chunked bool, err error) {
	lines := bytes.Split(h, []byte("\r\n"))
	if status := lines[0]; !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		return 0, false, fmt.Errorf("status %q", status)
	}
	length = -1
	for _, l := range lines[1:] {
		k, v, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("header line %q", l)
		}
		v = bytes.TrimSpace(v)
		switch string(bytes.ToLower(k)) {
		case "content-length":
			if length, err = strconv.Atoi(string(v)); err != nil {
				return 0, false, fmt.Errorf("Content-Length %q", v)
			}
		case "transfer-encoding":
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case "content-encoding":
			res.encoding = string(v)
		}
	}
	if !chunked && length < 0 {
		return 0, false, errors.New("neither Content-Length nor chunked")
	}
	return length, chunked, nil
}

// check makes sure a scrape was answered in the encoding asked for, with
// the length of the body fetched before (the exporter's own metrics are
// part of it, so only their digits may differ: a few bytes, never a
// different answer).
func (r scrapeResult) check(gz bool, want int) error {
	if got := r.encoding == "gzip"; got != gz {
		return fmt.Errorf("Content-Encoding %q", r.encoding)
	}
	if d := r.body - want; d < -want/100 || d > want/100 {
		return fmt.Errorf("%d bytes, not about %d", r.body, want)
	}
	return nil
}
