package reliability

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// TestMain runs the tests (which build the binaries lazily, see binary),
// checks for leaked goroutines in this process and prints the figures table,
// always.
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
	Figures.Write(os.Stdout)
	testenv.RemoveBinaries()
	os.Exit(code)
}

// ---------------------------------------------------------------- binaries

// binaries are the binaries binary builds, by name.
var binaries = map[string]*struct {
	pkg   string
	flags []string
	timed sync.Once // times the build, for the figures
}{
	"exporter":      {pkg: testenv.ExporterPkg},
	"exporter-race": {pkg: testenv.ExporterPkg, flags: []string{"-race"}},
	"simulator":     {pkg: testenv.SimulatorPkg},
}

// binary builds (once) and returns the path of "exporter", "exporter-race"
// (built with -race) or "simulator".
func binary(t testing.TB, name string) string {
	t.Helper()
	b := binaries[name]
	b.timed.Do(func() {
		start := time.Now()
		defer func() { Figures.Fact("build time: "+name, "%.1fs", time.Since(start).Seconds()) }() // also if the build fails
		testenv.BuildBinary(t, b.pkg, b.flags...)
	})
	return testenv.BuildBinary(t, b.pkg, b.flags...)
}

// ---------------------------------------------------------------- secrets

// Every secret the suite hands the exporter is registered here; every output
// of the exporter is scanned for all of them.
var secrets = struct {
	sync.RWMutex
	guids map[string]string // hex digits only, lower case → label
	plain map[string]string // lower case → label
}{guids: map[string]string{}, plain: map[string]string{}}

func randomGUID() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rand.IntN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newID returns a random document id (not a secret).
func newID() string { return randomGUID() }

// secretGUID returns a new random GUID registered as a secret.
func secretGUID(label string) string {
	g := randomGUID()
	registerSecret(label, g)
	return g
}

// registerSecret adds a secret value: a GUID is matched with or without
// hyphens and in any case, anything else case-insensitively.
func registerSecret(label, v string) {
	secrets.Lock()
	defer secrets.Unlock()
	if h := hexOnly(v); len(h) == 32 {
		secrets.guids[h] = label
		return
	}
	secrets.plain[strings.ToLower(v)] = label
}

func hexOnly(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; isHex(c) {
			b.WriteByte(lower(c))
		} else if c != '-' {
			return ""
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// scanForSecrets returns a finding for each registered secret in data.
// Hyphens are ignored, so a GUID split or joined differently still matches.
func scanForSecrets(source string, data []byte) []string {
	secrets.RLock()
	defer secrets.RUnlock()
	var findings []string
	report := func(label string, at int) {
		lo, hi := max(at-60, 0), min(at+100, len(data))
		findings = append(findings, fmt.Sprintf("%s: %s in …%q…", source, label, data[lo:hi]))
	}
	// Runs of hex digits (hyphens skipped); every 32-digit window is looked up.
	run := make([]byte, 0, 64)
	pos := make([]int, 0, 64)
	flush := func() {
		for i := 0; i+32 <= len(run); i++ {
			if label, ok := secrets.guids[string(run[i:i+32])]; ok {
				report(label, pos[i])
			}
		}
		run, pos = run[:0], pos[:0]
	}
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case isHex(c):
			run = append(run, lower(c))
			pos = append(pos, i)
		case c == '-':
		default:
			flush()
		}
	}
	flush()
	if len(secrets.plain) > 0 {
		folded := bytes.ToLower(data)
		for s, label := range secrets.plain {
			if i := bytes.Index(folded, []byte(s)); i >= 0 {
				report(label, i)
			}
		}
	}
	return findings
}

// captureOutput scans one output of the exporter and records the figures.
func captureOutput(t testing.TB, source string, data []byte) {
	f := scanForSecrets(source, data)
	Figures.Scanned(len(data), f)
	for _, s := range f {
		t.Errorf("secret in output: %s", s)
	}
}

// ---------------------------------------------------------------- helpers

// eventually polls cond every 20ms until it holds or timeout passes; the
// detail of the last try goes in the failure.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	var detail string
	for {
		var ok bool
		ok, detail = cond()
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, detail)
		}
		time.Sleep(20 * time.Millisecond)
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
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
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

type simulatorProc struct {
	t        testing.TB
	dir      string
	ctxFile  string
	docsFile string
	addr     string
	base     string
	admin    *http.Client
	extra    []string
	proc     *testenv.Process // the running simulator: restart starts another
}

// startSimulator runs the simulator binary for the account whose
// ContextIdentifier is in ctxFile, holding docs.
func startSimulator(t testing.TB, ctxFile string, docs []doc, extra ...string) *simulatorProc {
	t.Helper()
	s := &simulatorProc{t: t, dir: t.TempDir(), ctxFile: ctxFile, admin: newClient(t, nil, 10*time.Second), extra: extra}
	s.docsFile = filepath.Join(s.dir, "docs.json")
	writeFile(t, s.docsFile, simJSON(docs))
	s.start("127.0.0.1:0")
	t.Cleanup(s.stop)
	return s
}

