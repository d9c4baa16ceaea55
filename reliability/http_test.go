package reliability

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

const webhookPath = "/webhooks/documenttrak"

// rawRequest writes req on a new connection (ignoring write errors: the
// server may answer and close before all is sent) and reads the answer.
func rawRequest(t *testing.T, addr string, req []byte) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	go func() { _, _ = conn.Write(req) }()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, body
}

// webhookExporter starts a simulator and an exporter serving the webhook on
// its main listener, with the bearer token in a file.
func webhookExporter(t *testing.T, n int, flags map[string]string) (*exporter, *simulatorProc, []doc, string) {
	docs := newDocs(n, t.Name())
	dir, ctxPath, sim := newAccount(t, docs)
	token := "whk-" + testenv.RandomGUID()[:18] + "-secret"
	secrets.Add("webhook bearer token", token)
	tokenFile := filepath.Join(dir, "webhook-token")
	testenv.ReplaceFile(t, tokenFile, []byte(token+"\n"))
	watch := filepath.Join(dir, "watch.yml")
	testenv.ReplaceFile(t, watch, watchYAML(docs))
	f := map[string]string{"webhook.bearer-token-file": tokenFile}
	for k, v := range flags {
		f[k] = v
	}
	e := startExporter(t, exporterOpts{watchFile: watch, endpoint: sim.Endpoint(), contextFile: ctxPath, flags: f})
	testenv.Eventually(t, 20*time.Second, "the first round", func() (bool, string) { return statusesMatch(e.scrape(), docs) })
	return e, sim, docs, token
}

func TestHTTPLimits(t *testing.T) {
	t.Parallel()
	e, _, docs, token := webhookExporter(t, 3, nil)
	bearer := http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
	checks := &checker{t: t}
	check := checks.check

	// Headers: 64 KiB is the limit (Go allows 4 KiB of slack above MaxHeaderBytes).
	for _, path := range []string{"/metrics", webhookPath} {
		big := fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", path, strings.Repeat("a", 80<<10))
		res, _ := rawRequest(t, e.Addr, big)
		check("80 KiB header on "+path, res.StatusCode == http.StatusRequestHeaderFieldsTooLarge, "got %s, want 431", res.Status)
	}
	res, _, err := e.request(http.MethodGet, "/metrics", http.Header{"X-Big": {strings.Repeat("a", 60<<10)}}, nil)
	check("60 KiB header on /metrics", err == nil && res.StatusCode == 200, "got %v %v, want 200", res, err)

	// Bodies: the webhook takes 64 KiB at most.
	body := fmt.Appendf(nil, `{"DocumentID":%q,"pad":%q}`, docs[0].ID, strings.Repeat("x", 100<<10))
	res, _, err = e.request(http.MethodPost, webhookPath, bearer, body)
	check("100 KiB webhook body", err == nil && res.StatusCode == http.StatusRequestEntityTooLarge, "got %v %v, want 413", res, err)

	// Methods.
	for _, m := range []struct{ method, path string }{
		{http.MethodGet, "/-/reload"}, {http.MethodPut, "/-/reload"},
		{http.MethodGet, webhookPath}, {http.MethodPut, webhookPath}, {http.MethodDelete, webhookPath},
	} {
		res, _, err := e.request(m.method, m.path, bearer, nil)
		check(m.method+" "+m.path, err == nil && res.StatusCode == http.StatusMethodNotAllowed && res.Header.Get("Allow") == http.MethodPost,
			"got %v %v, want 405 with Allow: POST", res, err)
	}

	// The webhook's bearer token.
	note := []byte(fmt.Sprintf(`{"DocumentID":%q}`, docs[0].ID))
	wrong := "whk-wrong-" + testenv.RandomGUID()[:8]
	secrets.Add("a wrong webhook token", wrong)
	for _, c := range []struct {
		name   string
		header http.Header
		body   []byte
		want   int
	}{
		{"no token", http.Header{"Content-Type": {"application/json"}}, note, 401},
		{"wrong token", http.Header{"Authorization": {"Bearer " + wrong}}, note, 401},
		{"basic instead of bearer", http.Header{"Authorization": {"Basic " + token}}, note, 401},
		{"right token, garbage body", bearer, []byte("{{{"), 400},
		{"right token, no id", bearer, []byte(`{"other":1}`), 400},
		{"right token, unwatched id", bearer, fmt.Appendf(nil, `{"DocumentID":%q}`, newID()), 202},
		{"right token, watched id", bearer, note, 202},
	} {
		res, _, err := e.request(http.MethodPost, webhookPath, c.header, c.body)
		check("webhook "+c.name, err == nil && res.StatusCode == c.want, "got %v %v, want %d", res, err, c.want)
	}
	s := e.scrape()
	for result, want := range map[string]float64{"too_large": 1, "unauthorized": 3, "bad_request": 2, "unwatched": 1, "accepted": 1, "method_not_allowed": 3} {
		got := s.value(`assuresign_webhook_requests_total{result="` + result + `"}`)
		check("webhook counter "+result, got == want, "got %v, want %v", got, want)
	}
	Figures.Fact("HTTP limits (431, 413, 405, 401/400/202)", "%d checks, %d failed", checks.n, checks.failed)
}

