package assuresign

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// observer records the Observe hook's calls.
type observer struct {
	mu         sync.Mutex
	operations []string
	outcomes   []string
	durs       []time.Duration
}

func (o *observer) observe(operation, outcome string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.operations = append(o.operations, operation)
	o.outcomes = append(o.outcomes, outcome)
	o.durs = append(o.durs, d)
}

// ops returns the operations observed, in order.
func (o *observer) ops() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.operations...)
}

func (o *observer) got() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.outcomes...)
}

type harness struct {
	c    *Client
	obs  *observer
	logs *testenv.SyncBuffer // the client may log from any goroutine
}

// newHarness builds a client with fast back-off, a debug-level text logger and
// an observer; mod may adjust the config.
func newHarness(t testing.TB, endpoint string, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{obs: &observer{}, logs: &testenv.SyncBuffer{}}
	cfg := Config{
		Endpoint:    endpoint,
		MaxRetries:  2,
		BaseBackoff: time.Millisecond,
		MaxBackoff:  5 * time.Millisecond,
		Logger:      slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Observe:     h.obs.observe,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	require.NoError(t, err)
	h.c = c
	return h
}

func writeXML(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// closedEndpoint returns a URL nothing listens on: connection refused.
func closedEndpoint(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr + "/CheckStatus/text"
}

// countingServer serves handler and counts requests. It reads the request body
// first, so the server notices (and cancels r.Context()) when a client hangs up.
func countingServer(t testing.TB, handler http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func threeChecks() []Check {
	return []Check{
		{ID: idA, AuthToken: "11111111-aaaa-4aaa-8aaa-111111111111", ContextIdentifier: "99999999-cccc-4ccc-8ccc-999999999999"},
		{ID: idB, AuthToken: "22222222-bbbb-4bbb-8bbb-222222222222", ContextIdentifier: "99999999-cccc-4ccc-8ccc-999999999999"},
		{ID: idC, AuthToken: "33333333-dddd-4ddd-8ddd-333333333333", ContextIdentifier: "99999999-cccc-4ccc-8ccc-999999999999"},
	}
}

// wireRequest reads a request by namespace and local name, as the service would.
type wireRequest struct {
	XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Body    struct {
		CheckStatus struct {
			Checks struct {
				Items []struct {
					XMLName           xml.Name `xml:"https://www.assuresign.net/Services/DocumentNOW/CheckStatus DocumentStatusCheck"`
					ContextIdentifier string   `xml:"ContextIdentifier,attr"`
					ID                string   `xml:"Id,attr"`
					AuthToken         string   `xml:"AuthToken,attr"`
				} `xml:"https://www.assuresign.net/Services/DocumentNOW/CheckStatus DocumentStatusCheck"`
			} `xml:"https://www.assuresign.net/Services/DocumentNOW/CheckStatus DocumentStatusChecks"`
		} `xml:"https://www.assuresign.net/Services/DocumentNOW/CheckStatus CheckStatus"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

func decodeWire(t testing.TB, body []byte) []Check {
	t.Helper()
	var req wireRequest
	require.NoError(t, xml.Unmarshal(body, &req), "request body: %s", body)
	var out []Check
	for _, it := range req.Body.CheckStatus.Checks.Items {
		out = append(out, Check{ID: it.ID, AuthToken: it.AuthToken, ContextIdentifier: it.ContextIdentifier})
	}
	return out
}

func TestEncodeCheckStatusRequest(t *testing.T) {
	checks := threeChecks()
	checks[2].AuthToken = `odd&<"'>` + "\t\n" // escaping must round-trip through a real XML reader
	got := decodeWire(t, EncodeCheckStatusRequest(checks))
	assert.Equal(t, checks, got)

	assert.Empty(t, decodeWire(t, EncodeCheckStatusRequest(nil)))
}

// One POST carries every check; headers and body are what a .NET client sends.
func TestCheckStatusOnTheWire(t *testing.T) {
	type seen struct {
		method, contentType, action, path string
		checks                            []Check
	}
	got := make(chan seen, 1)
	// Answer out of order and with lower-case ids: matching is by Id, case-insensitively.
	answer := strings.NewReplacer(idA, strings.ToLower(idC), idC, strings.ToLower(idA)).Replace(string(fixture(t, "success_s_prefix.xml")))
	srv, n := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req wireRequest
		_ = xml.Unmarshal(body, &req)
		s := seen{method: r.Method, contentType: r.Header.Get("Content-Type"), action: r.Header.Get("SOAPAction"), path: r.URL.Path}
		for _, it := range req.Body.CheckStatus.Checks.Items {
			s.checks = append(s.checks, Check{ID: it.ID, AuthToken: it.AuthToken, ContextIdentifier: it.ContextIdentifier})
		}
		got <- s
		writeXML(w, http.StatusOK, []byte(answer))
	})
	h := newHarness(t, srv.URL+"/Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text", nil)

	checks := threeChecks()
	results, err := h.c.CheckStatus(context.Background(), checks)
	require.NoError(t, err)
	assert.Equal(t, int32(1), n.Load(), "one POST for the whole batch")

	s := <-got
	assert.Equal(t, http.MethodPost, s.method)
	assert.Equal(t, "text/xml; charset=utf-8", s.contentType)
	assert.Equal(t, `"https://www.assuresign.net/Services/DocumentNOW/CheckStatus/ICheckStatusService/CheckStatus"`, s.action)
	assert.Equal(t, "/Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text", s.path)
	assert.Equal(t, checks, s.checks)

	require.Len(t, results, 3)
	for i, r := range results {
		assert.Equal(t, checks[i].ID, r.ID, "results come back in request order")
		assert.NoError(t, r.Err)
	}
	assert.Equal(t, StatusCreated, results[0].Status) // the answer swapped A and C
	assert.Equal(t, StatusCompleted, results[1].Status)
	assert.Equal(t, StatusSigningStepInProgress, results[2].Status)
	assert.Equal(t, 3, results[2].Step)
	assert.Equal(t, []string{"ok"}, h.obs.got())
	assert.Equal(t, []string{OpCheckStatus}, h.obs.ops())
}

// transportRecorder notes how responses were framed.
type transportRecorder struct {
	mu  sync.Mutex
	te  []string
	len int64
}

func (tr *transportRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		tr.mu.Lock()
		tr.te, tr.len = res.TransferEncoding, res.ContentLength
		tr.mu.Unlock()
	}
	return res, err
}

// A chunked body (flushed mid-body, no Content-Length) starting with a BOM.
func TestCheckStatusChunkedWithBOM(t *testing.T) {
	body := fixture(t, "bom.xml")
	srv, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		_, _ = w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		time.Sleep(10 * time.Millisecond)
		_, _ = w.Write(body[len(body)/2:])
	})
	rec := &transportRecorder{}
	h := newHarness(t, srv.URL, func(c *Config) { c.HTTPClient = &http.Client{Transport: rec} })
	results, err := h.c.CheckStatus(context.Background(), threeChecks()[:1])
	require.NoError(t, err)
	require.Len(t, results, 1)
	assert.Equal(t, StatusExpired, results[0].Status)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.Equal(t, []string{"chunked"}, rec.te)
	assert.Equal(t, int64(-1), rec.len)
}