func (s *simulatorProc) start(listen string) {
	s.t.Helper()
	args := append([]string{"--listen", listen, "--context-file", s.ctxFile, "--documents", s.docsFile}, s.extra...)
	s.proc = testenv.Start(s.t, exec.Command(binary(s.t, "simulator"), args...))
	s.addr = s.proc.WaitOutput(s.t, testenv.SimulatorListening, 30*time.Second)[1]
	s.base = "http://" + s.addr
}

// stop ends the simulator (SIGTERM, then SIGKILL); it may be started again.
func (s *simulatorProc) stop() {
	if s.proc != nil {
		s.proc.Stop(5 * time.Second)
	}
}

// restart starts the simulator again on the same address, holding docs.
func (s *simulatorProc) restart(docs []doc) {
	s.t.Helper()
	s.stop()
	writeFile(s.t, s.docsFile, simJSON(docs))
	s.start(s.addr)
}

func (s *simulatorProc) endpoint() string {
	return s.base + "/Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text"
}

func (s *simulatorProc) do(method, path string, body []byte) []byte {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := s.admin.Do(req)
	if err != nil {
		s.t.Fatalf("simulator admin %s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
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
	t      testing.TB
	proc   *testenv.Process
	cmd    *exec.Cmd           // proc.Cmd
	log    *testenv.SyncBuffer // proc.Output: stdout and stderr
	addr   string
	base   string
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
	name := "exporter"
	if o.race {
		name = "exporter-race"
	}
	cmd := exec.Command(binary(t, name), args...)
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ASSURESIGN_") && !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "GORACE=halt_on_error=0")
	e := &exporter{t: t, proc: testenv.Start(t, cmd), opts: o}
	e.cmd, e.log = e.proc.Cmd, e.proc.Output
	t.Cleanup(func() { e.stop() })

	eventually(t, 60*time.Second, "the exporter to listen", func() (bool, string) {
		if !e.alive() {
			t.Fatalf("exporter exited early: %s\n%s", e.cmd.ProcessState, e.log)
		}
		for _, m := range testenv.ExporterListening.FindAllStringSubmatch(e.log.String(), -1) {
			if m[1] != o.webhookAddr {
				e.addr = m[1]
				return true, ""
			}
		}
		return false, e.log.String()
	})
	scheme := "http"
	if o.clientTLS != nil {
		scheme = "https"
	}
	e.base = scheme + "://" + e.addr
	e.client = newClient(t, o.clientTLS, 30*time.Second)
	return e
}

func (e *exporter) pid() int { return e.cmd.Process.Pid }

func (e *exporter) alive() bool {
	select {
	case <-e.proc.Exited():
		return false
	default:
		return true
	}
}

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
	if !e.proc.Stop(15 * time.Second) {
		e.t.Errorf("exporter did not stop within 15s of SIGTERM; killed it")
	}
	took := time.Since(start)
	captureOutput(e.t, "exporter log ("+e.t.Name()+")", []byte(e.log.String()))
	return took
}

// request sends one request to the main listener; the body is scanned for secrets.
func (e *exporter) request(method, path string, header http.Header, body []byte) (*http.Response, []byte, error) {
	return e.do(method, path, header, body, true)
}

func (e *exporter) do(method, path string, header http.Header, body []byte, scan bool) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, e.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if e.opts.user != "" && req.Header.Get("Authorization") == "" {
		req.SetBasicAuth(e.opts.user, e.opts.pass)
	}
	res, err := e.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if scan {
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

// scrapeScanned is scrape, with the secret scan optional: the load test polls
// 16 MB bodies and scans a few on purpose instead.
func (e *exporter) scrapeScanned(scan bool) *scrape {
	e.t.Helper()
	res, body, err := e.do(http.MethodGet, "/metrics", nil, nil, scan)
	if err != nil || res.StatusCode != http.StatusOK {
		e.t.Fatalf("scrape: %v %v\n%.2000s", res, err, body)
	}
	return parseScrape(body)
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
	series   map[string]float64
	statuses map[string]string // document id → status whose state-set sample is 1
	raw      []byte
}

func parseScrape(body []byte) *scrape {
	s := &scrape{series: map[string]float64{}, statuses: map[string]string{}, raw: body}
	for line := range strings.SplitSeq(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		key := line[:i]
		s.series[key] = v
		if rest, ok := strings.CutPrefix(key, `assuresign_document_status{document_id="`); ok && v == 1 {
			id, st, _ := strings.Cut(rest, `",status="`)
			s.statuses[id] = strings.TrimSuffix(st, `"}`)
		}
	}
	return s
}

func (s *scrape) value(key string) float64 {
	v, ok := s.series[key]
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
	return s.value(`assuresign_api_requests_total{result="` + result + `"}`)
}

func (s *scrape) reloadOK() float64 { return s.value("assuresign_watchlist_last_reload_successful") }

// hasDocument reports whether the document is on /metrics.
func (s *scrape) hasDocument(id string) bool {
	_, ok := s.series[`assuresign_document_info{document_id="`+id+`"}`]
	if ok {
		return true
	}
	return bytes.Contains(s.raw, []byte(`assuresign_document_info{document_id="`+id+`"`))
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

// contextFile writes a ContextIdentifier file holding a new secret.
func contextFile(t testing.TB, dir string) (path, value string) {
	value = secretGUID("exporter-wide ContextIdentifier")
	path = filepath.Join(dir, "context")
	writeFile(t, path, []byte(value+"\n"))
	return path, value
}
