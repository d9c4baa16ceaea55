// Command assuresign-simulator serves the AssureSign simulator (package
// simulator) over HTTP for end-to-end tests, with an admin API on the same listener.
//
// CheckStatus is served at /Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text
// and ListEnvelopeDocuments at .../DocumentNOW.svc/Envelopes/text; the REST
// API's authentication at /api/v3.7/authentication/apiUser (for the --api-*
// and --context-username user) and envelope status at
// /api/documentnow/v3.7/envelopes/{id}/status; another path outside /admin/
// is a 404, as on AssureSign. The admin API:
//
//	GET    /admin/documents          the documents (JSON array, as --documents reads)
//	POST   /admin/documents          add or replace a document (JSON object) or several (array)
//	POST   /admin/fault              {"kind":"http500","retry_after_seconds":1,"times":0,"size":0}
//	DELETE /admin/fault              clear the fault
//	POST   /admin/latency?ms=50      wait before every answer
//	POST   /admin/options            {"bom":true,"prefix":"soap","lower_case_ids":true,"no_offset":true,"nil_results":true,"chunked":true}
//	POST   /admin/notifications      {"stop":false,"every":3,"drop_statuses":["Declined"],"drop_documents":["<ID>"]}: which DocumentTRAK notifications --notify-url gets
//	POST   /admin/rest/expire-tokens every REST token issued so far is refused
//	POST   /admin/rest/refuse?n=2    the next n REST envelope requests (status or history) answer 401
//	GET    /admin/stats              {"requests":3,"documents_per_request":[50,50],"documents":100,"per_document":{"<ID>":2,...},"listings":0,"rest_authentications":0,"rest_statuses":0,"rest_histories":0,"notifications":0,"notifications_dropped":0,"notification_retries":0}
//	DELETE /admin/stats              zero the stats
//
// Once listening it prints "listening on http://ADDR" on stdout.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
)

// sampleContext is the ContextIdentifier of the vendor's CheckStatus sample,
// used when no --context-file is given.
const sampleContext = "06C4A84A-693C-46CB-8DF2-40A8215AA056"

// sampleAPIUser is the REST API user accepted when no --api-* flag says otherwise.
var sampleAPIUser = simulator.APIUser{Username: "simulator", Key: "simulator-sample-api-key", ContextUsername: "simulator@example.com"}

