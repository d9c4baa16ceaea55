package reliability

import (
	"bytes"
	"cmp"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// TestMain runs the tests (which build the binaries lazily, see
// testenv.BuildBinary), checks for leaked goroutines in this process and
// prints the figures table, always.
func TestMain(m *testing.M) {
	code := m.Run()
	closeClients()
	if err := goleak.Find(); err != nil {
		fmt.Println("goroutine leak in the test process:", err)
		Figures.Fact("goroutine leaks (test process, goleak)", "FOUND")
		code = max(code, 1)
	} else {
		Figures.Fact("goroutine leaks (test process, goleak)", "0")
	}
	if n := len(Figures.SecretFindings()); n > 0 {
		fmt.Printf("%d secret(s) found in the exporter's output\n", n)
		code = max(code, 1)
	}
	short := map[string]string{"assuresign_exporter": "exporter", "assuresign_exporter -race": "exporter-race", "assuresign-simulator": "simulator"}
	for name, took := range testenv.BuildTimes() {
		Figures.Fact("build time: "+cmp.Or(short[name], name), "%.1fs", took.Seconds())
	}
	Figures.Write(os.Stdout)
	testenv.RemoveBinaries()
	os.Exit(code)
}

// ---------------------------------------------------------------- secrets

// secrets holds every secret the suite hands the exporter; every output of
// the exporter is scanned for all of them. The suite scans hundreds of
// megabytes of random ids, so a fragment is 12 hex digits: with 8, chance
// matches would show up.
var secrets = testenv.NewSecrets(12)

// newID returns a random document id (not a secret).
func newID() string { return testenv.RandomGUID() }

// secretGUID returns a new random GUID registered as a secret.
func secretGUID(label string) string {
	g := testenv.RandomGUID()
	secrets.Add(label, g)
	return g
}

// captureOutput scans one output of the exporter and records the figures.
func captureOutput(t testing.TB, source string, data []byte) {
	f := secrets.Find(source, data)
	Figures.Scanned(len(data), f)
	for _, s := range f {
		t.Errorf("secret in output: %s", s)
	}
}

// ---------------------------------------------------------------- helpers

// checker counts checks, for the figures, and fails t for each that fails.
type checker struct {
	t         testing.TB
	n, failed int
}

func (c *checker) check(name string, ok bool, format string, args ...any) {
	c.t.Helper()
	c.n++
	if !ok {
		c.failed++
		c.t.Errorf("%s: "+format, append([]any{name}, args...)...)
	}
}

var clients struct {
	sync.Mutex
	list []*http.Client
}

// newClient returns an HTTP client whose idle connections are closed at the
// end of the test (and of the run, before goleak looks).
func newClient(t testing.TB, tlsConfig *tls.Config, timeout time.Duration) *http.Client {
	tr := &http.Transport{TLSClientConfig: tlsConfig, MaxIdleConnsPerHost: 64, DisableCompression: false}
	c := &http.Client{Transport: tr, Timeout: timeout}
	clients.Lock()
	clients.list = append(clients.list, c)
	clients.Unlock()
	if t != nil {
		t.Cleanup(c.CloseIdleConnections)
	}
	return c
}

func closeClients() {
	clients.Lock()
	defer clients.Unlock()
	for _, c := range clients.list {
		c.CloseIdleConnections()
	}
	testenv.Client.CloseIdleConnections()
}

// ---------------------------------------------------------------- documents

// doc is one document: on the simulated account and on the watch list.
type doc struct {
	ID, Token string
	Context   string // per-document ContextIdentifier in the watch file, or ""
	Status    string // upstream status
	Step      int
	Labels    map[string]string
}

func newDocs(n int, label string) []doc {
	statuses := []string{"Created", "SigningStepInProgress", "SignerAuthenticationFailed"}
	out := make([]doc, n)
	for i := range out {
		out[i] = doc{ID: newID(), Token: secretGUID(label + " AuthToken"), Status: statuses[i%len(statuses)]}
		if out[i].Status == "SigningStepInProgress" {
			out[i].Step = 1 + i%3
		}
	}
	return out
}

func watchYAML(docs []doc) []byte {
	var b bytes.Buffer
	b.WriteString("# reliability suite\ndocuments:\n")
	for _, d := range docs {
		fmt.Fprintf(&b, "  - id: %s\n    auth_token: %s\n", d.ID, d.Token)
		if d.Context != "" {
			fmt.Fprintf(&b, "    context_identifier: %s\n", d.Context)
		}
		if len(d.Labels) > 0 {
			b.WriteString("    labels:\n")
			keys := make([]string, 0, len(d.Labels))
			for k := range d.Labels {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(&b, "      %s: %q\n", k, d.Labels[k])
			}
		}
	}
	return b.Bytes()
}

type simJSONDoc struct {
	ID        string `json:"id"`
	AuthToken string `json:"auth_token"`
	Status    string `json:"status,omitempty"`
	Step      int    `json:"step,omitempty"`
}

func simJSON(docs []doc) []byte {
	out := make([]simJSONDoc, len(docs))
	for i, d := range docs {
		out[i] = simJSONDoc{ID: d.ID, AuthToken: d.Token, Status: d.Status, Step: d.Step}
	}
	b, _ := json.Marshal(out)
	return b
}

// ---------------------------------------------------------------- simulator

// simulatorProc is the simulator binary serving one account, with its admin API.
type simulatorProc struct {
	*testenv.Simulator // the running simulator: restart starts another
	t                  testing.TB
	ctxFile, docsFile  string
	admin              *http.Client
	extra              []string
}

// startSimulator runs the simulator binary for the account whose
// ContextIdentifier is in ctxFile, holding docs.
func startSimulator(t testing.TB, ctxFile string, docs []doc, extra ...string) *simulatorProc {
	t.Helper()
	s := &simulatorProc{t: t, ctxFile: ctxFile, admin: newClient(t, nil, 10*time.Second), extra: extra}
	s.docsFile = filepath.Join(t.TempDir(), "docs.json")
	testenv.ReplaceFile(t, s.docsFile, simJSON(docs))
	s.start("127.0.0.1:0")
	t.Cleanup(s.stop)
	return s
}

func (s *simulatorProc) start(listen string) {
	s.t.Helper()
	s.Simulator = testenv.StartSimulator(s.t, append([]string{"--listen", listen, "--context-file", s.ctxFile, "--documents", s.docsFile}, s.extra...)...)
}

// stop ends the simulator (SIGTERM, then SIGKILL); it may be started again.
func (s *simulatorProc) stop() { s.Stop(5 * time.Second) }

// restart starts the simulator again on the same address, holding docs.
func (s *simulatorProc) restart(docs []doc) {
	s.t.Helper()
	s.stop()
	testenv.ReplaceFile(s.t, s.docsFile, simJSON(docs))
	s.start(s.Addr)
}

func (s *simulatorProc) do(method, path string, body []byte) []byte {
	s.t.Helper()
	res, out, err := testenv.Fetch(s.admin, method, s.URL+path, http.Header{"Content-Type": {"application/json"}}, body)
	if err != nil {
		s.t.Fatalf("simulator admin %s %s: %v", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		s.t.Fatalf("simulator admin %s %s: %s: %s", method, path, res.Status, out)
	}
	return out
}

func (s *simulatorProc) fault(kind string, retryAfterSeconds int) {
	s.do(http.MethodPost, "/admin/fault", fmt.Appendf(nil, `{"kind":%q,"retry_after_seconds":%d,"times":0}`, kind, retryAfterSeconds))
}

func (s *simulatorProc) clearFault() { s.do(http.MethodDelete, "/admin/fault", nil) }

func (s *simulatorProc) latency(ms int) {
	s.do(http.MethodPost, "/admin/latency?ms="+strconv.Itoa(ms), nil)
}

func (s *simulatorProc) put(docs ...doc) { s.do(http.MethodPost, "/admin/documents", simJSON(docs)) }

func (s *simulatorProc) requests() int {
	var st struct {
		Requests int `json:"requests"`
	}
	if err := json.Unmarshal(s.do(http.MethodGet, "/admin/stats", nil), &st); err != nil {
		s.t.Fatal(err)
	}
	return st.Requests
}

// ---------------------------------------------------------------- exporter

type exporterOpts struct {
	watchFile   string
	endpoint    string
	contextFile string
	// flags override or add to the defaults; a "" value drops a default.
	flags map[string]string
	race  bool
	// webhookAddr is --webhook.listen-address, to tell the listeners apart.
	webhookAddr string
	// clientTLS, when set, makes the test's client speak TLS to the main listener.
	clientTLS  *tls.Config
	user, pass string // basic auth for the test's client
}

type exporter struct {
	*testenv.Exporter
	t      testing.TB
	client *http.Client
	opts   exporterOpts

	mu      sync.Mutex
	stopped bool
}

func startExporter(t testing.TB, o exporterOpts) *exporter {
	t.Helper()
	flags := map[string]string{
		"web.listen-address":                 "127.0.0.1:0",
		"watch.file":                         o.watchFile,
		"watch.poll-interval":                "1h",
		"assuresign.endpoint":                o.endpoint,
		"assuresign.context-identifier-file": o.contextFile,
		"refresh.interval":                   "1s",
		"refresh.terminal-interval":          "1s",
		"assuresign.timeout":                 "2s",
		"assuresign.max-retries":             "2",
		"log.level":                          "debug",
	}
	for k, v := range o.flags {
		flags[k] = v
	}
	if o.webhookAddr != "" {
		flags["webhook.listen-address"] = o.webhookAddr
	}
	var args []string
	for k, v := range flags {
		if v != "" {
			args = append(args, "--"+k+"="+v)
		}
	}
	slices.Sort(args)
	e := &exporter{t: t, opts: o, Exporter: testenv.ExporterOptions{Race: o.race, TLS: o.clientTLS != nil}.Start(t, args...)}
	t.Cleanup(func() { e.stop() })
	e.client = newClient(t, o.clientTLS, 30*time.Second)
	return e
}

func (e *exporter) pid() int { return e.Cmd.Process.Pid }

// stop sends SIGTERM and waits (killing after 15s); it returns how long the
// exporter took to exit. The log is scanned for secrets once.
func (e *exporter) stop() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return 0
	}
	e.stopped = true
	start := time.Now()
	if !e.Stop(15 * time.Second) {
		e.t.Errorf("exporter did not stop within 15s of SIGTERM; killed it")
	}
	took := time.Since(start)
	captureOutput(e.t, "exporter log ("+e.t.Name()+")", []byte(e.Output.String()))
	return took
}

