package testenv

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// CheckStatusPath is the CheckStatus endpoint's path on AssureSign and on the simulator.
const CheckStatusPath = "/Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text"

// StartTimeout bounds the wait for a started binary to listen.
const StartTimeout = 60 * time.Second

// ExporterOptions say how to run the exporter; the zero value runs the normal
// build, waits for it to listen and expects plain HTTP.
type ExporterOptions struct {
	// Env is added to the environment: this process's, less its ASSURESIGN_*,
	// GORACE and TMPDIR variables, with TMPDIR a new temporary directory of
	// the test (--demo writes its watch file there) unless Env sets it.
	Env []string
	// Race runs the -race build, with GORACE=halt_on_error=0 so that every
	// race is reported.
	Race bool
	// TLS says the main listener serves HTTPS: URL starts with https.
	TLS bool
	// NoWait returns at once instead of waiting for the main listener: for
	// a run expected to fail.
	NoWait bool
}

// Exporter is a running exporter binary.
type Exporter struct {
	*Process
	Addr string // the main listener's host:port
	URL  string // the main listener's base URL
}

// Start runs the exporter binary with args, as o says. At cleanup it stops
// the exporter with SIGTERM, and fails the test if that took more than 10s.
func (o ExporterOptions) Start(t testing.TB, args ...string) *Exporter {
	t.Helper()
	var flags []string
	if o.Race {
		flags = append(flags, "-race")
	}
	cmd := exec.Command(BuildBinary(t, ExporterPkg, flags...), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ASSURESIGN_") && !strings.HasPrefix(kv, "GORACE=") && !strings.HasPrefix(kv, "TMPDIR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TMPDIR="+t.TempDir())
	if o.Race {
		cmd.Env = append(cmd.Env, "GORACE=halt_on_error=0")
	}
	cmd.Env = append(cmd.Env, o.Env...) // later values win
	e := &Exporter{Process: Start(t, cmd)}
	t.Cleanup(func() {
		if !e.Stop(10 * time.Second) {
			t.Errorf("the exporter ignored SIGTERM for 10s; killed it")
		}
	})
	if o.NoWait {
		return e
	}
	webhook := "" // the webhook's own listener, if any, also logs "Listening on"
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--webhook.listen-address="); ok {
			webhook = v
		}
	}
	Eventually(t, StartTimeout, "the exporter to listen", func() (bool, string) {
		exited := !e.Alive()
		for _, m := range ExporterListening.FindAllStringSubmatch(e.Output.String(), -1) {
			if m[1] != webhook {
				e.Addr = m[1]
				return true, ""
			}
		}
		if exited {
			t.Fatalf("the exporter exited (%v) before listening", e.Cmd.ProcessState)
		}
		return false, "no \"Listening on\" line yet"
	})
	e.URL = "http://" + e.Addr
	if o.TLS {
		e.URL = "https://" + e.Addr
	}
	return e
}

// Do sends a request to the main listener with Client and returns the
// answer and its whole body; it fails t if there is no answer.
func (e *Exporter) Do(t testing.TB, method, path string, header http.Header, body string) (*http.Response, string) {
	t.Helper()
	res, out, err := Fetch(nil, method, e.URL+path, header, []byte(body))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return res, string(out)
}

// Get sends GET path to the main listener and returns the status and body.
func (e *Exporter) Get(t testing.TB, path string) (int, string) {
	t.Helper()
	res, body := e.Do(t, http.MethodGet, path, nil, "")
	return res.StatusCode, body
}

// Metrics scrapes /metrics as Prometheus would and returns the text and its
// samples; it fails t unless the answer is a 200 that parses.
func (e *Exporter) Metrics(t testing.TB) (string, *Exposition) {
	t.Helper()
	code, body := e.Get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %.2000s", code, body)
	}
	x, err := ParseExposition(body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return body, x
}

// Simulator is a running assuresign-simulator binary.
type Simulator struct {
	*Process
	Addr string // host:port
	URL  string // base URL
}

// StartSimulator runs the simulator binary with args (built once per test
// process) and waits until it listens.
func StartSimulator(t testing.TB, args ...string) *Simulator {
	t.Helper()
	s := &Simulator{Process: Start(t, exec.Command(BuildBinary(t, SimulatorPkg), args...))}
	s.Addr = s.WaitOutput(t, SimulatorListening, StartTimeout)[1]
	s.URL = "http://" + s.Addr
	return s
}

// Endpoint is the CheckStatus URL to give the exporter.
func (s *Simulator) Endpoint() string { return s.URL + CheckStatusPath }
