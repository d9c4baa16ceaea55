package reliability

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// tlsFiles is a self-signed certificate for 127.0.0.1 and the web configs using it.
type tlsFiles struct {
	client        *tls.Config // trusts the certificate
	mainConfig    string      // TLS and basic auth
	webhookConfig string      // TLS only
	user, pass    string
}

func newTLSFiles(t *testing.T) *tlsFiles {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "assuresign-exporter reliability"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testenv.ReplaceFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	testenv.ReplaceFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)

	f := &tlsFiles{client: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, user: "prometheus"}
	f.pass = "pw-" + strings.ToLower(testenv.RandomGUID()[:13]) + "-basic"
	secrets.Add("basic-auth password", f.pass)
	hash, err := bcrypt.GenerateFromPassword([]byte(f.pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tlsBlock := fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n", certFile, keyFile)
	f.mainConfig = filepath.Join(dir, "web.yml")
	testenv.ReplaceFile(t, f.mainConfig, []byte(tlsBlock+fmt.Sprintf("basic_auth_users:\n  %s: %s\n", f.user, hash)))
	f.webhookConfig = filepath.Join(dir, "webhook-web.yml")
	testenv.ReplaceFile(t, f.webhookConfig, []byte(tlsBlock))
	return f
}

// webhookClient posts notifications over TLS with a bearer token only.
type webhookClient struct {
	t      *testing.T
	url    string
	client *http.Client
}

func (w *webhookClient) post(token string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := w.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	captureOutput(w.t, "webhook answer ("+w.t.Name()+")", out)
	return res.StatusCode, nil
}

// secureSetup starts an exporter with TLS and basic auth on the main
// listener and the webhook, TLS only, on its own listener.
type secureSetup struct {
	e        *exporter
	files    *tlsFiles
	webhook  *webhookClient
	token    string
	watch    string
	ctxPath  string
	docs     []doc
	hookAddr string
}

func startSecure(t *testing.T, endpoint, ctxPath string, docs []doc, flags map[string]string) *secureSetup {
	t.Helper()
	s := &secureSetup{files: newTLSFiles(t), docs: docs, ctxPath: ctxPath, hookAddr: testenv.FreeAddr(t)}
	dir := t.TempDir()
	s.token = "whk-" + strings.ToLower(testenv.RandomGUID()[:18]) + "-bearer"
	secrets.Add("webhook bearer token", s.token)
	tokenFile := filepath.Join(dir, "webhook-token")
	testenv.ReplaceFile(t, tokenFile, []byte(s.token+"\n"))
	s.watch = filepath.Join(dir, "watch.yml")
	testenv.ReplaceFile(t, s.watch, watchYAML(docs))
	f := map[string]string{
		"web.config.file":           s.files.mainConfig,
		"webhook.bearer-token-file": tokenFile,
		"webhook.web.config.file":   s.files.webhookConfig,
	}
	for k, v := range flags {
		f[k] = v
	}
	s.e = startExporter(t, exporterOpts{watchFile: s.watch, endpoint: endpoint, contextFile: ctxPath, flags: f,
		webhookAddr: s.hookAddr, clientTLS: s.files.client, user: s.files.user, pass: s.files.pass})
	s.webhook = &webhookClient{t: t, url: "https://" + s.hookAddr + webhookPath, client: newClient(t, s.files.client, 10*time.Second)}
	return s
}

// TestTLSAndBasicAuth serves /metrics over TLS behind basic auth, and the
// webhook over TLS on its own listener, guarded by its bearer token alone.
func TestTLSAndBasicAuth(t *testing.T) {
	t.Parallel()
	docs := newDocs(2, "tls")
	_, ctxPath, sim := newAccount(t, docs)
	s := startSecure(t, sim.Endpoint(), ctxPath, docs, map[string]string{"refresh.interval": "1h", "refresh.terminal-interval": "1h"})
	e := s.e
	testenv.Eventually(t, 20*time.Second, "the first round", func() (bool, string) { return statusesMatch(e.scrape(), docs) })
	checks := &checker{t: t}
	check := checks.check
	status := func(c *http.Client, url, user, pass string) (int, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		res, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		captureOutput(t, "GET "+url, out)
		return res.StatusCode, nil
	}
	tlsClient := newClient(t, s.files.client, 10*time.Second)
	wrongPass := "pw-wrong-" + strings.ToLower(testenv.RandomGUID()[:8])
	secrets.Add("a wrong basic-auth password", wrongPass)
	for _, c := range []struct {
		name, path, user, pass string
		want                   int
	}{
		{"no credentials", "/metrics", "", "", 401},
		{"wrong password", "/metrics", s.files.user, wrongPass, 401},
		{"unknown user", "/metrics", "root", s.files.pass, 401},
		{"right credentials", "/metrics", s.files.user, s.files.pass, 200},
		{"landing page, no credentials", "/", "", "", 401},
		{"landing page", "/", s.files.user, s.files.pass, 200},
		{"webhook path on the main listener", webhookPath, s.files.user, s.files.pass, 404},
	} {
		code, err := status(tlsClient, e.URL+c.path, c.user, c.pass)
		check(c.name, err == nil && code == c.want, "got %d %v, want %d", code, err, c.want)
	}
	// Plain HTTP to the TLS port, and a client that does not trust the certificate.
	code, err := status(newClient(t, nil, 10*time.Second), "http://"+e.Addr+"/metrics", s.files.user, s.files.pass)
	check("plain HTTP to the TLS listener", err == nil && code == 400, "got %d %v, want 400", code, err)
	_, err = status(newClient(t, &tls.Config{MinVersion: tls.VersionTLS12}, 10*time.Second), e.URL+"/metrics", s.files.user, s.files.pass)
	check("untrusted certificate", err != nil && strings.Contains(err.Error(), "certificate"), "got %v, want a certificate error", err)

	// The webhook: bearer token only, over TLS, and it triggers a check at once
	// (the refresh interval is an hour).
	changed := docs[0]
	changed.Status, changed.Step = "Completed", 0
	sim.put(changed)
	note := fmt.Appendf(nil, `{"DocumentID":%q}`, docs[0].ID)
	code, err = s.webhook.post("", note)
	check("webhook without token", err == nil && code == 401, "got %d %v, want 401", code, err)
	code, err = s.webhook.post(s.files.pass, note)
	check("webhook with the basic-auth password as token", err == nil && code == 401, "got %d %v, want 401", code, err)
	sent := time.Now()
	code, err = s.webhook.post(s.token, note)
	check("webhook with its token", err == nil && code == 202, "got %d %v, want 202", code, err)
	testenv.Eventually(t, 10*time.Second, "the notified document's new status", func() (bool, string) {
		return statusesMatch(e.scrape(), []doc{changed, docs[1]})
	})
	notified := time.Since(sent)
	code, err = status(newClient(t, nil, 10*time.Second), "http://"+s.hookAddr+webhookPath, "", "")
	check("plain HTTP to the webhook's TLS listener", err == nil && code == 400, "got %d %v, want 400", code, err)
	Figures.Fact("TLS + basic auth; webhook on its own TLS listener", "%d checks, %d failed; notification to new status %s (refresh interval 1h)",
		checks.n, checks.failed, ms(notified))
}

// front is a loopback HTTP server in front of the simulator: it forwards
// CheckStatus requests, refuses connections, or answers itself as a hostile
// upstream that echoes the request's secrets back in every field it can.
type front struct {
	t    *testing.T
	addr string
	sim  string // simulator endpoint
	mode atomic.Value
	tr   *http.Transport

	mu  sync.Mutex
	srv *http.Server
}

func startFront(t *testing.T, simEndpoint string) *front {
	f := &front{t: t, sim: simEndpoint, tr: &http.Transport{}}
	f.mode.Store("proxy")
	f.listen("127.0.0.1:0")
	t.Cleanup(func() { f.close(); f.tr.CloseIdleConnections() })
	return f
}

func (f *front) listen(addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		f.t.Fatal(err)
	}
	f.addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 10 * time.Second}
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