// A requested document with no result, or a nil one, gets KindMissingResult on
// its own; a result nobody asked about is dropped and logged.
func TestCheckStatusMissingAndUnaskedResults(t *testing.T) {
	const stranger = "DEADBEEF-0000-4000-8000-000000000000"
	answer := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><CheckStatusResponse xmlns="https://www.assuresign.net/Services/DocumentNOW/CheckStatus" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><DocumentStatusCheckResults>
<DocumentStatusCheckResult Id="` + idA + `" StatusType="Completed"/>
<DocumentStatusCheckResult Id="` + idB + `" i:nil="true"/>
<DocumentStatusCheckResult Id="` + strings.ToLower(stranger) + `" StatusType="Completed"/>
</DocumentStatusCheckResults></CheckStatusResponse></s:Body></s:Envelope>`
	srv, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) { writeXML(w, http.StatusOK, []byte(answer)) })
	h := newHarness(t, srv.URL, nil)

	results, err := h.c.CheckStatus(context.Background(), threeChecks())
	require.NoError(t, err, "missing results are not a batch error")
	require.Len(t, results, 3)
	assert.NoError(t, results[0].Err)
	assert.Equal(t, StatusCompleted, results[0].Status)
	for _, r := range results[1:] { // B was nil, C absent
		var e *Error
		require.True(t, errors.As(r.Err, &e), r.ID)
		assert.Equal(t, KindMissingResult, e.Kind)
		assert.Equal(t, "missing_result", Outcome(r.Err))
		assert.Equal(t, StatusUnknown, r.Status)
		assert.False(t, r.HasStatus())
	}
	assert.Equal(t, idB, results[1].ID)
	assert.Equal(t, idC, results[2].ID)
	logs := h.logs.String()
	assert.Contains(t, logs, "not asked about")
	assert.Contains(t, logs, "document_id="+stranger)
	assert.Contains(t, logs, "level=WARN")
	assert.Equal(t, []string{"ok"}, h.obs.got())
}

func TestCheckStatusSameDocumentTwice(t *testing.T) {
	srv, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
		writeXML(w, http.StatusOK, fixture(t, "success_s_prefix.xml"))
	})
	h := newHarness(t, srv.URL, nil)
	c := threeChecks()
	results, err := h.c.CheckStatus(context.Background(), []Check{c[0], {ID: " " + strings.ToLower(idA) + " "}})
	require.NoError(t, err)
	require.Len(t, results, 2)
	for _, r := range results {
		assert.NoError(t, r.Err)
		assert.Equal(t, idA, r.ID)
		assert.Equal(t, 3, r.Step)
	}
}

func TestCheckStatusNoChecksNoRequest(t *testing.T) {
	srv, n := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {})
	h := newHarness(t, srv.URL, nil)
	results, err := h.c.CheckStatus(context.Background(), nil)
	assert.NoError(t, err)
	assert.Empty(t, results)
	assert.Zero(t, n.Load())
	assert.Empty(t, h.obs.got())
}

func TestCheckStatusConcurrentUse(t *testing.T) {
	srv, n := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
		writeXML(w, http.StatusOK, fixture(t, "success_soap_prefix.xml"))
	})
	h := newHarness(t, srv.URL, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			results, err := h.c.CheckStatus(context.Background(), threeChecks())
			assert.NoError(t, err)
			assert.Len(t, results, 3)
		})
	}
	wg.Wait()
	assert.Equal(t, int32(8), n.Load())
}

// hijackShort announces a body longer than it sends, then hangs up.
func hijackShort(head string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		_, _ = buf.WriteString(head)
		_, _ = buf.Write(body)
		_ = buf.Flush()
	}
}

// Every failure kind, as an *Error with its Outcome; retryable ones are retried
// (MaxRetries 2: three attempts), the others are tried once.
func TestCheckStatusFailures(t *testing.T) {
	okBody := fixture(t, "success_s_prefix.xml")
	big := bytes.Repeat([]byte("<!-- padding -->"), 256) // 4 KiB
	type tc struct {
		name     string
		handler  http.HandlerFunc // nil: nothing listens
		ctxAfter time.Duration    // caller deadline; 0: none
		mod      func(*Config)
		kind     ErrorKind
		outcome  string
		status   int
		attempts int
		timeout  bool // retryable, yet tried once: the caller's deadline has passed
		check    func(t *testing.T, e *Error)
	}
	cases := []tc{
		{name: "connection refused", kind: KindTransport, outcome: "transport", attempts: 3},
		{
			name: "caller deadline on a slow server", ctxAfter: 150 * time.Millisecond,
			handler: func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			},
			kind: KindTimeout, outcome: "timeout", attempts: 1, timeout: true,
			check: func(t *testing.T, e *Error) { assert.ErrorIs(t, e, context.DeadlineExceeded) },
		},
		{
			name:    "HTTP 400",
			handler: func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "bad request", http.StatusBadRequest) },
			kind:    KindHTTPStatus, outcome: "http_4xx", status: 400, attempts: 1,
		},
		{
			name:    "HTTP 403",
			handler: func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "forbidden", http.StatusForbidden) },
			kind:    KindHTTPStatus, outcome: "http_4xx", status: 403, attempts: 1,
		},
		{
			name: "HTTP 404 with XML that is no fault",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				writeXML(w, http.StatusNotFound, []byte("<error>no such endpoint</error>"))
			},
			kind: KindHTTPStatus, outcome: "http_4xx", status: 404, attempts: 1,
			// The exporter logs and shows this text: it must point at the path.
			check: func(t *testing.T, e *Error) {
				assert.Equal(t, "assuresign: HTTP status 404: no endpoint at this path: the path of the endpoint URL is likely wrong", e.Error())
			},
		},
		{
			name: "HTTP 503 maintenance page",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write(fixture(t, "html_maintenance.xml"))
			},
			kind: KindHTTPStatus, outcome: "http_5xx", status: 503, attempts: 3,
		},
		{
			name: "HTTP 502 with a body over the limit",
			mod:  func(c *Config) { c.MaxBodyBytes = 1024 },
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusBadGateway)
				_, _ = w.Write(big)
			},
			kind: KindHTTPStatus, outcome: "http_5xx", status: 502, attempts: 3,
		},
		{
			name: "SOAP fault with HTTP 500",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				writeXML(w, http.StatusInternalServerError, fixture(t, "fault.xml"))
			},
			kind: KindSOAPFault, outcome: "soap_fault", status: 500, attempts: 1,
			check: func(t *testing.T, e *Error) {
				assert.Equal(t, "a:InternalServiceFault", e.FaultCode)
				assert.Equal(t, "The server was unable to process the request due to an internal error.", e.FaultString)
			},
		},
		{
			name:    "SOAP fault with HTTP 200",
			handler: func(w http.ResponseWriter, _ *http.Request) { writeXML(w, http.StatusOK, fixture(t, "fault.xml")) },
			kind:    KindSOAPFault, outcome: "soap_fault", status: 200, attempts: 1,
		},
		{
			name:    "malformed XML",
			handler: func(w http.ResponseWriter, _ *http.Request) { writeXML(w, http.StatusOK, fixture(t, "malformed.xml")) },
			kind:    KindMalformed, outcome: "malformed", attempts: 1,
		},
		{
			name: "HTML maintenance page with 200",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				_, _ = w.Write(fixture(t, "html_maintenance.xml"))
			},
			kind: KindContentType, outcome: "content_type", status: 200, attempts: 1,
			check: func(t *testing.T, e *Error) { assert.Contains(t, e.Error(), "text/html") },
		},
		{
			name:    "body over the limit, with Content-Length",
			mod:     func(c *Config) { c.MaxBodyBytes = 1024 },
			handler: func(w http.ResponseWriter, _ *http.Request) { writeXML(w, http.StatusOK, append(big, okBody...)) },
			kind:    KindTooLarge, outcome: "too_large", status: 200, attempts: 1,
		},
		{
			name: "body over the limit, chunked",
			mod:  func(c *Config) { c.MaxBodyBytes = 1024 },
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/xml")
				for range 8 {
					_, _ = w.Write(big[:512])
					w.(http.Flusher).Flush()
				}
			},
			kind: KindTooLarge, outcome: "too_large", status: 200, attempts: 1,
		},
		{
			name:    "body cut short of its Content-Length",
			handler: hijackShort("HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: 4096\r\n\r\n", okBody[:100]),
			kind:    KindTransport, outcome: "transport", attempts: 3,
		},
		{
			name:    "chunked body cut mid-chunk",
			handler: hijackShort("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n", okBody[:100]),
			kind:    KindTransport, outcome: "transport", attempts: 3,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			endpoint := closedEndpoint(t)
			var n *atomic.Int32
			if c.handler != nil {
				var srv *httptest.Server
				srv, n = countingServer(t, c.handler)
				endpoint = srv.URL
			}
			h := newHarness(t, endpoint, c.mod)
			ctx := context.Background()
			if c.ctxAfter > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.ctxAfter)
				defer cancel()
			}
			results, err := h.c.CheckStatus(ctx, threeChecks())
			assert.Nil(t, results)
			e := requireKind(t, err, c.kind, c.outcome)
			if c.status != 0 {
				assert.Equal(t, c.status, e.StatusCode)
			}
			assert.Equal(t, c.attempts > 1 || c.timeout, e.Retryable())
			if n != nil {
				assert.Equal(t, int32(c.attempts), n.Load(), "requests")
			}
			want := make([]string, c.attempts)
			for i := range want {
				want[i] = c.outcome
			}
			assert.Equal(t, want, h.obs.got(), "Observe once per attempt")
			if c.check != nil {
				c.check(t, e)
			}
		})
	}
}

func TestRetry5xxThenSuccess(t *testing.T) {
	var n atomic.Int32
	srv, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
		switch n.Add(1) {
		case 1:
			http.Error(w, "bad gateway", http.StatusBadGateway)
		case 2:
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
		default:
			writeXML(w, http.StatusOK, fixture(t, "success_s_prefix.xml"))
		}
	})
	h := newHarness(t, srv.URL, func(c *Config) { c.MaxRetries = 3 })
	results, err := h.c.CheckStatus(context.Background(), threeChecks())
	require.NoError(t, err)
	assert.Len(t, results, 3)
	assert.Equal(t, []string{"http_5xx", "http_5xx", "ok"}, h.obs.got())
	assert.Equal(t, 2, strings.Count(h.logs.String(), "retrying CheckStatus"))
}

func TestRetry429HonoursRetryAfter(t *testing.T) {
	var n atomic.Int32
	srv, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		writeXML(w, http.StatusOK, fixture(t, "success_s_prefix.xml"))
	})
	h := newHarness(t, srv.URL, nil) // back-off 1-5 ms: only Retry-After explains a 1 s wait
	start := time.Now()
	_, err := h.c.CheckStatus(context.Background(), threeChecks())
	elapsed := time.Since(start)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, elapsed, time.Second)
	assert.Less(t, elapsed, 3*time.Second)
	assert.Equal(t, []string{"http_429", "ok"}, h.obs.got())
}

// A per-attempt timeout (the HTTP client's) is retried; the caller's deadline still holds.
func TestRetryTimeoutThenSuccess(t *testing.T) {
	var n atomic.Int32
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		writeXML(w, http.StatusOK, fixture(t, "success_s_prefix.xml"))
	})
	h := newHarness(t, srv.URL, func(c *Config) { c.HTTPClient = &http.Client{Timeout: 500 * time.Millisecond} })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	results, err := h.c.CheckStatus(ctx, threeChecks())
	require.NoError(t, err)
	assert.Len(t, results, 3)
	assert.Equal(t, []string{"timeout", "ok"}, h.obs.got())
}

func TestRetriesExhausted(t *testing.T) {
	srv, n := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	h := newHarness(t, srv.URL, func(c *Config) { c.MaxRetries = 4 })
	_, err := h.c.CheckStatus(context.Background(), threeChecks())
	e := requireKind(t, err, KindHTTPStatus, "http_5xx")
	assert.Equal(t, 500, e.StatusCode)
	assert.Equal(t, int32(5), n.Load())
	assert.Len(t, h.obs.got(), 5)
}

func TestNoRetriesWhenNegative(t *testing.T) {
	srv, n := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	h := newHarness(t, srv.URL, func(c *Config) { c.MaxRetries = -1 })
	_, err := h.c.CheckStatus(context.Background(), threeChecks())
	requireKind(t, err, KindHTTPStatus, "http_5xx")
	assert.Equal(t, int32(1), n.Load())
}

// Back-off never outlives the caller's deadline: when the next wait cannot fit,
// the last error comes back at once instead of a timeout later.
func TestRetryStopsAtDeadline(t *testing.T) {
	for _, tc := range []struct {
		name        string
		mod         func(*Config)
		retryAfter  string
		ctx         time.Duration
		minAttempts int
		maxAttempts int
		maxElapsed  time.Duration
		mayTimeout  bool // the last attempt may start just before the deadline and time out
	}{
		// The first wait (2-4 s) cannot fit in 2 s: one attempt, back well before the deadline.
		{
			name: "back-off longer than deadline", mod: func(c *Config) { c.BaseBackoff, c.MaxBackoff = 4*time.Second, 8*time.Second },
			ctx: 2 * time.Second, minAttempts: 1, maxAttempts: 1, maxElapsed: 1500 * time.Millisecond,
		},
		{
			name: "Retry-After longer than deadline", retryAfter: "30",
			ctx: 2 * time.Second, minAttempts: 1, maxAttempts: 1, maxElapsed: 1500 * time.Millisecond,
		},
		// Waits of 20-80 ms: several attempts, then a stop by the deadline. Without
		// it, 100 retries would take seconds; the bound allows for a loaded machine.
		{
			name: "some retries fit", mod: func(c *Config) {
				c.MaxRetries, c.BaseBackoff, c.MaxBackoff = 100, 40*time.Millisecond, 80*time.Millisecond
			},
			ctx: 400 * time.Millisecond, minAttempts: 3, maxAttempts: 21, maxElapsed: 2 * time.Second, mayTimeout: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, n := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				http.Error(w, "unavailable", http.StatusServiceUnavailable)
			})
			h := newHarness(t, srv.URL, tc.mod)
			ctx, cancel := context.WithTimeout(context.Background(), tc.ctx)
			defer cancel()
			start := time.Now()
			_, err := h.c.CheckStatus(ctx, threeChecks())
			elapsed := time.Since(start)
			var e *Error
			require.True(t, errors.As(err, &e), "%T %v", err, err)
			if tc.mayTimeout && e.Kind == KindTimeout {
				assert.Equal(t, "timeout", Outcome(err))
			} else {
				requireKind(t, err, KindHTTPStatus, "http_5xx")
				assert.Equal(t, 503, e.StatusCode)
			}
			assert.Less(t, elapsed, tc.maxElapsed)
			got := int(n.Load())
			assert.GreaterOrEqual(t, got, tc.minAttempts)
			assert.LessOrEqual(t, got, tc.maxAttempts)
			assert.Len(t, h.obs.got(), got, "Observe once per attempt")
		})
	}
}

func TestBackoffBounds(t *testing.T) {
	c := NewRetrier(0, 100*time.Millisecond, 2*time.Second, nil, nil)
	for attempt := range 200 {
		want := min(100*time.Millisecond<<min(attempt, 30), 2*time.Second)
		for range 20 {
			d := c.backoff(attempt, 0)
			require.GreaterOrEqual(t, d, want/2, "attempt %d", attempt)
			require.LessOrEqual(t, d, want, "attempt %d", attempt)
		}
	}
	// Jitter spreads the waits.
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[c.backoff(3, 0)] = true
	}
	assert.Greater(t, len(seen), 10)
	// Retry-After is a floor, even beyond MaxBackoff.
	assert.Equal(t, time.Minute, c.backoff(0, time.Minute))
}

func TestRetryAfterHeader(t *testing.T) {
	assert.Zero(t, retryAfter(""))
	assert.Zero(t, retryAfter("soon"))
	assert.Zero(t, retryAfter("-5"))
	assert.Equal(t, 7*time.Second, retryAfter(" 7 "))
	assert.Equal(t, 86400*time.Second, retryAfter("99999999999"), "huge values are capped, not overflowed")
	assert.Zero(t, retryAfter(time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)))
	d := retryAfter(time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat))
	assert.InDelta(t, 30, d.Seconds(), 2)
}

func TestNewClient(t *testing.T) {
	c, err := NewClient(Config{})
	require.NoError(t, err)
	assert.Equal(t, DefaultEndpoint, c.Endpoint())
	assert.Equal(t, int64(DefaultMaxBodyBytes), c.maxBody)
	assert.Equal(t, 3, c.retrier.retries)

	for _, bad := range []string{"ftp://host/x", "not a url", "https://", "https://user:hunter2@host/x", "https://user:hunter2@host/%zz"} {
		_, err := NewClient(Config{Endpoint: bad})
		require.Error(t, err, bad)
		assert.NotContains(t, err.Error(), "hunter2")
	}
}

// ---- secrets ----

const (
	secretToken = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
	secretCtx   = "c0ffee00-1234-4abc-9def-0123456789ab"
	otherToken  = "bead5eed-7777-4888-9999-aaaabbbbcccc"
)

// secretForms are the fragments that must appear nowhere: each secret whole, in
// either case, without hyphens, and its first and last pieces (a truncation
// must not leave half of one behind).
func secretForms() []string {
	var out []string
	for _, s := range []string{secretToken, secretCtx, otherToken} {
		out = append(out, s, strings.ReplaceAll(s, "-", ""), s[:8], s[len(s)-12:])
	}
	return out
}

func assertNoSecret(t *testing.T, where, text string) {
	t.Helper()
	low := strings.ToLower(text)
	for _, f := range secretForms() {
		assert.NotContains(t, low, f, "%s leaks a secret: %s", where, text)
	}
}

// echo is text a hostile server builds from the request's secrets, in every
// shape: as sent, upper case, without hyphens, after non-ASCII text whose
// upper-casing changes its length, and padded so a 512-byte cut falls inside one.
func echo(s string) string {
	return "token " + s + " TOKEN " + strings.ToUpper(s) + " bare " + strings.ReplaceAll(s, "-", "") +
		" ſſſſıı " + strings.ToUpper(s) + " " + strings.Repeat("x", 400) + s + s + s
}

func TestSecretsNeverLeak(t *testing.T) {
	checks := []Check{
		{ID: idA, AuthToken: secretToken, ContextIdentifier: secretCtx},
		{ID: idB, AuthToken: otherToken, ContextIdentifier: secretCtx},
	}
	all := secretToken + " " + secretCtx + " " + otherToken
	fault := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			var b bytes.Buffer
			b.WriteString(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client.`)
			_ = xml.EscapeText(&b, []byte(strings.ToUpper(secretToken)))
			b.WriteString(`</faultcode><faultstring>`)
			// The first secret straddles the 512-byte cut.
			_ = xml.EscapeText(&b, []byte(strings.Repeat("x", 490)+secretToken+" Invalid AuthToken "+echo(secretToken)+" for context "+echo(secretCtx)+" and "+echo(otherToken)))
			b.WriteString(`</faultstring></s:Fault></s:Body></s:Envelope>`)
			writeXML(w, status, b.Bytes())
		}
	}
	echoingResults := func(w http.ResponseWriter, _ *http.Request) {
		var b bytes.Buffer
		b.WriteString(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><CheckStatusResponse xmlns="https://www.assuresign.net/Services/DocumentNOW/CheckStatus"><DocumentStatusCheckResults>`)
		b.WriteString(`<DocumentStatusCheckResult Id="` + idA + `" StatusType="` + secretToken + `" StatusDetails="Step 2 ` + secretCtx + `"><Exceptions>`)
		for _, sev := range []string{"Warning", "Error", "Fatal"} {
			b.WriteString(`<StatusCheckException Severity="` + sev + `">`)
			_ = xml.EscapeText(&b, []byte("AuthToken "+echo(secretToken)+" ContextIdentifier "+echo(secretCtx)))
			b.WriteString(`</StatusCheckException>`)
		}
		b.WriteString(`</Exceptions></DocumentStatusCheckResult>`)
		// A result for an "id" nobody asked about, that is really a secret: it is logged.
		b.WriteString(`<DocumentStatusCheckResult Id="` + secretToken + `" StatusType="Completed"/>`)
		b.WriteString(`<DocumentStatusCheckResult Id="` + strings.ReplaceAll(secretCtx, "-", "") + `" StatusType="Completed"/>`)
		b.WriteString(`</DocumentStatusCheckResults></CheckStatusResponse></s:Body></s:Envelope>`)
		writeXML(w, http.StatusOK, b.Bytes())
	}

	scenarios := []struct {
		name    string
		handler http.HandlerFunc
		ctx     time.Duration
		mod     func(*Config)
		ok      bool
	}{
		{name: "connection refused"},
		{name: "timeout", ctx: 100 * time.Millisecond, handler: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
		{name: "HTTP 400 echoing", handler: func(w http.ResponseWriter, _ *http.Request) { http.Error(w, all, http.StatusBadRequest) }},
		{name: "HTTP 429 echoing", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "0")
			http.Error(w, all, http.StatusTooManyRequests)
		}},
		{name: "HTTP 503 echoing", handler: func(w http.ResponseWriter, _ *http.Request) {
			writeXML(w, http.StatusServiceUnavailable, []byte("<x>"+all+"</x>"))
		}},
		{name: "SOAP fault 500 echoing", handler: fault(http.StatusInternalServerError)},
		{name: "SOAP fault 200 echoing", handler: fault(http.StatusOK)},
		{name: "malformed: secret as an entity", handler: func(w http.ResponseWriter, _ *http.Request) {
			writeXML(w, http.StatusOK, []byte("<CheckStatusResponse>&"+secretToken+";</CheckStatusResponse>"))
		}},
		{name: "malformed: secret as a closing tag", handler: func(w http.ResponseWriter, _ *http.Request) {
			writeXML(w, http.StatusOK, []byte("<CheckStatusResponse><x>"+strings.Repeat("y", 300)+"</"+secretCtx+">"))
		}},
		{name: "malformed: entity straddling the cut", handler: func(w http.ResponseWriter, _ *http.Request) {
			// The syntax error quotes the entity; the secret straddles the 256-byte cut.
			writeXML(w, http.StatusOK, []byte("<CheckStatusResponse>&x"+strings.Repeat("y", 185)+secretToken+";</CheckStatusResponse>"))
		}},
		{name: "content type echoing", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/"+secretToken)
			_, _ = w.Write([]byte(all))
		}},
		{name: "content type echoing at the cut", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/"+strings.Repeat("z", 230)+secretToken)
			_, _ = w.Write([]byte(all))
		}},
		{name: "too large", mod: func(c *Config) { c.MaxBodyBytes = 64 }, handler: func(w http.ResponseWriter, _ *http.Request) {
			writeXML(w, http.StatusOK, []byte(strings.Repeat(all, 10)))
		}},
		{name: "truncated", handler: hijackShort("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 4096\r\n\r\n", []byte(all))},
		{name: "results echoing", handler: echoingResults, ok: true},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			endpoint := closedEndpoint(t)
			var sent atomic.Bool
			if sc.handler != nil {
				srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
					body, _ := io.ReadAll(r.Body)
					if bytes.Contains(body, []byte(secretToken)) && bytes.Contains(body, []byte(secretCtx)) {
						sent.Store(true) // the secrets do go on the wire
					}
					sc.handler(w, r)
				})
				endpoint = srv.URL
			}
			h := newHarness(t, endpoint, sc.mod)
			ctx := context.Background()
			if sc.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, sc.ctx)
				defer cancel()
			}
			var (
				results []Result
				err     error
			)
			func() {
				defer func() {
					if p := recover(); p != nil {
						assertNoSecret(t, "panic", fmt.Sprint(p))
						t.Fatal("CheckStatus panicked")
					}
				}()
				results, err = h.c.CheckStatus(ctx, checks)
			}()
			if sc.handler != nil {
				assert.True(t, sent.Load(), "the request carried the secrets")
			}
			if sc.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
					assertNoSecret(t, "error "+verb, fmt.Sprintf(verb, err))
				}
				for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
					assertNoSecret(t, "wrapped error", fmt.Sprintf("%+v", u))
				}
			}
			for _, r := range results {
				assertNoSecret(t, "result", fmt.Sprintf("%+v", r))
				for _, ex := range r.Exceptions {
					assertNoSecret(t, "exception", ex.Message)
				}
			}
			logs := h.logs.String()
			assertNoSecret(t, "logs", logs)

			// The echoes were there and were redacted, not merely absent.
			switch sc.name {
			case "SOAP fault 500 echoing", "SOAP fault 200 echoing":
				var e *Error
				require.True(t, errors.As(err, &e))
				assert.Equal(t, KindSOAPFault, e.Kind)
				assert.Contains(t, e.FaultString, "<secret>")
				assert.Contains(t, e.FaultCode, "<secret>")
			case "results echoing":
				require.Len(t, results, 2)
				require.Len(t, results[0].Exceptions, 3)
				assert.Contains(t, results[0].Exceptions[0].Message, "<secret>")
				assert.Equal(t, 2, results[0].Step)
				assert.Equal(t, StatusUnknown, results[0].Status)
				var e *Error
				require.ErrorAs(t, results[1].Err, &e)
				assert.Equal(t, KindMissingResult, e.Kind)
				assert.Equal(t, 1, strings.Count(logs, "not asked about"), "one line for all unrequested results")
			}
		})
	}
}

func TestRedactor(t *testing.T) {
	r := NewRedactor(nil, secretToken, secretCtx, "abcdef", "defxyz")
	for _, in := range []string{
		"ſſſſ" + strings.ToUpper(secretToken), // the upper-cased text is shorter than the original
		"ıİ" + secretToken + "İı",             // and longer
		"\xff\xfe" + secretToken,              // invalid UTF-8 around a secret
		strings.ToUpper(strings.ReplaceAll(secretCtx, "-", "")),
	} {
		out := r.Redact(in)
		assertNoSecret(t, "redacted", out)
		assert.Contains(t, out, "<secret>")
	}
	// Overlapping secrets ("abcdef" and "defxyz" in "abcdefxyz") are both removed whole.
	assert.Equal(t, "<<secret>>", "<"+r.Redact("abcdefxyz")+">")
	assert.Equal(t, "nothing here", r.Redact("nothing here"))
	assert.Equal(t, "a <secret> b <secret>", r.Redact("a ABCDEF b abcdef"))
}

// A redirect is not followed: following it would send the batch's secrets
// again to wherever Location points.
func TestCheckStatusDoesNotFollowRedirects(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c, err := NewClient(Config{Endpoint: srv.URL, MaxRetries: -1})
	require.NoError(t, err)
	_, err = c.CheckStatus(context.Background(), []Check{{ID: "2CE11EF1-8938-DD11-8735-00065B8CE99B", AuthToken: "8CC9A84B-693C-46CC-4342-40A8215AD76A", ContextIdentifier: "06C4A84A-693C-46CB-8DF2-40A8215AA056"}})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, KindHTTPStatus, e.Kind)
	assert.Equal(t, http.StatusTemporaryRedirect, e.StatusCode)
	assert.Zero(t, elsewhere.Load(), "the redirect target was called")
}

// A fault that echoes the request cut inside a secret shows no piece of it of
// eight characters or more, wherever the cut falls and in whatever case.
func TestRedactsSecretFragments(t *testing.T) {
	secrets := testenv.NewSecrets(8, secretToken, secretCtx, otherToken)
	for _, cut := range []int{8, 12, 20, 27, 35} {
		srv, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
			body := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>` +
				`Bad request near AuthToken="` + strings.ToUpper(secretToken[:cut]) + `</faultstring></s:Fault></s:Body></s:Envelope>`
			writeXML(w, http.StatusInternalServerError, []byte(body))
		})
		h := newHarness(t, srv.URL, func(c *Config) { c.MaxRetries = -1 })
		_, err := h.c.CheckStatus(context.Background(), []Check{{ID: idA, AuthToken: secretToken, ContextIdentifier: secretCtx}})
		require.Error(t, err)
		secrets.AssertNone(t, fmt.Sprintf("error for a cut after %d characters", cut), err.Error())
		secrets.AssertNone(t, "logs", h.logs.String())
		assert.Contains(t, err.Error(), "<secret>", "the fragment was there and was redacted")
	}
	// A piece shorter than the fragment length is no secret on its own.
	assert.Equal(t, "x "+secretToken[:7]+" y", NewRedactor(nil, secretToken).Redact("x "+secretToken[:7]+" y"))
}

// Retry-After is honoured on 429 and 503 only: on a 400 it would hold every
// request back on the word of whatever answered.
func TestRetryAfterOnlyOn429And503(t *testing.T) {
	for status, want := range map[int]time.Duration{
		http.StatusBadRequest: 0, http.StatusInternalServerError: 0,
		http.StatusTooManyRequests: time.Hour, http.StatusServiceUnavailable: time.Hour,
	} {
		srv, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "3600")
			http.Error(w, "no", status)
		})
		h := newHarness(t, srv.URL, func(c *Config) { c.MaxRetries = -1 })
		_, err := h.c.CheckStatus(context.Background(), threeChecks())
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, want, e.RetryAfter, "HTTP %d", status)
	}
}
