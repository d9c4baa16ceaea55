//go:build unix

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// TestMain removes the binaries the tests built (see testenv.BuildBinary).
func TestMain(m *testing.M) { testenv.Main(m) }

// requireTools returns the paths of the external tools, or skips the test
// (fails it when CI=true) if one is missing.
func requireTools(t *testing.T, names ...string) map[string]string {
	t.Helper()
	paths := map[string]string{}
	var missing []string
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			missing = append(missing, n)
			continue
		}
		paths[n] = p
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("%s not found on PATH: install the Debian packages prometheus prometheus-alertmanager (apt-get install prometheus prometheus-alertmanager)",
			strings.Join(missing, ", "))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return paths
}

// moduleRoot is the directory holding go.mod (tests run in e2e/).
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	return root
}

// ---------------------------------------------------------------- waiting

// eventually is testenv.EventuallyEvery, failing at once if a process of the
// stack died.
func (s *stack) eventually(t *testing.T, timeout, interval time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	return testenv.EventuallyEvery(t, timeout, interval, what, func() (bool, string) {
		done, msg := cond()
		if !done {
			s.checkAlive(t, msg)
		}
		return done, msg
	})
}

// checkAlive fails t if a process of the stack exited without being stopped.
func (s *stack) checkAlive(t *testing.T, last string) {
	t.Helper()
	for _, p := range s.procs {
		if err := p.Died(); err != nil {
			t.Fatalf("%v (last: %s)", err, last)
		}
	}
}

// ---------------------------------------------------------------- HTTP

func httpGet(rawURL string) (int, []byte, error) {
	res, body, err := testenv.Fetch(nil, http.MethodGet, rawURL, nil, nil)
	if err != nil {
		return 0, nil, err
	}
	return res.StatusCode, body, nil
}

// getJSON GETs rawURL and decodes a 200 answer into v.
func getJSON(rawURL string, v any) error {
	code, body, err := httpGet(rawURL)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %s", rawURL, code, bytes.TrimSpace(body))
	}
	return json.Unmarshal(body, v)
}

// notify POSTs a DocumentTRAK notification about document id to the
// exporter at baseURL, with the bearer token, and requires a 202.
func notify(t *testing.T, baseURL, id string) {
	t.Helper()
	res, body, err := testenv.Fetch(nil, http.MethodPost, baseURL+"/webhooks/documenttrak",
		http.Header{"Authorization": {"Bearer " + webhookToken}, "Content-Type": {"application/json"}}, []byte(`{"documentId":"`+id+`"}`))
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, res.StatusCode, "webhook notification: %s", body)
}

// ---------------------------------------------------------------- Prometheus API

// sample is one series of a vector or matrix result.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`  // [ts, "v"] (vector)
	Values [][]any           `json:"values"` // matrix
}

// value is the sample's value (the last one of a matrix series).
func (s sample) value() float64 {
	v := s.Value
	if len(s.Values) > 0 {
		v = s.Values[len(s.Values)-1]
	}
	if len(v) != 2 {
		return math.NaN()
	}
	str, _ := v[1].(string)
	f, err := strconv.ParseFloat(str, 64) // also reads NaN, +Inf, -Inf
	if err != nil {
		return math.NaN()
	}
	return f
}

// promAPIError is an answer of Prometheus with status "error": the query was rejected.
type promAPIError struct {
	code      int
	errorType string
	msg       string
}

func (e *promAPIError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.code, e.errorType, e.msg)
}

type prometheusAPI struct{ base string }

// call GETs a /api/v1 endpoint and decodes its data.
func (p prometheusAPI) call(path string, params url.Values, data any) error {
	u := p.base + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	code, body, err := httpGet(u)
	if err != nil {
		return err
	}
	var env struct {
		Status    string          `json:"status"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("GET %s: HTTP %d, not JSON: %.200s", u, code, body)
	}
	if env.Status != "success" {
		return &promAPIError{code: code, errorType: env.ErrorType, msg: env.Error}
	}
	return json.Unmarshal(env.Data, data)
}

// query runs an instant query (vector or scalar result).
func (p prometheusAPI) query(expr string) ([]sample, error) {
	return p.result("/api/v1/query", url.Values{"query": {expr}})
}

// queryRange runs a range query.
func (p prometheusAPI) queryRange(expr string, start, end time.Time, step time.Duration) ([]sample, error) {
	return p.result("/api/v1/query_range", url.Values{
		"query": {expr},
		"start": {fmt.Sprintf("%.3f", float64(start.UnixMilli())/1000)},
		"end":   {fmt.Sprintf("%.3f", float64(end.UnixMilli())/1000)},
		"step":  {fmt.Sprint(step.Seconds())},
	})
}

func (p prometheusAPI) result(path string, params url.Values) ([]sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.call(path, params, &data); err != nil {
		return nil, err
	}
	switch data.ResultType {
	case "vector", "matrix":
		var out []sample
		err := json.Unmarshal(data.Result, &out)
		return out, err
	case "scalar":
		var v []any
		if err := json.Unmarshal(data.Result, &v); err != nil {
			return nil, err
		}
		return []sample{{Metric: map[string]string{}, Value: v}}, nil
	default:
		return nil, fmt.Errorf("result type %q", data.ResultType)
	}
}

// promAlert is an alert of GET /api/v1/alerts.
type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"` // pending, firing
	ActiveAt    time.Time         `json:"activeAt"`
	// KeepFiringSince is set while the alert fires by keep_firing_for only.
	KeepFiringSince *time.Time `json:"keepFiringSince"`
	Value           string     `json:"value"` // the expression's value, e.g. "4e+00"
}

func (p prometheusAPI) alerts() ([]promAlert, error) {
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	err := p.call("/api/v1/alerts", nil, &data)
	return data.Alerts, err
}

// amAlert is an alert of Alertmanager's GET /api/v2/alerts.
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

func amAlerts(base string) ([]amAlert, error) {
	var out []amAlert
	err := getJSON(base+"/api/v2/alerts", &out)
	return out, err
}

// webhookSink receives Alertmanager's webhook notifications.
type webhookSink struct {
	mu  sync.Mutex
	got []receivedAlert
}

type receivedAlert struct {
	at     time.Time
	status string
	labels map[string]string
}

func (s *webhookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var msg struct {
		Alerts []struct {
			Status string            `json:"status"`
			Labels map[string]string `json:"labels"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	s.mu.Lock()
	for _, a := range msg.Alerts {
		s.got = append(s.got, receivedAlert{at: now, status: a.Status, labels: a.Labels})
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// find returns the first notified alert with all of labels.
func (s *webhookSink) find(labels map[string]string) (receivedAlert, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.got {
		if hasLabels(a.labels, labels) {
			return a, true
		}
	}
	return receivedAlert{}, false
}

// matching returns every notified alert with all of labels, in order.
func (s *webhookSink) matching(labels map[string]string) []receivedAlert {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []receivedAlert
	for _, a := range s.got {
		if hasLabels(a.labels, labels) {
			out = append(out, a)
		}
	}
	return out
}

// hasLabels reports whether have holds every label of want with its value.
func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