func (f *front) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv != nil {
		_ = f.srv.Close()
		f.srv = nil
	}
}

func (f *front) endpoint() string { return "http://" + f.addr + "/CheckStatus" }

var checkAttrRE = regexp.MustCompile(`ContextIdentifier="([^"]*)" Id="([^"]*)" AuthToken="([^"]*)"`)

func (f *front) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mode := f.mode.Load().(string)
	if mode == "proxy" {
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, f.sim, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		res, err := f.tr.RoundTrip(req)
		if err != nil {
			http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		_, _ = io.Copy(w, res.Body)
		return
	}
	// Hostile modes: echo every secret of the request.
	var ids, echo []string
	for _, m := range checkAttrRE.FindAllStringSubmatch(string(body), -1) {
		ids = append(ids, m[2])
		echo = append(echo, m[1], m[3], strings.ReplaceAll(m[3], "-", ""), strings.ToLower(m[3]))
	}
	all := strings.Join(echo, " ")
	first := ""
	if len(echo) > 1 {
		first = echo[1]
	}
	envelope := func(inner string) string {
		return `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>` + inner + `</s:Body></s:Envelope>`
	}
	switch mode {
	case "echo-soap-fault":
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.WriteHeader(500)
		fmt.Fprint(w, envelope(`<s:Fault><faultcode>s:`+first+`</faultcode><faultstring>AuthToken `+all+` is not valid</faultstring></s:Fault>`))
	case "echo-results":
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		var b strings.Builder
		b.WriteString(`<CheckStatusResponse xmlns="https://www.assuresign.net/Services/DocumentNOW/CheckStatus"><DocumentStatusCheckResults>`)
		for i, id := range ids {
			tok := echo[4*i+1]
			fmt.Fprintf(&b, `<DocumentStatusCheckResult Id=%q StatusType=%q StatusDetails="Step 1 %s"><Exceptions>`+
				`<StatusCheckException Severity="Error">token %s context %s</StatusCheckException>`+
				`<StatusCheckException Severity="Warning">%s</StatusCheckException>`+
				`<StatusCheckException Severity="Fatal">%s</StatusCheckException></Exceptions></DocumentStatusCheckResult>`,
				id, tok, tok, tok, echo[4*i], strings.ToLower(tok), strings.ReplaceAll(tok, "-", ""))
			// A result for a document nobody asked about, named by the token.
			fmt.Fprintf(&b, `<DocumentStatusCheckResult Id=%q StatusType="Completed"/>`, tok)
		}
		b.WriteString(`</DocumentStatusCheckResults></CheckStatusResponse>`)
		fmt.Fprint(w, envelope(b.String()))
	case "echo-html-500":
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(500)
		fmt.Fprint(w, "<html><body>Internal error for "+all+"</body></html>")
	case "echo-malformed":
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		fmt.Fprint(w, envelope(`<CheckStatusResponse xmlns="https://www.assuresign.net/Services/DocumentNOW/CheckStatus"><x a="`+first+`" a="`+first+`"/><`+first+`>&`+first+`;&x`+first+`;`))
	case "echo-content-type":
		w.Header().Set("Content-Type", "text/plain; token="+first)
		fmt.Fprint(w, all)
	case "echo-retry-after":
		w.Header().Set("Retry-After", first)
		w.WriteHeader(429)
		fmt.Fprint(w, all)
	case "echo-bad-header", "echo-bad-status":
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		if mode == "echo-bad-status" {
			fmt.Fprintf(buf, "HTTP/1.1 %s OK\r\n\r\n", first)
		} else {
			fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n%s\r\n\r\n", all)
		}
		_ = buf.Flush()
	}
}