// request sends one request to the main listener; the body is scanned for secrets.
func (e *exporter) request(method, path string, header http.Header, body []byte) (*http.Response, []byte, error) {
	return e.do(method, path, header, body, true)
}

func (e *exporter) do(method, path string, header http.Header, body []byte, scan bool) (*http.Response, []byte, error) {
	if e.opts.user != "" && header.Get("Authorization") == "" {
		header = header.Clone()
		if header == nil {
			header = http.Header{}
		}
		header.Set("Authorization", basicAuth(e.opts.user, e.opts.pass))
	}
	res, out, err := testenv.Fetch(e.client, method, e.URL+path, header, body)
	if err == nil && scan {
		captureOutput(e.t, method+" "+path+" ("+e.t.Name()+")", out)
	}
	return res, out, err
}

func (e *exporter) get(path string) (int, []byte, error) {
	res, body, err := e.do(http.MethodGet, path, nil, nil, true)
	if err != nil {
		return 0, nil, err
	}
	return res.StatusCode, body, nil
}

// scrape fetches and parses /metrics; it fails the test on any error.
func (e *exporter) scrape() *scrape {
	e.t.Helper()
	return e.scrapeScanned(true)
}

// scrapeScanned is scrape, with the secret scan optional (the load test
// polls 16 MB bodies and scans a few on purpose instead), and parsing only
// families when any are given.
func (e *exporter) scrapeScanned(scan bool, families ...string) *scrape {
	e.t.Helper()
	res, body, err := e.do(http.MethodGet, "/metrics", nil, nil, scan)
	if err != nil || res.StatusCode != http.StatusOK {
		e.t.Fatalf("scrape: %v %v\n%.2000s", res, err, body)
	}
	x, err := testenv.ParseExposition(string(body), families...)
	if err != nil {
		e.t.Fatalf("parsing /metrics: %v", err)
	}
	return &scrape{x: x, statuses: x.Statuses(), raw: body}
}

