package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/upstream"
)

// Known secrets of the --check tests: no output may hold any of them.
const (
	chkContext = "5EC2E7C0-C0DE-4C0D-8C0D-5EC2E7C0FFEE"
	chkWrong   = "5EC2E7BA-DBAD-4BAD-8BAD-5EC2E7BADBAD" // a ContextIdentifier of no account
	chkTokenA  = "5EC2E7A1-A1A1-4A1A-8A1A-5EC2E7A1A1A2"
	chkTokenB  = "5EC2E7B2-B2B2-4B2B-9B2B-5EC2E7B2B2B3"
	chkTokenC  = "5EC2E7C3-C3C3-4C3C-AC3C-5EC2E7C3C3C4"
	chkBadTok  = "5EC2E7F0-F0F0-4F0F-8F0F-5EC2E7F0F0F0" // not the document's

	chkDocA = "A0000000-0000-4000-8000-00000000000A"
	chkDocB = "B0000000-0000-4000-8000-00000000000B"
	chkDocC = "C0000000-0000-4000-8000-00000000000C"
)

var chkSecrets = testenv.NewSecrets(testenv.FragmentLen, chkContext, chkWrong, chkTokenA, chkTokenB, chkTokenC, chkBadTok)

// checkRig is a simulated account served at the real CheckStatus path only
// (another path is a 404, as on AssureSign), and a directory of watch files.
type checkRig struct {
	sim *simulator.Simulator
	srv *httptest.Server
	dir string
}

func newCheckRig(t *testing.T) *checkRig {
	t.Helper()
	sim := simulator.New(chkContext)
	date := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	sim.Put(simulator.Document{ID: chkDocA, AuthToken: chkTokenA, Status: assuresign.StatusSigningStepInProgress, Step: 2, StatusDate: date})
	sim.Put(simulator.Document{ID: chkDocB, AuthToken: chkTokenB, Status: assuresign.StatusDeclined, StatusDate: date})
	sim.Put(simulator.Document{ID: chkDocC, AuthToken: chkTokenC, Status: assuresign.StatusCompleted, StatusDate: date})
	srv := httptest.NewServer(sim) // it serves both operations' paths, and WCF's 404 elsewhere
	t.Cleanup(srv.Close)
	r := &checkRig{sim: sim, srv: srv, dir: t.TempDir()}
	r.write(t, "sales.yml", "documents:\n"+
		"  - {id: "+chkDocA+", auth_token: "+chkTokenA+", labels: {team: sales}}\n"+
		"  - {id: "+chkDocB+", auth_token: "+chkTokenB+", labels: {team: sales}}\n")
	r.write(t, "legal.yml", "documents:\n  - {id: "+chkDocC+", auth_token: "+chkTokenC+"}\n")
	return r
}

func (r *checkRig) write(t *testing.T, name, data string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(r.dir, name), []byte(data), 0o600))
}

// run runs --check over the rig's *.yml, with its flags as tune sets them,
// and returns its exit code and output, having asserted that neither it nor
// the log holds a secret.
func (r *checkRig) run(t *testing.T, endpoint, contextIdentifier string, tune ...func(*Config)) (int, string) {
	t.Helper()
	cfg := Config{
		WatchFiles: []string{filepath.Join(r.dir, "*.yml")}, MaxDocuments: 100, MaxEnvelopeDocuments: 100, ContextIdentifier: contextIdentifier,
		Upstream:  soap(endpoint),
		BatchSize: 2, Concurrency: 2, Timeout: 5 * time.Second,
	}
	for _, f := range tune {
		f(&cfg)
	}
	return runChecked(t, cfg)
}

// inJSON has run ask for --check.output=json.
func inJSON(c *Config) { c.Output = OutputJSON }

