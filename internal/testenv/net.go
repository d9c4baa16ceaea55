package testenv

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// Client talks to the processes the tests run, all on loopback: no proxy.
var Client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}}

// Fetch sends a request with c (Client when nil) and reads the whole answer,
// whose body it closes. header may be nil; body may be nil.
func Fetch(c *http.Client, method, url string, header http.Header, body []byte) (*http.Response, []byte, error) {
	if c == nil {
		c = Client
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	return res, out, err
}

// waitClient keeps no connection open between polls.
var waitClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// WaitHTTP polls GET url until it answers status, and fails the test if it
// has not within timeout. It keeps no connection open.
func WaitHTTP(t testing.TB, url string, status int, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, fmt.Sprintf("GET %s to answer %d", url, status), func() (bool, string) {
		res, body, err := Fetch(waitClient, http.MethodGet, url, nil, nil)
		if err != nil {
			return false, err.Error()
		}
		return res.StatusCode == status, fmt.Sprintf("%s %.512s", res.Status, bytes.TrimSpace(body))
	})
}