// TestSlowClients opens slowloris connections (headers sent a byte at a time)
// on /metrics and the webhook, and slow-body webhook posts, then checks that
// scrapes go on unhindered and that the server cuts the slow-header
// connections at its 10s read-header timeout.
func TestSlowClients(t *testing.T) {
	t.Parallel()
	e, _, docs, token := webhookExporter(t, 3, nil)
	const perPath = 16
	type slowConn struct {
		start  time.Time
		closed time.Duration // when the server closed it; 0 if not yet
	}
	var (
		mu    sync.Mutex
		conns []*slowConn
		wg    sync.WaitGroup
		open  []net.Conn
	)
	done := make(chan struct{})
	drip := func(req []byte, slowHeaders bool) {
		c, err := net.Dial("tcp", e.Addr)
		if err != nil {
			t.Error(err)
			return
		}
		sc := &slowConn{start: time.Now()}
		mu.Lock()
		if slowHeaders {
			conns = append(conns, sc)
		}
		open = append(open, c)
		mu.Unlock()
		closed := make(chan struct{})
		wg.Go(func() { // reader: the server closing shows here
			_, _ = io.Copy(io.Discard, c)
			mu.Lock()
			sc.closed = time.Since(sc.start)
			mu.Unlock()
			close(closed)
		})
		wg.Go(func() {
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for i := 0; i < len(req); i++ {
				select {
				case <-done:
					return
				case <-closed:
					return
				case <-t.C:
				}
				if _, err := c.Write(req[i : i+1]); err != nil {
					return
				}
			}
		})
	}
	long := strings.Repeat("x", 200) // enough bytes to outlast the timeout at 5 bytes/s
	for range perPath {
		drip([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: "+long+"\r\n\r\n"), true)
		drip([]byte("POST "+webhookPath+" HTTP/1.1\r\nHost: x\r\nX-Slow: "+long+"\r\n\r\n"), true)
	}
	// Slow bodies: headers at once, then a body byte at a time.
	for range 4 {
		hdr := "POST " + webhookPath + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
		c, err := net.Dial("tcp", e.Addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte(hdr + "{")); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		open = append(open, c)
		mu.Unlock()
	}
	defer func() {
		close(done)
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()

	// Scrapes and notifications meanwhile, until every slow-header connection is cut.
	var lat []time.Duration
	failed := 0
	bearer := http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
	note := fmt.Appendf(nil, `{"DocumentID":%q}`, docs[0].ID)
	testenv.Eventually(t, 20*time.Second, "the server to cut every slowloris connection", func() (bool, string) {
		start := time.Now()
		code, _, err := e.get("/metrics")
		lat = append(lat, time.Since(start))
		if err != nil || code != 200 {
			failed++
		}
		if res, _, err := e.request(http.MethodPost, webhookPath, bearer, note); err != nil || res.StatusCode != 202 {
			failed++
		}
		mu.Lock()
		defer mu.Unlock()
		open := 0
		for _, c := range conns {
			if c.closed == 0 {
				open++
			}
		}
		return open == 0, fmt.Sprintf("%d of %d still open", open, len(conns))
	})
	if failed > 0 {
		t.Errorf("%d requests failed while slow clients were connected", failed)
	}
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	if p99 > 2*time.Second {
		t.Errorf("scrape p99 %s while slow clients were connected", p99)
	}
	mu.Lock()
	var cut []time.Duration
	for _, c := range conns {
		cut = append(cut, c.closed)
	}
	mu.Unlock()
	slices.Sort(cut)
	if cut[0] < 9*time.Second || cut[len(cut)-1] > 13*time.Second {
		t.Errorf("slowloris connections cut after %s to %s, want about the 10s read-header timeout", cut[0], cut[len(cut)-1])
	}
	Figures.Fact("slowloris", "%d slow-header conns (+4 slow bodies): cut after %.1f–%.1fs (read-header timeout 10s); %d scrapes+notifications meanwhile, %d failed, scrape p99 %s",
		len(cut), cut[0].Seconds(), cut[len(cut)-1].Seconds(), 2*len(lat), failed, ms(p99))
}