// runChecked runs --check with cfg, logging at debug level, and returns its
// exit code and output, having asserted that neither it nor the log holds
// one of chkSecrets.
func runChecked(t *testing.T, cfg Config) (int, string) {
	t.Helper()
	var out, logs bytes.Buffer
	code := Run(context.Background(), &out, cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	chkSecrets.AssertNone(t, "the output", out.String())
	chkSecrets.AssertNone(t, "the log", logs.String())
	return code, out.String()
}

// soap is the SOAP client of endpoint, as the exporter makes it, without retries.
func soap(endpoint string) func(*assuresign.Secrets) (upstream.API, error) {
	return func(secrets *assuresign.Secrets) (upstream.API, error) {
		c, err := assuresign.NewClient(assuresign.Config{Endpoint: endpoint, MaxRetries: -1, Secrets: secrets})
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

func (r *checkRig) endpoint() string { return r.srv.URL + testenv.CheckStatusPath }

func TestCheckEveryDocumentHasAStatus(t *testing.T) {
	r := newCheckRig(t)
	code, out := r.run(t, r.endpoint(), chkContext)
	assert.Equal(t, OK, code, out)
	lines := strings.Split(out, "\n")
	assert.Regexp(t, `^DOCUMENT ID +LABELS +STATUS +STEP +STATUS DATE +EXCEPTIONS +ERROR$`, lines[0])
	assert.Regexp(t, `^`+chkDocC+` +Completed +2026-03-01T09:30:00Z *$`, lines[1], "legal.yml sorts first")
	assert.Regexp(t, `^`+chkDocA+` +team=sales +SigningStepInProgress +2 +2026-03-01T09:30:00Z *$`, lines[2])
	assert.Regexp(t, `^`+chkDocB+` +team=sales +Declined +2026-03-01T09:30:00Z *$`, lines[3])
	assert.Contains(t, out, "\n3 of 3 documents have a status; requests to "+r.endpoint()+": 2 (up to 2 documents each), failed: 0\nOK\n")
	assert.ElementsMatch(t, []int{2, 1}, r.sim.Stats().DocumentsPerRequest, "batched as the exporter would")
}

func TestCheckADocumentWithoutAStatus(t *testing.T) {
	r := newCheckRig(t)
	r.write(t, "legal.yml", "documents:\n  - {id: "+chkDocC+", auth_token: "+chkBadTok+"}\n")
	code, out := r.run(t, r.endpoint(), chkContext)
	assert.Equal(t, Incomplete, code, out)
	assert.Regexp(t, chkDocC+` +- +Error: The AuthToken is not valid for this document. +no status in the answer`, out)
	assert.Contains(t, out, "2 of 3 documents have a status")
	assert.Contains(t, out, "FAILED: documents without a status: 1 (see their exceptions and errors: a wrong AuthToken or id, or a document deleted in AssureSign)")
}

func TestCheckAnInvalidWatchList(t *testing.T) {
	r := newCheckRig(t)
	r.write(t, "bad.yml", "documents:\n  - {id: "+chkDocC+", auth_token: "+chkTokenB+"}\n")
	code, out := r.run(t, r.endpoint(), chkContext)
	assert.Equal(t, Incomplete, code)
	assert.Equal(t, "watch list invalid: watch list: document "+chkDocC+" is in both "+filepath.Join(r.dir, "bad.yml")+" and "+filepath.Join(r.dir, "legal.yml")+"\n", out)
	assert.Zero(t, r.sim.Stats().Requests, "nothing asked")

	r.write(t, "bad.yml", "documents:\n  - {id: nope, auth_token: "+chkTokenB+"}\n")
	code, out = r.run(t, r.endpoint(), chkContext)
	assert.Equal(t, Incomplete, code)
	assert.Contains(t, out, filepath.Join(r.dir, "bad.yml")+`:2: documents[0].id: "nope" is not a GUID`)

	// A match of the glob that cannot be read: a symlink to nothing.
	require.NoError(t, os.Remove(filepath.Join(r.dir, "bad.yml")))
	require.NoError(t, os.Symlink(filepath.Join(r.dir, "gone"), filepath.Join(r.dir, "bad.yml")))
	code, out = r.run(t, r.endpoint(), chkContext)
	assert.Equal(t, Incomplete, code)
	assert.Contains(t, out, "watch list invalid: watch list: stat "+filepath.Join(r.dir, "bad.yml")+": no such file or directory")
	assert.Zero(t, r.sim.Stats().Requests, "nothing asked")
}

// TestCheckNamesTheLikelyCause covers exit code 2: a wrong region host, a
// wrong path, a wrong ContextIdentifier, and AssureSign failing.
func TestCheckNamesTheLikelyCause(t *testing.T) {
	r := newCheckRig(t)
	// A port nothing listens on: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + ln.Addr().String() + testenv.CheckStatusPath
	require.NoError(t, ln.Close())

	for _, tc := range []struct {
		name, endpoint, context string
		fault                   simulator.FaultKind
		want                    []string
	}{
		{name: "wrong region host", endpoint: closed, context: chkContext, want: []string{
			"FAILED: assuresign: transport error", "connection refused",
			"likely cause: " + ln.Addr().String() + " could not be reached: check the region host in --assuresign.endpoint"}},
		{name: "wrong path", endpoint: r.srv.URL + "/Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus", context: chkContext, want: []string{
			"FAILED: assuresign: HTTP status 404",
			"likely cause: the endpoint path is likely wrong: CheckStatus is expected at /Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text"}},
		{name: "wrong ContextIdentifier", endpoint: r.endpoint(), context: chkWrong, want: []string{
			"Error: The ContextIdentifier is not valid for this account.",
			"0 of 3 documents have a status",
			"FAILED: AssureSign answered, but with no status for any document",
			"likely cause: a wrong ContextIdentifier"}},
		{name: "SOAP fault", endpoint: r.endpoint(), context: chkContext, fault: simulator.FaultSOAPFault, want: []string{
			"FAILED: assuresign: SOAP fault", "likely cause: AssureSign refused the request: a wrong ContextIdentifier"}},
		{name: "maintenance page", endpoint: r.endpoint(), context: chkContext, fault: simulator.FaultHTMLMaintenance, want: []string{
			"likely cause: the endpoint did not answer as CheckStatus does"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.sim.SetFault(simulator.Fault{Kind: tc.fault})
			defer r.sim.ClearFault()
			code, out := r.run(t, tc.endpoint, tc.context)
			assert.Equal(t, Unreachable, code, out)
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
			assert.Contains(t, out, chkDocA, "the table is printed still")
		})
	}
}

// A Fault echoing every watched token is redacted of them all, not only of
// the tokens its own batch sent: A and B go together, C alone.
func TestCheckRedactsOtherBatchesTokens(t *testing.T) {
	r := newCheckRig(t)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode>`+
			`<faultstring>bad tokens: %s %s %s</faultstring></s:Fault></s:Body></s:Envelope>`, chkTokenA, strings.ReplaceAll(chkTokenB, "-", ""), strings.ToLower(chkTokenC))
	}))
	t.Cleanup(echo.Close)
	code, out := r.run(t, echo.URL+testenv.CheckStatusPath, chkContext) // asserts no secret in the output and log
	assert.Equal(t, Unreachable, code, out)
	assert.Contains(t, out, "bad tokens: <secret> <secret> <secret>")
}

// TestCheckBinary runs --check as an operator would: it prints the table,
// exits with the code, and never listens.
func TestCheckBinary(t *testing.T) {
	testenv.SkipShort(t)
	r := newCheckRig(t)
	for _, tc := range []struct {
		context string
		want    int
	}{{chkContext, OK}, {chkWrong, Unreachable}} {
		e := testenv.ExporterOptions{NoWait: true, Env: []string{"ASSURESIGN_CONTEXT_IDENTIFIER=" + tc.context}}.Start(t,
			"--check", "--watch.file="+filepath.Join(r.dir, "*.yml"), "--assuresign.endpoint="+r.endpoint(), "--web.listen-address=127.0.0.1:0")
		assert.Equal(t, tc.want, e.ExitCode(t, 30*time.Second))
		out := e.Output.String()
		assert.Contains(t, out, "3 documents have a status")
		assert.NotContains(t, out, "Listening on", "--check starts no server")
		chkSecrets.AssertNone(t, "the output", out)
	}
}

// TestCheckTableFitsItsContent: every column is as wide as its widest cell,
// no wider; a long exception is cut in the table, not in the JSON.
func TestCheckTableFitsItsContent(t *testing.T) {
	r := newCheckRig(t)
	long := "The signing invitation could not be delivered: " + strings.Repeat("the recipient's mail server refused it, ", 5) + "END"
	require.True(t, r.sim.Update(chkDocA, func(d *simulator.Document) {
		d.Exceptions = []assuresign.Exception{{Severity: assuresign.SeverityWarning, Message: long}}
	}))
	code, out := r.run(t, r.endpoint(), chkContext)
	assert.Equal(t, OK, code, out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for _, l := range lines {
		assert.LessOrEqual(t, utf8.RuneCountInString(l), 200, "a line of a readable width: %q", l)
		assert.Equal(t, strings.TrimRight(l, " "), l, "no trailing blanks: %q", l)
	}
	// The columns start two blanks after their widest cell.
	header := lines[0]
	assert.Equal(t, len("DOCUMENT ID")+len(chkDocA)-len("DOCUMENT ID")+2, strings.Index(header, "LABELS"))
	assert.Equal(t, strings.Index(header, "LABELS")+len("team=sales")+2, strings.Index(header, "STATUS"))
	exc := strings.Index(header, "EXCEPTIONS")
	assert.Equal(t, exc+checkCellWidth+2, strings.Index(header, "ERROR"), "the cut exception sets the width")
	assert.Contains(t, out, "  Warning: The signing invitation could not be delivered: the…\n")
	assert.Contains(t, out, "(longer texts are cut to 60 characters; --check.output=json has them in full)")
	assert.NotContains(t, out, "END")

	code, js := r.run(t, r.endpoint(), chkContext, inJSON)
	assert.Equal(t, OK, code)
	rep := decodeCheckReport(t, []byte(js))
	require.Len(t, rep.Documents, 3)
	assert.Equal(t, []checkException{{Severity: "Warning", Message: long}}, rep.Documents[1].Exceptions, "in full")
}

// decodeCheckReport decodes --check.output=json strictly: the whole output is
// one object with the documented fields, every one present.
func decodeCheckReport(t *testing.T, data []byte) Report {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var rep Report
	require.NoError(t, dec.Decode(&rep), "%s", data)
	assert.False(t, dec.More(), "one object")
	var fields map[string]any
	require.NoError(t, json.Unmarshal(data, &fields))
	// Every field of Report, read from its tags: one added with omitempty,
	// or forgotten here, fails.
	for f := range reflect.TypeFor[Report]().Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		assert.Contains(t, fields, name, "every field is present")
	}
	return rep
}

func TestCheckJSON(t *testing.T) {
	r := newCheckRig(t)
	r.write(t, "legal.yml", "documents:\n  - {id: "+chkDocC+", auth_token: "+chkBadTok+"}\n")
	run := func(endpoint string) (int, Report) {
		code, out := r.run(t, endpoint, chkContext, inJSON) // asserts no secret in the JSON
		return code, decodeCheckReport(t, []byte(out))
	}

	require.True(t, r.sim.Update(chkDocB, func(d *simulator.Document) {
		d.Exceptions = []assuresign.Exception{{Severity: assuresign.SeverityWarning, Message: `Reminder <not> sent & "queued"`}}
	}))
	_, raw := r.run(t, r.endpoint(), chkContext, inJSON)
	assert.Contains(t, raw, `"message": "Reminder <not> sent & \"queued\""`, "texts as sent, not HTML-escaped")

	code, rep := run(r.endpoint())
	assert.Equal(t, Incomplete, code)
	assert.Equal(t, "incomplete", rep.Result)
	assert.Equal(t, Incomplete, rep.ExitCode)
	assert.Equal(t, 2, rep.WithStatus)
	assert.Equal(t, 2, rep.Requests)
	assert.Equal(t, checkedDocument{ID: chkDocC, Labels: map[string]string{}, Error: "no status in the answer",
		Exceptions: []checkException{{Severity: "Error", Message: "The AuthToken is not valid for this document."}}}, rep.Documents[0])
	assert.Equal(t, checkedDocument{ID: chkDocA, Labels: map[string]string{"team": "sales"}, Status: "SigningStepInProgress", Step: 2,
		StatusDate: "2026-03-01T09:30:00Z", Exceptions: []checkException{}}, rep.Documents[1])

	code, rep = run(r.srv.URL + "/Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus")
	assert.Equal(t, Unreachable, code)
	assert.Equal(t, "unreachable", rep.Result)
	assert.Equal(t, 2, rep.Failed)
	assert.Contains(t, rep.Message, "HTTP status 404")
	assert.Contains(t, rep.LikelyCause, "the endpoint path is likely wrong")
	assert.Equal(t, rep.Message, rep.Documents[0].Error, "each document carries its request's error in full")

	r.write(t, "bad.yml", "documents:\n  - {id: nope, auth_token: "+chkTokenB+"}\n")
	code, rep = run(r.endpoint())
	assert.Equal(t, Incomplete, code)
	assert.Equal(t, "invalid", rep.Result)
	assert.Contains(t, rep.Message, `documents[0].id: "nope" is not a GUID`)
	assert.Empty(t, rep.Documents)
}

// TestCheckExitCodes holds every way out of --check to the exit-code table
// its help shows: a code returned for a reason the table does not give fails.
func TestCheckExitCodes(t *testing.T) {
	testenv.SkipShort(t)
	r := newCheckRig(t)
	bin := testenv.BuildBinary(t, testenv.ExporterPkg)
	for _, tc := range []struct {
		name, context, endpoint string
		extra                   []string
		want                    int
		reason                  string // in the table's meaning of the code
	}{
		{"all have a status", chkContext, r.endpoint(), nil, OK, "every document has a status"},
		{"a malformed ContextIdentifier", "not-a-guid", r.endpoint(), nil, Incomplete, "the ContextIdentifier is invalid"},
		{"an invalid flag", chkContext, r.endpoint(), []string{"--assuresign.batch-size=0"}, Incomplete, "a flag"},
		{"a wrong ContextIdentifier", chkWrong, r.endpoint(), nil, Unreachable, "refused the request or every document"},
		{"a wrong path", chkContext, r.srv.URL + "/CheckStatus", nil, Unreachable, "refused the request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, output := range []string{OutputTable, OutputJSON} {
				cmd := exec.Command(bin, append([]string{"--check", "--check.output=" + output, "--watch.file=" + filepath.Join(r.dir, "*.yml"),
					"--assuresign.endpoint=" + tc.endpoint}, tc.extra...)...)
				cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "ASSURESIGN_CONTEXT_IDENTIFIER=" + tc.context}
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				code := 0
				if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
					code = ee.ExitCode()
				} else {
					require.NoError(t, err)
				}
				assert.Equal(t, tc.want, code, "%s: %s%s", output, stdout.String(), stderr.String())
				chkSecrets.AssertNone(t, "the output", stdout.String()+stderr.String())
				if output == OutputJSON {
					assert.Equal(t, tc.want, decodeCheckReport(t, stdout.Bytes()).ExitCode)
				}
			}
			var meaning string
			for _, c := range checkExitCodes {
				if c.code == tc.want {
					meaning = c.meaning
				}
			}
			for _, part := range strings.Split(tc.reason, " ") {
				assert.Contains(t, meaning, part, "the table's meaning of exit code %d gives the reason", tc.want)
			}
			assert.Contains(t, Help(), fmt.Sprintf("%d when %s", tc.want, meaning), "--check's help has the table")
		})
	}
}

// TestCheckOutputIsDocumented holds the docs to --check: the JSON example
// decodes strictly into the report (every field present, none unknown), the
// field table names every field, and every exit-code table says what
// checkExitCodes says.
func TestCheckOutputIsDocumented(t *testing.T) {
	docs, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	require.NoError(t, err)
	var example, fieldTable string
	tables := 0
	for _, doc := range docs {
		data, err := os.ReadFile(doc)
		require.NoError(t, err)
		text := string(data)
		if m := regexp.MustCompile("(?s)```json\n(\\{\n  \"result\".*?)```").FindStringSubmatch(text); m != nil {
			example = m[1]
			fieldTable = text[strings.Index(text, m[0])+len(m[0]):]
		}
		for _, table := range regexp.MustCompile(`(?m)^\| exit \| meaning \|\n\|---\|---\|\n((?:\|.*\n)+)`).FindAllStringSubmatch(text, -1) {
			tables++
			rows := strings.Split(strings.TrimSuffix(table[1], "\n"), "\n")
			require.Len(t, rows, len(checkExitCodes), "%s: the exit-code table", doc)
			for i, c := range checkExitCodes {
				assert.True(t, strings.HasPrefix(rows[i], fmt.Sprintf("| %d | %s", c.code, c.meaning)), "%s: exit-code table row %q, want it to start with %q", doc, rows[i], c.meaning)
			}
		}
	}
	require.NotEmpty(t, example, "no JSON example of --check.output=json in docs/*.md")
	assert.Positive(t, tables, "no exit-code table in docs/*.md")
	rep := decodeCheckReport(t, []byte(example))
	require.NotEmpty(t, rep.Documents)
	for _, typ := range []reflect.Type{reflect.TypeFor[Report](), reflect.TypeFor[checkedDocument](), reflect.TypeFor[checkException]()} {
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			assert.Contains(t, example, `"`+name+`":`, "the example has %s", name)
			if typ != reflect.TypeFor[checkException]() {
				assert.Contains(t, fieldTable, "`"+name+"`", "the field table explains %s", name)
			}
		}
	}
}

// TestCheckNothingToCheck: a glob that matches no file (a typo, say) is no
// pass: "0 of 0 documents ... OK" would hide it.
func TestCheckNothingToCheck(t *testing.T) {
	r := newCheckRig(t)
	pattern := filepath.Join(r.dir, "sale*.yaml")
	for _, output := range []string{OutputTable, OutputJSON} {
		code, out := r.run(t, r.endpoint(), chkContext, func(c *Config) { c.WatchFiles, c.Output = []string{pattern}, output })
		assert.Equal(t, Incomplete, code, out)
		msg := out
		if output == OutputJSON {
			rep := decodeCheckReport(t, []byte(out))
			assert.Equal(t, "invalid", rep.Result)
			msg = rep.Message
		}
		assert.Contains(t, msg, `nothing to check: --watch.file "`+pattern+`" names no document or envelope`)
		assert.NotContains(t, msg, "OK")
	}
	assert.Zero(t, r.sim.Stats().Requests, "nothing asked")
	assert.Contains(t, Help(), "1 when a document has none, an envelope cannot be listed, the watch files name nothing to check", "--check's help gives the reason")
}