var guidRE = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "assuresign-simulator:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("assuresign-simulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	contextFile := fs.String("context-file", "", "file holding the account's ContextIdentifier (a GUID); default "+sampleContext)
	documentsFile := fs.String("documents", "", `JSON array of documents: [{"id":"GUID","auth_token":"GUID","status":"SigningStepInProgress","step":2}]`)
	envelopesFile := fs.String("envelopes", "", `JSON array of envelopes: [{"id":"GUID","auth_token":"GUID","documents":["GUID",...],"fault":false}]`)
	demo := fs.Int("demo", 0, "also add this many random demo documents")
	demoEnvelopes := fs.Int("demo-envelopes", 0, "also add this many envelopes of 1 to 5 new demo documents each; with 2 or more, the last one's listing faults")
	apiUsername := fs.String("api-username", sampleAPIUser.Username, "the REST API user's name")
	apiKeyFile := fs.String("api-key-file", "", "file holding the REST API user's key; default a built-in sample key")
	contextUsername := fs.String("context-username", sampleAPIUser.ContextUsername, "the REST API user's context username")
	lifecycle := fs.Duration("lifecycle", 0, "advance the documents' life cycle every this often (0 = never)")
	seed := fs.Int64("seed", 1, "seed for --demo and --lifecycle")
	notifyURL := fs.String("notify-url", "", "send a DocumentTRAK notification to this URL on every change of a document's status or step")
	notifyTokenFile := fs.String("notify-token-file", "", "file holding the bearer token of --notify-url's notifications")
	var o simulator.Options
	fs.BoolVar(&o.BOM, "bom", false, "start XML answers with a byte-order mark")
	fs.StringVar(&o.Prefix, "prefix", "", `SOAP envelope prefix (default "s"; "-" for none)`)
	fs.BoolVar(&o.LowerCaseIDs, "lower-case-ids", false, "answer document Ids in lower case")
	fs.BoolVar(&o.NoOffset, "no-offset", false, "send StatusDate without a UTC offset")
	fs.BoolVar(&o.NilResults, "nil-results", false, `add an xsi:nil="true" result to every answer`)
	fs.BoolVar(&o.Chunked, "chunked", false, "send answers chunked, without Content-Length")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	contextID := sampleContext
	if *contextFile != "" {
		b, err := os.ReadFile(*contextFile)
		if err != nil {
			return err
		}
		contextID = strings.TrimSpace(strings.TrimPrefix(string(b), "\ufeff"))
		if !guidRE.MatchString(contextID) {
			return fmt.Errorf("%s: the ContextIdentifier is not a GUID", *contextFile)
		}
	}
	user := simulator.APIUser{Username: *apiUsername, Key: sampleAPIUser.Key, ContextUsername: *contextUsername}
	if *apiKeyFile != "" {
		b, err := os.ReadFile(*apiKeyFile)
		if err != nil {
			return err
		}
		user.Key = strings.TrimSpace(strings.TrimPrefix(string(b), "\ufeff"))
		if user.Key == "" {
			return fmt.Errorf("%s: the API key is empty", *apiKeyFile)
		}
	}
	if user.Username == "" || user.ContextUsername == "" || strings.Contains(user.ContextUsername, ":") {
		return errors.New("--api-username and --context-username must not be empty; --context-username must not contain ':'")
	}
	sim := simulator.New(contextID)
	sim.SetAPIUser(user)
	if *notifyURL != "" {
		b, err := os.ReadFile(*notifyTokenFile)
		if err != nil {
			return fmt.Errorf("--notify-url needs --notify-token-file: %w", err)
		}
		sim.SetNotifier(*notifyURL, strings.TrimSpace(string(b)))
		defer sim.WaitNotifications()
	}
	sim.SetOptions(o)
	if *documentsFile != "" {
		b, err := os.ReadFile(*documentsFile)
		if err != nil {
			return err
		}
		docs, err := decodeDocuments(b, time.Now())
		if err != nil {
			return fmt.Errorf("%s: %w", *documentsFile, err)
		}
		for _, d := range docs {
			sim.Put(d)
		}
	}
	for _, d := range simulator.DemoDocuments(*demo, *seed) {
		sim.Put(d)
	}
	envs, envDocs := simulator.DemoEnvelopes(*demoEnvelopes, *seed)
	for _, d := range envDocs {
		sim.Put(d)
	}
	for _, e := range envs {
		sim.PutEnvelope(e)
	}
	if *envelopesFile != "" {
		f, err := os.Open(*envelopesFile)
		if err != nil {
			return err
		}
		var envs []simulator.Envelope
		err = decodeStrict(f, &envs)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *envelopesFile, err)
		}
		for _, e := range envs {
			sim.PutEnvelope(e)
		}
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newHandler(sim), ReadHeaderTimeout: 10 * time.Second}
	if *lifecycle > 0 {
		go sim.RunLifecycle(ctx, *lifecycle, *seed)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close() // slow-drip answers do not end by themselves
	}
	return nil
}