// TestSecretsEveryPath feeds known secrets (AuthTokens, the exporter-wide
// and a per-document ContextIdentifier, the webhook token, the basic-auth
// password) through every path: success, each simulator fault, a hostile
// upstream echoing them back, each bad watch file, reload errors, the
// webhook with wrong and right tokens. Every output is scanned (captureOutput):
// the exporter's whole debug log and every body fetched.
func TestSecretsEveryPath(t *testing.T) {
	t.Parallel()
	docs := newDocs(4, "secrets")
	otherAccount := secretGUID("per-document ContextIdentifier")
	docs[3].Context = otherAccount // the simulator answers it with an exception
	_, ctxPath, sim := newAccount(t, docs)
	fr := startFront(t, sim.Endpoint())
	s := startSecure(t, fr.endpoint(), ctxPath, docs, map[string]string{"assuresign.batch-size": "2"})
	e := s.e
	paths := 0
	fetchAll := func() {
		for _, p := range []string{"/metrics", "/", "/-/ready", "/-/healthy"} {
			if _, _, err := e.get(p); err != nil {
				t.Errorf("GET %s: %v", p, err)
			}
		}
	}
	round := func(what string) { // waits for one more round's worth of requests
		t.Helper()
		paths++
		before := e.scrape().value(`assuresign_api_request_duration_seconds_count{operation="check_status"}`)
		testenv.Eventually(t, 20*time.Second, what, func() (bool, string) {
			n := e.scrape().value(`assuresign_api_request_duration_seconds_count{operation="check_status"}`)
			return n >= before+2, fmt.Sprintf("%v requests", n)
		})
		fetchAll()
	}
	// docs[3] belongs to another account: the simulator answers it with an exception.
	testenv.Eventually(t, 20*time.Second, "the first round", func() (bool, string) { return statusesMatch(e.scrape(), docs[:3]) })
	round("success")

	for _, kind := range []string{"http500", "429", "soap_fault", "malformed", "truncated", "html", "oversize", "slow_drip", "missing_results", "close"} {
		sim.fault(kind, 1)
		round("fault " + kind)
		sim.clearFault()
	}
	sim.latency(3000)
	round("upstream timeout")
	sim.latency(0)
	fr.close()
	round("connection refused")
	fr.listen(fr.addr)

	for _, mode := range []string{"echo-soap-fault", "echo-results", "echo-html-500", "echo-malformed", "echo-content-type", "echo-retry-after", "echo-bad-header", "echo-bad-status"} {
		fr.mode.Store(mode)
		round("hostile upstream " + mode)
	}
	fr.mode.Store("proxy")
	round("back to normal")

	// Bad watch files, by HTTP (the error is in the body) and by SIGHUP (in the log).
	token := docs[0].Token
	mangled := "Q" + token[1:]
	secrets.Add("mistyped AuthToken", mangled)
	head := "documents:\n  - id: " + docs[0].ID + "\n"
	for i, bad := range []string{
		head + "    auth_token: " + mangled + "\n",
		head + "    auth_token: " + token + "x\n",
		head + "    auth_token: " + token + "\n    context_identifier: " + otherAccount + "0\n",
		head + "    auth_token: " + token + "\n    " + token + ": x\n",
		head + "    " + token + ": " + token + "\n",
		head + "    auth_token: *" + token + "\n",
		head + "    auth_token: [" + token + "\n",
		head + "    auth_token: {" + token + ": 1}\n",
		// (An AuthToken typed into the id field is quoted back: ids are not
		// secrets, by the parser's design, so that case is not fed here.)
		"documents:\n  - id: " + docs[0].ID + "\n    auth_token: " + token + "\n  - id: " + docs[0].ID + "\n    auth_token: " + token + "\n",
		"documents:\n  - " + token + "\n",
		"documents: {" + token + ": " + token + "}\n",
		"\t" + token + "\n",
		head + "    auth_token: \"" + token + "\x01\"\n",
	} {
		testenv.ReplaceFile(t, s.watch, []byte(bad))
		paths++
		if i%2 == 0 {
			if code, body := e.reload(); code != 500 {
				t.Errorf("bad file %d: reload gave %d %s", i, code, body)
			}
		} else {
			before := strings.Count(e.Output.String(), "reload failed")
			e.Signal(t, syscall.SIGHUP)
			testenv.Eventually(t, 10*time.Second, "the reload error in the log", func() (bool, string) {
				return strings.Count(e.Output.String(), "reload failed") > before, ""
			})
		}
		fetchAll()
	}
	testenv.ReplaceFile(t, s.watch, watchYAML(docs))
	if code, body := e.reload(); code != 200 {
		t.Errorf("good file: reload gave %d %s", code, body)
	}

	// The webhook, with wrong and right tokens.
	wrong := "whk-" + strings.ToLower(testenv.RandomGUID()[:18]) + "-wrong"
	secrets.Add("a wrong webhook token", wrong)
	for _, c := range []struct {
		token string
		body  string
		want  int
	}{
		{"", `{"DocumentID":"` + docs[0].ID + `"}`, 401},
		{wrong, `{"DocumentID":"` + docs[0].ID + `"}`, 401},
		{s.files.pass, `{"DocumentID":"` + docs[0].ID + `"}`, 401},
		{s.token, `{"DocumentID":"` + token + `x"}`, 400},
		{s.token, `<n><DocumentID>` + token + `!</DocumentID></n>`, 400},
		{s.token, `{"DocumentID":"` + docs[0].ID + `"}`, 202},
	} {
		paths++
		if code, err := s.webhook.post(c.token, []byte(c.body)); err != nil || code != c.want {
			t.Errorf("webhook: got %d %v, want %d", code, err, c.want)
		}
	}
	// Basic auth with a wrong password, and none.
	for _, pass := range []string{"", wrong} {
		paths++
		res, _, err := e.request(http.MethodGet, "/metrics", http.Header{"Authorization": {basicAuth(s.files.user, pass)}}, nil)
		if err != nil || res.StatusCode != 401 {
			t.Errorf("basic auth with a wrong password: %v %v", res, err)
		}
	}
	// A token file that went bad, on reload.
	round("after reloads")
	e.client.CloseIdleConnections()
	e.stop() // scans the whole log
	if !strings.Contains(e.Output.String(), "level=DEBUG") {
		t.Errorf("the log has no debug lines: the scan would prove little")
	}
	if !strings.Contains(e.Output.String(), "<secret>") {
		t.Errorf("no redacted text in the log: the hostile upstream's echoes never reached it, so the scan proves little")
	}
	Figures.Fact("secret paths exercised (one exporter, debug log)", "%d paths, %d log bytes scanned", paths, len(e.Output.String()))
}