// reload asks for a reload over HTTP and returns the status and body.
func (e *exporter) reload() (int, string) {
	e.t.Helper()
	res, body, err := e.request(http.MethodPost, "/-/reload", nil, nil)
	if err != nil {
		e.t.Fatalf("POST /-/reload: %v", err)
	}
	return res.StatusCode, string(body)
}

// ---------------------------------------------------------------- /metrics

type scrape struct {
	x        *testenv.Exposition
	statuses map[string]string // document id → status whose state-set sample is 1
	raw      []byte
}

// value returns the sample of series as the text format writes it, or -1.
func (s *scrape) value(series string) float64 {
	v, ok := s.x.Value(series)
	if !ok {
		return -1
	}
	return v
}

func (s *scrape) up() float64 { return s.value("assuresign_up") }
func (s *scrape) lastSuccess() float64 {
	return s.value("assuresign_last_refresh_success_timestamp_seconds")
}
func (s *scrape) requests(result string) float64 {
	return s.value(`assuresign_api_requests_total{operation="check_status",result="` + result + `"}`)
}

func (s *scrape) reloadOK() float64 { return s.value("assuresign_watchlist_last_reload_successful") }

// hasDocument reports whether the document is on /metrics.
func (s *scrape) hasDocument(id string) bool {
	return s.x.Has("assuresign_document_info", map[string]string{"document_id": id})
}

// statusesMatch reports whether every doc shows its upstream status.
func statusesMatch(s *scrape, docs []doc) (bool, string) {
	for _, d := range docs {
		if got := s.statuses[d.ID]; got != d.Status {
			return false, fmt.Sprintf("%s is %q, want %q", d.ID, got, d.Status)
		}
	}
	return true, ""
}

// newAccount makes a directory holding a ContextIdentifier file (a new
// secret) and runs the simulator for that account, holding docs.
func newAccount(t testing.TB, docs []doc, simArgs ...string) (dir, ctxPath string, sim *simulatorProc) {
	t.Helper()
	dir = t.TempDir()
	ctxPath, _ = contextFile(t, dir)
	return dir, ctxPath, startSimulator(t, ctxPath, docs, simArgs...)
}

// contextFile writes a ContextIdentifier file holding a new secret.
func contextFile(t testing.TB, dir string) (path, value string) {
	value = secretGUID("exporter-wide ContextIdentifier")
	path = filepath.Join(dir, "context")
	testenv.ReplaceFile(t, path, []byte(value+"\n"))
	return path, value
}