// newHandler serves the admin API under /admin/ and the simulator elsewhere.
func newHandler(sim *simulator.Simulator) http.Handler {
	admin := http.NewServeMux()
	admin.HandleFunc("GET /admin/documents", func(w http.ResponseWriter, r *http.Request) {
		docs := sim.Documents()
		out := make([]jsonDocument, 0, len(docs))
		for _, d := range docs {
			out = append(out, toJSON(d))
		}
		writeJSON(w, http.StatusOK, out)
	})
	admin.HandleFunc("POST /admin/documents", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<20))
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
			b = append(append([]byte{'['}, t...), ']')
		}
		docs, err := decodeDocuments(b, time.Now())
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		for _, d := range docs {
			sim.Put(d)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	admin.HandleFunc("POST /admin/fault", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Kind              string  `json:"kind"`
			RetryAfterSeconds float64 `json:"retry_after_seconds"`
			Times             int     `json:"times"`
			Size              int     `json:"size"`
		}
		if err := decodeStrict(r.Body, &in); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		kind, err := simulator.ParseFaultKind(in.Kind)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		if in.Times < 0 || in.Size < 0 || in.RetryAfterSeconds < 0 {
			writeError(w, http.StatusBadRequest, errors.New("times, size and retry_after_seconds must not be negative"))
			return
		}
		sim.SetFault(simulator.Fault{
			Kind:       kind,
			RetryAfter: time.Duration(in.RetryAfterSeconds * float64(time.Second)),
			Times:      in.Times,
			Size:       in.Size,
		})
		w.WriteHeader(http.StatusNoContent)
	})
	admin.HandleFunc("DELETE /admin/fault", func(w http.ResponseWriter, r *http.Request) {
		sim.ClearFault()
		w.WriteHeader(http.StatusNoContent)
	})
	admin.HandleFunc("POST /admin/notifications", func(w http.ResponseWriter, r *http.Request) {
		var n simulator.Notifications
		if err := decodeStrict(http.MaxBytesReader(w, r.Body, 64<<10), &n); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		if err := n.Check(); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		sim.SetNotifications(n)
		w.WriteHeader(http.StatusNoContent)
	})
	admin.HandleFunc("POST /admin/latency", func(w http.ResponseWriter, r *http.Request) {
		ms, err := countParam(r, "ms", "a whole number of milliseconds")
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		sim.SetLatency(time.Duration(ms) * time.Millisecond)
		w.WriteHeader(http.StatusNoContent)
	})
	admin.HandleFunc("POST /admin/options", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			BOM          bool   `json:"bom"`
			Prefix       string `json:"prefix"`
			LowerCaseIDs bool   `json:"lower_case_ids"`
			NoOffset     bool   `json:"no_offset"`
			NilResults   bool   `json:"nil_results"`
			Chunked      bool   `json:"chunked"`
		}
		if err := decodeStrict(r.Body, &in); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		sim.SetOptions(simulator.Options(in))
		w.WriteHeader(http.StatusNoContent)
	})
	admin.HandleFunc("POST /admin/rest/expire-tokens", func(w http.ResponseWriter, r *http.Request) {
		sim.ExpireTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	admin.HandleFunc("POST /admin/rest/refuse", func(w http.ResponseWriter, r *http.Request) {
		n, err := countParam(r, "n", "a whole number")
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		sim.RefuseNext(n)
		w.WriteHeader(http.StatusNoContent)
	})
	admin.HandleFunc("GET /admin/stats", func(w http.ResponseWriter, r *http.Request) {
		st := sim.Stats()
		if st.DocumentsPerRequest == nil {
			st.DocumentsPerRequest = []int{}
		}
		if st.PerDocument == nil {
			st.PerDocument = map[string]int{}
		}
		writeJSON(w, http.StatusOK, st)
	})
	admin.HandleFunc("DELETE /admin/stats", func(w http.ResponseWriter, r *http.Request) {
		sim.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/admin/") {
			admin.ServeHTTP(w, r)
			return
		}
		sim.ServeHTTP(w, r)
	})
}

// jsonDocument is a Document as the --documents file and the admin API
// spell it. A status outside the documented eight is sent verbatim.
type jsonDocument struct {
	ID         string          `json:"id"`
	AuthToken  string          `json:"auth_token"`
	Status     string          `json:"status,omitempty"` // default Created
	Step       int             `json:"step,omitempty"`
	StatusDate *time.Time      `json:"status_date,omitempty"` // RFC 3339; default: when loaded
	Exceptions []jsonException `json:"exceptions,omitempty"`
}

type jsonException struct {
	Severity string `json:"severity"` // Warning, Error or Fatal
	Message  string `json:"message"`
}

func decodeDocuments(b []byte, now time.Time) ([]simulator.Document, error) {
	var in []jsonDocument
	if err := decodeStrict(bytes.NewReader(b), &in); err != nil {
		return nil, err
	}
	out := make([]simulator.Document, 0, len(in))
	for i, j := range in {
		if j.ID == "" || j.AuthToken == "" {
			return nil, fmt.Errorf("document %d: id and auth_token are required", i+1)
		}
		d := simulator.Document{ID: j.ID, AuthToken: j.AuthToken, Step: j.Step, StatusDate: now}
		switch st := assuresign.ParseStatus(j.Status); {
		case j.Status == "":
			d.Status = assuresign.StatusCreated
		case st == assuresign.StatusUnknown:
			d.RawStatus = j.Status
		default:
			d.Status = st
		}
		if j.StatusDate != nil {
			d.StatusDate = *j.StatusDate
		}
		for _, x := range j.Exceptions {
			d.Exceptions = append(d.Exceptions, assuresign.Exception{Severity: assuresign.ParseSeverity(x.Severity), Message: x.Message})
		}
		out = append(out, d)
	}
	return out, nil
}

func toJSON(d simulator.Document) jsonDocument {
	j := jsonDocument{ID: d.ID, AuthToken: d.AuthToken, Status: d.Status.String(), Step: d.Step}
	if d.RawStatus != "" {
		j.Status = d.RawStatus
	}
	if !d.StatusDate.IsZero() {
		t := d.StatusDate
		j.StatusDate = &t
	}
	for _, x := range d.Exceptions {
		j.Exceptions = append(j.Exceptions, jsonException{Severity: x.Severity.String(), Message: x.Message})
	}
	return j
}

func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// countParam reads the query parameter name as a whole number, 0 or more;
// what names the kind of number in the error.
func countParam(r *http.Request, name, what string) (int, error) {
	n, err := strconv.Atoi(r.URL.Query().Get(name))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s must be %s, 0 or more", name, what)
	}
	return n, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