// TestSecretsOfOtherDocuments: a hostile upstream echoes, in a listing's
// Fault, in a malformed listing and in CheckStatus answers asked about one
// document each, the AuthTokens of every other document (watched, and listed
// by an earlier good listing) and the webhook token, whole, without hyphens,
// and as 8-hex-digit fragments. The log, the landing page and /metrics hold
// none of them, scanned down to 8 hex digits.
func TestSecretsOfOtherDocuments(t *testing.T) {
	t.Parallel()
	ctxID := secretGUID("exporter-wide ContextIdentifier")
	dir := t.TempDir()
	ctxPath := filepath.Join(dir, "context")
	testenv.ReplaceFile(t, ctxPath, []byte(ctxID))
	docs := newDocs(2, "other documents")
	listed := newDocs(2, "listed document")
	envID, envToken := newID(), secretGUID("envelope AuthToken")
	hook := "hook-" + strings.ToLower(testenv.RandomGUID()[:13]) + "-token"
	secrets.Add("webhook token", hook)
	hookPath := filepath.Join(dir, "hook")
	testenv.ReplaceFile(t, hookPath, []byte(hook+"\n"))
	// The suite's scanner looks for 12 digits in hundreds of megabytes; this
	// test's outputs are small enough to look for 8.
	scan8 := testenv.NewSecrets(testenv.FragmentLen, ctxID, envToken, hook)
	var echo []string
	for _, d := range append(slices.Clone(docs), listed...) {
		scan8.Add("AuthToken", d.Token)
		bare := strings.ReplaceAll(d.Token, "-", "")
		echo = append(echo, d.Token, strings.ToLower(bare), "x"+bare[:8]+"x", "x"+bare[20:28]+"x")
	}
	echoed := strings.Join(append(echo, hook), " ")

	sim := simulator.New(ctxID)
	for _, d := range append(slices.Clone(docs), listed...) {
		sim.Put(simulator.Document{ID: d.ID, AuthToken: d.Token, Status: assuresign.ParseStatus(d.Status), Step: d.Step, StatusDate: time.Now()})
	}
	sim.PutEnvelope(simulator.Envelope{ID: envID, AuthToken: envToken, Documents: []string{listed[0].ID, listed[1].ID}})
	fault := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>bad tokens: ` +
		echoed + `</faultstring></s:Fault></s:Body></s:Envelope>`
	malformedListing := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><ListEnvelopeDocumentsResponse xmlns="` +
		assuresign.EnvelopesNS + `"><ListEnvelopeDocumentsResult EnvelopeId="` + envID + `"><Documents><x` + strings.ReplaceAll(listed[1].Token, "-", "") +
		` a="` + echoed + `"></y></Documents></ListEnvelopeDocumentsResult></ListEnvelopeDocumentsResponse></s:Body></s:Envelope>`
	idAttr := regexp.MustCompile(`Id="([^"]+)"`)
	var mode atomic.Value
	mode.Store("proxy")
	var served sync.Map // mode → *atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := mode.Load().(string)
		listing := strings.Contains(r.Header.Get("SOAPAction"), "ListEnvelopeDocuments")
		body, _ := io.ReadAll(r.Body)
		answer := ""
		switch {
		case m == "listing fault" && listing:
			answer = fault
		case m == "malformed listing" && listing:
			answer = malformedListing
		case m == "status echo" && !listing:
			id := ""
			if sm := idAttr.FindSubmatch(body); sm != nil {
				id = string(sm[1])
			}
			answer = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><CheckStatusResponse xmlns="` + assuresign.CheckStatusNS +
				`"><DocumentStatusCheckResults><DocumentStatusCheckResult Id="` + id + `" StatusType="SigningStepInProgress" StatusDetails="Step 1 ` + echoed +
				`"><Exceptions><StatusCheckException Severity="Error">` + echoed + `</StatusCheckException></Exceptions></DocumentStatusCheckResult>` +
				`</DocumentStatusCheckResults></CheckStatusResponse></s:Body></s:Envelope>`
		case m == "status fault" && !listing:
			answer = fault
		default:
			r.Body = io.NopCloser(bytes.NewReader(body))
			sim.ServeHTTP(w, r)
			return
		}
		n, _ := served.LoadOrStore(m, &atomic.Int64{})
		n.(*atomic.Int64).Add(1)
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		if answer == fault {
			w.WriteHeader(http.StatusInternalServerError) // as WCF sends a Fault
		}
		fmt.Fprint(w, answer)
	}))
	defer upstream.Close()

	watch := filepath.Join(dir, "watch.yml")
	testenv.ReplaceFile(t, watch, append(watchYAML(docs), []byte("envelopes:\n  - id: "+envID+"\n    auth_token: "+envToken+"\n")...))
	e := startExporter(t, exporterOpts{watchFile: watch, endpoint: upstream.URL + testenv.CheckStatusPath, contextFile: ctxPath,
		flags: map[string]string{"assuresign.batch-size": "1", "webhook.bearer-token-file": hookPath}})
	var page, metrics []byte
	fetch := func() {
		var err error
		if _, page, err = e.get("/"); err != nil {
			t.Fatal(err)
		}
		metrics = e.scrape().raw
	}
	testenv.Eventually(t, 30*time.Second, "the listed documents watched", func() (bool, string) {
		s := e.scrape()
		return s.hasDocument(listed[0].ID) && s.hasDocument(listed[1].ID), ""
	})
	for _, m := range []string{"listing fault", "malformed listing", "status echo", "status fault"} {
		mode.Store(m)
		n, _ := served.LoadOrStore(m, &atomic.Int64{})
		testenv.Eventually(t, 20*time.Second, m+" served twice", func() (bool, string) {
			return n.(*atomic.Int64).Load() >= 2, ""
		})
		fetch()
		if strings.Contains(m, "listing") {
			// The listing's failure is on the landing page, redacted.
			if !bytes.Contains(page, []byte("failed: ")) || !bytes.Contains(page, []byte("secret&gt;")) {
				t.Errorf("%s: the landing page shows no redacted failure:\n%.3000s", m, page)
			}
		}
		for _, f := range append(scan8.Find("landing page ("+m+")", page), scan8.Find("/metrics ("+m+")", metrics)...) {
			t.Errorf("secret leaked: %s", f)
		}
	}
	mode.Store("proxy")
	e.stop()
	for _, f := range scan8.Find("log", []byte(e.Output.String())) {
		t.Errorf("secret leaked: %s", f)
	}
	if !strings.Contains(e.Output.String(), "<secret>") {
		t.Errorf("no redacted text in the log: the echoes never reached it, so the scan proves little")
	}
}

func basicAuth(user, pass string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header.Get("Authorization")
}

// TestXMLAttacks serves CheckStatus answers with a DOCTYPE: external entities
// (over HTTP and file://), a parameter entity, and billion laughs. The
// exporter must fetch nothing, expand nothing, and stay healthy with up=0.
func TestXMLAttacks(t *testing.T) {
	t.Parallel()
	var fetched atomic.Int64
	canary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		fmt.Fprint(w, "CANARY-CONTENT")
	}))
	defer canary.Close()

	ctxID := secretGUID("exporter-wide ContextIdentifier")
	dir := t.TempDir()
	ctxPath := filepath.Join(dir, "context")
	testenv.ReplaceFile(t, ctxPath, []byte(ctxID))
	docs := newDocs(2, "xml")
	sim := simulator.New(ctxID)
	for _, d := range docs {
		sim.Put(simulator.Document{ID: d.ID, AuthToken: d.Token, Status: assuresign.ParseStatus(d.Status), Step: d.Step, StatusDate: time.Now()})
	}
	lol := `<!ENTITY lol "lol"><!ENTITY lol0 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">`
	for i := 1; i <= 9; i++ {
		lol += fmt.Sprintf(`<!ENTITY lol%d "%s">`, i, strings.Repeat(fmt.Sprintf("&lol%d;", i-1), 10))
	}
	answer := func(doctype, value string) string {
		return `<?xml version="1.0" encoding="utf-8"?>` + doctype +
			`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><CheckStatusResponse xmlns="https://www.assuresign.net/Services/DocumentNOW/CheckStatus"><DocumentStatusCheckResults>` +
			`<DocumentStatusCheckResult Id="` + docs[0].ID + `" StatusType="Completed" StatusDetails="` + value + `"><Exceptions><StatusCheckException Severity="Error">` + value + `</StatusCheckException></Exceptions></DocumentStatusCheckResult>` +
			`<DocumentStatusCheckResult Id="` + docs[1].ID + `" StatusType="Completed"/>` +
			`</DocumentStatusCheckResults></CheckStatusResponse></s:Body></s:Envelope>`
	}
	payloads := []struct{ name, body string }{
		{"external entity (http)", answer(`<!DOCTYPE r [<!ENTITY xxe SYSTEM "`+canary.URL+`/xxe">]>`, "&xxe;")},
		{"external entity (file)", answer(`<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>`, "&xxe;")},
		{"parameter entity", answer(`<!DOCTYPE r [<!ENTITY % p SYSTEM "`+canary.URL+`/dtd"> %p;]>`, "&exfil;")},
		{"external DTD", answer(`<!DOCTYPE r SYSTEM "`+canary.URL+`/ext.dtd">`, "&ext;")},
		{"billion laughs", answer(`<!DOCTYPE r [`+lol+`]>`, "&lol9;")},
	}
	var attack atomic.Bool
	attack.Store(true)
	var served atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !attack.Load() {
			sim.ServeHTTP(w, r)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		n := served.Add(1)
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		fmt.Fprint(w, payloads[int(n-1)%len(payloads)].body)
	}))
	defer upstream.Close()

	watch := filepath.Join(dir, "watch.yml")
	testenv.ReplaceFile(t, watch, watchYAML(docs))
	e := startExporter(t, exporterOpts{watchFile: watch, endpoint: upstream.URL + testenv.CheckStatusPath, contextFile: ctxPath,
		flags: map[string]string{"assuresign.batch-size": "2"}})
	testenv.Eventually(t, 30*time.Second, "every payload served twice", func() (bool, string) {
		return served.Load() >= int64(2*len(payloads)), fmt.Sprintf("%d served", served.Load())
	})
	// The last answer served may still be being parsed: wait for its count.
	var sc *scrape
	testenv.Eventually(t, 10*time.Second, "every payload counted as malformed", func() (bool, string) {
		sc = e.scrape()
		malformed := sc.requests("malformed")
		return malformed >= float64(2*len(payloads)), fmt.Sprintf("malformed requests %v, want at least %d", malformed, 2*len(payloads))
	})
	if sc.up() != 0 {
		t.Errorf("up=%v under XML attacks", sc.up())
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("the exporter fetched %d external entities", n)
	}
	for _, bad := range []string{"CANARY", "root:", "lollol"} {
		if bytes.Contains(sc.raw, []byte(bad)) {
			t.Errorf("/metrics holds %q", bad)
		}
		if strings.Contains(e.Output.String(), bad) {
			t.Errorf("the log holds %q", bad)
		}
	}
	rss := rssMiB(t, e.pid())
	if rss > 100 {
		t.Errorf("RSS %.1f MiB under XML attacks", rss)
	}
	// Valid answers again: recovery.
	attack.Store(false)
	testenv.Eventually(t, 15*time.Second, "recovery", func() (bool, string) {
		s := e.scrape()
		if s.up() != 1 {
			return false, fmt.Sprintf("up=%v", s.up())
		}
		return statusesMatch(s, docs)
	})
	e.client.CloseIdleConnections()
	e.stop()
	Figures.Fact("XML attacks (XXE http/file, parameter entity, external DTD, billion laughs)", "%d answers: %v counted malformed, %d external fetches, RSS %.1f MiB, recovered",
		served.Load(), sc.requests("malformed"), fetched.Load(), rss)
}

// rssMiB reads a process's resident set size.
func rssMiB(t testing.TB, pid int) float64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
