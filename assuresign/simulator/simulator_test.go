package simulator

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

const (
	testContext = "06C4A84A-693C-46CB-8DF2-40A8215AA056"
	docA        = "2CE11EF1-8938-DD11-8735-00065B8CE99B"
	tokenA      = "8CC9A84B-693C-46CC-4342-40A8215AD76A"
	docB        = "3DF22F02-9A49-4E22-9846-11176C9DF0AC"
	tokenB      = "9DDAB95C-7A4D-47DD-5453-51B9326BE87B"
	docC        = "4E033013-AB5A-4F33-A957-22287DAE01BD"
	tokenC      = "AEEBCA6D-8B5E-48EE-6564-62CA437CF98C"
	unknownDoc  = "5F144124-BC6B-4044-BA68-33398EBF12CE"
	otherGUID   = "11111111-2222-4333-8444-555555555555"
	heldDoc     = "4E1D4E1D-0000-4000-8000-4E1D4E1D4E1D"
)

var (
	dateRE         = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}[+-]\d\d:\d\d$`)
	dateNoOffsetRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}$`)
	eastern        = time.FixedZone("", -4*3600)
	sampleDate     = time.Date(2008, 3, 19, 11, 24, 8, 523195400, eastern)
)

// --- XML shapes, for reading answers back ---

type xmlEnvelope struct {
	XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Body    struct {
		Response *xmlResponse `xml:"https://www.assuresign.net/Services/DocumentNOW/CheckStatus CheckStatusResponse"`
		Fault    *xmlFault    `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

type xmlResponse struct {
	Results *struct {
		Items []xmlResult `xml:"https://www.assuresign.net/Services/DocumentNOW/CheckStatus DocumentStatusCheckResult"`
	} `xml:"https://www.assuresign.net/Services/DocumentNOW/CheckStatus DocumentStatusCheckResults"`
}

type xmlResult struct {
	Attrs      []xml.Attr `xml:",any,attr"`
	Exceptions *struct {
		Items []struct {
			Severity string `xml:"Severity,attr"`
			Text     string `xml:",chardata"`
		} `xml:"https://www.assuresign.net/Services/DocumentNOW/CheckStatus StatusCheckException"`
	} `xml:"https://www.assuresign.net/Services/DocumentNOW/CheckStatus Exceptions"`
}

// attr returns an unqualified attribute and whether it is present.
func (r xmlResult) attr(name string) (string, bool) {
	for _, a := range r.Attrs {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

func (r xmlResult) isNil() bool {
	for _, a := range r.Attrs {
		if a.Name.Space == assuresign.XSINS && a.Name.Local == "nil" {
			return a.Value == "true"
		}
	}
	return false
}

type xmlFault struct {
	Code   string `xml:"faultcode"`
	String string `xml:"faultstring"`
}

func decodeEnvelope(t *testing.T, body []byte) xmlEnvelope {
	t.Helper()
	var env xmlEnvelope
	require.NoError(t, xml.Unmarshal(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), &env), "body: %s", body)
	return env
}

func results(t *testing.T, body []byte) []xmlResult {
	t.Helper()
	env := decodeEnvelope(t, body)
	require.NotNil(t, env.Body.Response, "no CheckStatusResponse in %s", body)
	require.NotNil(t, env.Body.Response.Results, "no DocumentStatusCheckResults in %s", body)
	return env.Body.Response.Results.Items
}

// --- requests ---

type req struct{ ctx, id, token string }

func checkStatusBody(checks ...req) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>`)
	b.WriteString(`<CheckStatus xmlns="https://www.assuresign.net/Services/DocumentNOW/CheckStatus"><DocumentStatusChecks>`)
	for _, c := range checks {
		fmt.Fprintf(&b, `<DocumentStatusCheck ContextIdentifier="%s" Id="%s" AuthToken="%s" />`, c.ctx, c.id, c.token)
	}
	b.WriteString(`</DocumentStatusChecks></CheckStatus></soap:Body></soap:Envelope>`)
	return b.String()
}

// soapRequest posts body to CheckStatus on the server at base.
func soapRequest(t *testing.T, base, body string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, base+CheckStatusPath, strings.NewReader(body))
	require.NoError(t, err)
	r.Header.Set("Content-Type", "text/xml; charset=utf-8")
	r.Header.Set("SOAPAction", `"`+assuresign.CheckStatusAction+`"`)
	return r
}

// do sends r and returns the status, headers and whole body.
func do(t *testing.T, c *http.Client, r *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

func newTestSimulator() *Simulator {
	s := New(testContext)
	s.Put(Document{ID: docA, AuthToken: tokenA, Status: assuresign.StatusSigningStepInProgress, Step: 2, StatusDate: sampleDate})
	s.Put(Document{ID: strings.ToLower(docB), AuthToken: strings.ToLower(tokenB), Status: assuresign.StatusCompleted, StatusDate: sampleDate.Add(time.Hour)})
	s.Put(Document{ID: docC, AuthToken: tokenC, Status: assuresign.StatusCreated, StatusDate: sampleDate,
		Exceptions: []assuresign.Exception{{Severity: assuresign.SeverityWarning, Message: `Reminder <not> sent & "queued"`}}})
	return s
}

func startServer(t *testing.T, s *Simulator) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

// --- validation ---

func TestRejectsInvalidRequests(t *testing.T) {
	valid := checkStatusBody(req{testContext, docA, tokenA})
	tests := []struct {
		name   string
		body   string
		header map[string]string // "" value deletes
		want   string            // in the faultstring
	}{
		{"no content type", valid, map[string]string{"Content-Type": ""}, "no Content-Type"},
		{"SOAP 1.2 content type", valid, map[string]string{"Content-Type": "application/soap+xml; charset=utf-8"}, "content type"},
		{"json", valid, map[string]string{"Content-Type": "application/json"}, "content type"},
		{"utf-16 charset", valid, map[string]string{"Content-Type": "text/xml; charset=utf-16"}, "charset"},
		{"no SOAPAction", valid, map[string]string{"SOAPAction": ""}, "no SOAPAction"},
		{"wrong SOAPAction", valid, map[string]string{"SOAPAction": "https://www.assuresign.net/Services/DocumentNOW/Submit/ISubmitService/Submit"}, "ContractFilter mismatch"},
		{"SOAPAction of another host", valid, map[string]string{"SOAPAction": "https://na1.assuresign.net/Services/DocumentNOW/CheckStatus/ICheckStatusService/CheckStatus"}, "ContractFilter mismatch"},
		{"empty body", "", nil, "empty"},
		{"not XML", "hello " + tokenA, nil, "not well-formed"},
		{"cut short", valid[:len(valid)-20], nil, "ends before"},
		{"broken XML", strings.Replace(valid, "</CheckStatus>", "</Check>", 1), nil, "not well-formed"},
		{"bad entity holding a token", strings.Replace(valid, `AuthToken="`+tokenA, `AuthToken="&A`+tokenA[1:]+`;`, 1), nil, "not well-formed"},
		{"DTD", `<!DOCTYPE x [<!ENTITY e "x">]>` + valid[strings.Index(valid, "?>")+2:], nil, "DTD"},
		{"SOAP 1.2 envelope", strings.ReplaceAll(valid, "http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope"), nil, "SOAP 1.1 Envelope"},
		{"undeclared prefix", strings.Replace(valid, ` xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"`, "", 1), nil, "SOAP 1.1 Envelope"},
		{"no envelope", `<CheckStatus xmlns="https://www.assuresign.net/Services/DocumentNOW/CheckStatus"/>`, nil, "SOAP 1.1 Envelope"},
		{"no body", `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/></s:Envelope>`, nil, "no Body"},
		{"empty body element", `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>`, nil, "SOAP Body is empty"},
		{"other operation", strings.NewReplacer("<CheckStatus ", "<CancelDocument ", "</CheckStatus>", "</CancelDocument>").Replace(valid), nil, "CancelDocument"},
		{"operation without namespace", strings.Replace(valid, `<CheckStatus xmlns="https://www.assuresign.net/Services/DocumentNOW/CheckStatus">`, "<CheckStatus>", 1), nil, "expected CheckStatus in namespace"},
		{"operation in the wrong namespace", strings.Replace(valid, `<CheckStatus xmlns="https://www.assuresign.net/Services/DocumentNOW/CheckStatus">`, `<CheckStatus xmlns="https://na1.assuresign.net/Services/DocumentNOW/CheckStatus">`, 1), nil, "expected CheckStatus in namespace"},
		{"unqualified children", strings.Replace(valid, `<DocumentStatusChecks>`, `<DocumentStatusChecks xmlns="">`, 1), nil, "expected DocumentStatusChecks"},
		{"unqualified items", strings.Replace(valid, `<DocumentStatusCheck `, `<DocumentStatusCheck xmlns="" `, 1), nil, "expected DocumentStatusCheck in"},
		{"two lists", strings.Replace(valid, `</CheckStatus>`, `<DocumentStatusChecks/></CheckStatus>`, 1), nil, "more than one DocumentStatusChecks"},
		{"second element in body", strings.Replace(valid, `</soap:Body>`, `<x/></soap:Body>`, 1), nil, "after CheckStatus"},
		{"element after body", strings.Replace(valid, `</soap:Body>`, `</soap:Body><soap:Body/>`, 1), nil, "Unexpected element"},
		{"content after envelope", valid + "<x/>", nil, "after the SOAP Envelope"},
		{"text in list", strings.Replace(valid, `<DocumentStatusChecks>`, `<DocumentStatusChecks>hello`, 1), nil, "unexpected text"},
		{"child of an item", strings.Replace(valid, `AuthToken="`+tokenA+`" />`, `AuthToken="`+tokenA+`"><Extra/></DocumentStatusCheck>`, 1), nil, "in DocumentStatusCheck 1"},
		{"no context", strings.Replace(valid, `ContextIdentifier="`+testContext+`" `, "", 1), nil, "DocumentStatusCheck 1 has no ContextIdentifier"},
		{"no id", strings.Replace(valid, ` Id="`+docA+`"`, "", 1), nil, "has no Id"},
		{"no token", strings.Replace(valid, ` AuthToken="`+tokenA+`"`, "", 1), nil, "has no AuthToken"},
		{"namespaced token", strings.Replace(valid, ` AuthToken=`, ` xmlns:p="urn:x" p:AuthToken=`, 1), nil, "has no AuthToken"},
		{"token not a GUID", checkStatusBody(req{testContext, docA, tokenA}, req{testContext, docB, "{" + tokenB + "}"}), nil, "AuthToken attribute of DocumentStatusCheck 2 is not a GUID"},
		{"token without hyphens", checkStatusBody(req{testContext, docA, strings.ReplaceAll(tokenA, "-", "")}), nil, "AuthToken attribute of DocumentStatusCheck 1 is not a GUID"},
		{"id not a GUID", checkStatusBody(req{testContext, "42", tokenA}), nil, "Id attribute"},
		{"context not a GUID", checkStatusBody(req{"acme", docA, tokenA}), nil, "ContextIdentifier attribute"},
		{"empty token", checkStatusBody(req{testContext, docA, ""}), nil, "AuthToken attribute"},
	}
	s := newTestSimulator()
	srv := startServer(t, s)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := soapRequest(t, srv.URL, tt.body)
			for k, v := range tt.header {
				if v == "" {
					r.Header.Del(k)
				} else {
					r.Header.Set(k, v)
				}
			}
			resp, body := do(t, srv.Client(), r)
			assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
			assert.Equal(t, "text/xml; charset=utf-8", resp.Header.Get("Content-Type"))
			env := decodeEnvelope(t, body)
			require.NotNil(t, env.Body.Fault, "no Fault in %s", body)
			assert.Equal(t, "s:Client", env.Body.Fault.Code)
			assert.Contains(t, env.Body.Fault.String, tt.want)
			for _, secret := range []string{tokenA, tokenB, testContext, tokenA[1:], strings.ReplaceAll(tokenA, "-", "")} {
				assert.NotContains(t, string(body), secret[:20], "a fault must not echo a request's secrets")
			}
		})
	}
	assert.Empty(t, s.Stats().DocumentsPerRequest, "rejected requests are not well-formed CheckStatus requests")
	assert.Equal(t, len(tests), s.Stats().Requests)
}

func TestRejectsOtherMethods(t *testing.T) {
	srv := startServer(t, newTestSimulator())
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodHead} {
		r, err := http.NewRequest(m, srv.URL+CheckStatusPath, nil)
		require.NoError(t, err)
		resp, _ := do(t, srv.Client(), r)
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, m)
		assert.Equal(t, "POST", resp.Header.Get("Allow"))
	}
}

// TestAnswers404OnAnotherPath: WCF serves each operation at its own path and
// answers any other with a 404 page, which is how a wrong endpoint path shows.
func TestAnswers404OnAnotherPath(t *testing.T) {
	s := newTestSimulator()
	srv := startServer(t, s)
	body := checkStatusBody(req{testContext, docA, tokenA})
	for _, path := range []string{"/", "/Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus", CheckStatusPath + "/", "/Documents" + CheckStatusPath, "/Services/DocumentNOW/v2/DocumentNOW.svc/Envelope/text"} {
		r := soapRequest(t, srv.URL, body)
		r.URL.Path = path
		resp, b := do(t, srv.Client(), r)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, path)
		assert.Equal(t, "text/html; charset=UTF-8", resp.Header.Get("Content-Type"), path)
		assert.Contains(t, string(b), "Endpoint not found.", path)
	}
	assert.Equal(t, 5, s.Stats().Requests, "every request is counted")
	assert.Zero(t, s.Stats().Documents, "none reached CheckStatus")
	for _, path := range []string{CheckStatusPath, strings.ToLower(CheckStatusPath)} {
		r := soapRequest(t, srv.URL, body)
		r.URL.Path = path
		resp, _ := do(t, srv.Client(), r)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "CheckStatus's own path, in any case: %s", path)
	}
}

func TestRejectsOversizeRequest(t *testing.T) {
	s := newTestSimulator()
	srv := startServer(t, s)
	valid := checkStatusBody(req{testContext, docA, tokenA})
	body := strings.Replace(valid, "<DocumentStatusChecks>", "<DocumentStatusChecks>"+strings.Repeat(" ", MaxRequestBody), 1)
	resp, b := do(t, srv.Client(), soapRequest(t, srv.URL, body))
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	env := decodeEnvelope(t, b)
	require.NotNil(t, env.Body.Fault)
	assert.Equal(t, "s:Client", env.Body.Fault.Code)
	assert.Contains(t, env.Body.Fault.String, "exceeds the maximum size")
}

func TestAcceptsWireVariations(t *testing.T) {
	s := newTestSimulator()
	srv := startServer(t, s)
	valid := checkStatusBody(req{testContext, docA, tokenA})
	tests := []struct {
		name, body, contentType, action string
		want                            int // results
	}{
		{"sample shape", valid, "", "", 1},
		{"unquoted SOAPAction", valid, "", assuresign.CheckStatusAction, 1},
		{"no charset", valid, "text/xml", "", 1},
		{"upper-case charset", valid, `text/xml; charset="UTF-8"`, "", 1},
		{"s prefix, SOAP header", strings.NewReplacer("soap:", "s:", "xmlns:soap", "xmlns:s").Replace(strings.Replace(valid, "<soap:Body>", `<soap:Header><Auth xmlns="urn:x"><Token>x</Token></Auth></soap:Header><soap:Body>`, 1)), "", "", 1},
		{"default namespaces", `<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body><CheckStatus xmlns="https://www.assuresign.net/Services/DocumentNOW/CheckStatus"><DocumentStatusChecks><DocumentStatusCheck ContextIdentifier="` + testContext + `" Id="` + docA + `" AuthToken="` + tokenA + `"></DocumentStatusCheck></DocumentStatusChecks></CheckStatus></Body></Envelope>`, "", "", 1},
		{"prefixed operation", `<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="https://www.assuresign.net/Services/DocumentNOW/CheckStatus"><e:Body><c:CheckStatus><c:DocumentStatusChecks><c:DocumentStatusCheck ContextIdentifier="` + testContext + `" Id="` + docA + `" AuthToken="` + tokenA + `"/></c:DocumentStatusChecks></c:CheckStatus></e:Body></e:Envelope>`, "", "", 1},
		{"byte-order mark and comments", "\xef\xbb\xbf" + strings.Replace(valid, "<DocumentStatusChecks>", "<DocumentStatusChecks><!-- batch 1 -->", 1) + "\n<!-- end -->\n", "", "", 1},
		{"lower-case GUIDs", checkStatusBody(req{strings.ToLower(testContext), strings.ToLower(docA), strings.ToLower(tokenA)}), "", "", 1},
		{"unknown attribute", strings.Replace(valid, "<DocumentStatusCheck ", `<DocumentStatusCheck Extra="1" `, 1), "", "", 1},
		{"no checks", checkStatusBody(), "", "", 0},
		{"no list", `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><CheckStatus xmlns="https://www.assuresign.net/Services/DocumentNOW/CheckStatus"/></s:Body></s:Envelope>`, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := soapRequest(t, srv.URL, tt.body)
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			if tt.action != "" {
				r.Header.Set("SOAPAction", tt.action)
			}
			resp, body := do(t, srv.Client(), r)
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
			got := results(t, body)
			require.Len(t, got, tt.want)
			if tt.want == 1 {
				st, _ := got[0].attr("StatusType")
				assert.Equal(t, "SigningStepInProgress", st)
			}
		})
	}
}

// --- answers ---

func TestAnswerShape(t *testing.T) {
	s := newTestSimulator()
	srv := startServer(t, s)
	resp, body := do(t, srv.Client(), soapRequest(t, srv.URL, checkStatusBody(
		req{testContext, docA, tokenA},
		req{strings.ToLower(testContext), strings.ToLower(docB), tokenB}, // stored lower case, asked mixed
		req{testContext, docC, tokenC},
	)))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/xml; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, int64(len(body)), resp.ContentLength)
	assert.True(t, strings.HasPrefix(string(body),
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><CheckStatusResponse xmlns="https://www.assuresign.net/Services/DocumentNOW/CheckStatus"><DocumentStatusCheckResults>`),
		"%s", body)
	// The vendor's sample result, to the byte.
	assert.Contains(t, string(body), `<DocumentStatusCheckResult Id="`+docA+`" StatusDate="2008-03-19T11:24:08.5231954-04:00" StatusType="SigningStepInProgress" StatusDetails="Step 2"/>`)

	got := results(t, body)
	require.Len(t, got, 3)
	wantIDs := []string{docA, docB, docC}
	for i, r := range got {
		id, _ := r.attr("Id")
		assert.Equal(t, wantIDs[i], id, "results in request order, Ids upper case")
		date, ok := r.attr("StatusDate")
		assert.True(t, ok)
		assert.Regexp(t, dateRE, date)
		parsed, err := time.Parse(time.RFC3339Nano, date)
		require.NoError(t, err)
		assert.True(t, parsed.Equal(sampleDate) || parsed.Equal(sampleDate.Add(time.Hour)))
	}

	st, _ := got[0].attr("StatusType")
	assert.Equal(t, "SigningStepInProgress", st)
	details, ok := got[0].attr("StatusDetails")
	assert.True(t, ok)
	assert.Equal(t, "Step 2", details)
	assert.Nil(t, got[0].Exceptions, "no Exceptions element without exceptions")

	st, _ = got[1].attr("StatusType")
	assert.Equal(t, "Completed", st)
	_, ok = got[1].attr("StatusDetails")
	assert.False(t, ok, "StatusDetails only while SigningStepInProgress")

	st, _ = got[2].attr("StatusType")
	assert.Equal(t, "Created", st)
	require.NotNil(t, got[2].Exceptions)
	require.Len(t, got[2].Exceptions.Items, 1)
	assert.Equal(t, "Warning", got[2].Exceptions.Items[0].Severity)
	assert.Equal(t, `Reminder <not> sent & "queued"`, got[2].Exceptions.Items[0].Text)

	st1 := s.Stats()
	assert.Equal(t, 1, st1.Requests)
	assert.Equal(t, []int{3}, st1.DocumentsPerRequest)
	assert.Equal(t, 3, st1.Documents)
}

func TestAnswerEdgeDocuments(t *testing.T) {
	s := New(testContext)
	s.Put(Document{ID: docA, AuthToken: tokenA, RawStatus: "OnHold", Status: assuresign.StatusSigningStepInProgress, Step: 3, StatusDate: sampleDate})
	s.Put(Document{ID: docB, AuthToken: tokenB}) // no status, no date
	s.Put(Document{ID: docC, AuthToken: tokenC, Status: assuresign.StatusSigningStepInProgress, StatusDate: sampleDate.UTC(),
		Exceptions: []assuresign.Exception{{Severity: assuresign.SeverityFatal, Message: "a"}, {Severity: assuresign.SeverityError, Message: "b"}}})
	srv := startServer(t, s)
	_, body := do(t, srv.Client(), soapRequest(t, srv.URL, checkStatusBody(
		req{testContext, docA, tokenA}, req{testContext, docB, tokenB}, req{testContext, docC, tokenC}, req{testContext, docA, tokenA})))
	got := results(t, body)
	require.Len(t, got, 4, "a repeated document is answered twice")

	st, _ := got[0].attr("StatusType")
	assert.Equal(t, "OnHold", st, "RawStatus verbatim")
	details, _ := got[0].attr("StatusDetails")
	assert.Equal(t, "Step 3", details, "StatusDetails follows Status, not RawStatus")

	assert.Len(t, got[1].Attrs, 1, "only Id for a document without status or date: %v", got[1].Attrs)

	date, _ := got[2].attr("StatusDate")
	assert.Equal(t, "2008-03-19T15:24:08.5231954+00:00", date)
	_, ok := got[2].attr("StatusDetails")
	assert.False(t, ok, "no StatusDetails without a step")
	require.NotNil(t, got[2].Exceptions)
	require.Len(t, got[2].Exceptions.Items, 2)
	assert.Equal(t, "Fatal", got[2].Exceptions.Items[0].Severity)
	assert.Equal(t, "Error", got[2].Exceptions.Items[1].Severity)
}

func TestDeniedDocuments(t *testing.T) {
	s := newTestSimulator()
	srv := startServer(t, s)
	_, body := do(t, srv.Client(), soapRequest(t, srv.URL, checkStatusBody(
		req{otherGUID, docA, tokenA},                          // another account's ContextIdentifier
		req{testContext, docA, tokenB},                        // another document's AuthToken
		req{testContext, strings.ToLower(unknownDoc), tokenA}, // no such document
		req{testContext, docB, tokenB},                        // fine
	)))
	got := results(t, body)
	require.Len(t, got, 4)
	wantMsg := []string{"ContextIdentifier", "AuthToken", "not found"}
	for i, want := range wantMsg {
		r := got[i]
		require.Len(t, r.Attrs, 1, "only Id: %v", r.Attrs)
		id, _ := r.attr("Id")
		assert.Equal(t, []string{docA, docA, unknownDoc}[i], id)
		require.NotNil(t, r.Exceptions)
		require.Len(t, r.Exceptions.Items, 1)
		assert.Equal(t, "Error", r.Exceptions.Items[0].Severity)
		assert.Contains(t, r.Exceptions.Items[0].Text, want)
	}
	for _, secret := range []string{tokenA, tokenB, otherGUID, testContext} {
		assert.NotContains(t, strings.ToUpper(string(body)), secret, "an answer must not echo secrets")
	}
	st, _ := got[3].attr("StatusType")
	assert.Equal(t, "Completed", st)
	assert.Equal(t, []int{4}, s.Stats().DocumentsPerRequest)
	assert.Equal(t, map[string]int{docA: 2, unknownDoc: 1, docB: 1}, s.Stats().PerDocument, "per upper-case Id, unknown ones too")
}

func TestOptions(t *testing.T) {
	s := newTestSimulator()
	srv := startServer(t, s)
	ask := func(t *testing.T, o Options) (*http.Response, []byte) {
		s.SetOptions(o)
		return do(t, srv.Client(), soapRequest(t, srv.URL, checkStatusBody(req{testContext, docA, tokenA}, req{testContext, docB, tokenB})))
	}
	t.Run("BOM", func(t *testing.T) {
		_, body := ask(t, Options{BOM: true})
		assert.True(t, bytes.HasPrefix(body, []byte("\xef\xbb\xbf<s:Envelope ")))
		assert.Len(t, results(t, body), 2)
	})
	t.Run("soap prefix", func(t *testing.T) {
		_, body := ask(t, Options{Prefix: "soap"})
		assert.True(t, strings.HasPrefix(string(body), `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>`))
		assert.Len(t, results(t, body), 2)
	})
	t.Run("no prefix", func(t *testing.T) {
		_, body := ask(t, Options{Prefix: NoPrefix})
		assert.True(t, strings.HasPrefix(string(body), `<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body>`))
		assert.Len(t, results(t, body), 2)
	})
	t.Run("lower-case Ids", func(t *testing.T) {
		_, body := ask(t, Options{LowerCaseIDs: true})
		got := results(t, body)
		id, _ := got[0].attr("Id")
		assert.Equal(t, strings.ToLower(docA), id)
	})
	t.Run("no offset", func(t *testing.T) {
		_, body := ask(t, Options{NoOffset: true})
		date, _ := results(t, body)[0].attr("StatusDate")
		assert.Equal(t, "2008-03-19T11:24:08.5231954", date)
		assert.Regexp(t, dateNoOffsetRE, date)
	})
	t.Run("nil result", func(t *testing.T) {
		_, body := ask(t, Options{NilResults: true})
		got := results(t, body)
		require.Len(t, got, 3)
		assert.True(t, got[1].isNil())
		assert.False(t, got[0].isNil())
		assert.False(t, got[2].isNil())
		id, _ := got[2].attr("Id")
		assert.Equal(t, docB, id)
	})
	t.Run("chunked", func(t *testing.T) {
		resp, body := ask(t, Options{Chunked: true})
		assert.Equal(t, int64(-1), resp.ContentLength)
		assert.Equal(t, []string{"chunked"}, resp.TransferEncoding)
		assert.Len(t, results(t, body), 2)
	})
	t.Run("prefixed fault", func(t *testing.T) {
		for _, p := range []string{"soap", NoPrefix} {
			s.SetOptions(Options{Prefix: p})
			r := soapRequest(t, srv.URL, checkStatusBody(req{testContext, docA, "x"}))
			resp, body := do(t, srv.Client(), r)
			assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
			env := decodeEnvelope(t, body)
			require.NotNil(t, env.Body.Fault, "%s", body)
			assert.True(t, strings.HasSuffix(env.Body.Fault.Code, ":Client"))
			// faultcode's prefix must be bound to the SOAP envelope namespace.
			d := xml.NewDecoder(bytes.NewReader(body))
			bound := map[string]string{}
			for {
				tok, err := d.RawToken()
				if err != nil {
					break
				}
				if se, ok := tok.(xml.StartElement); ok {
					for _, a := range se.Attr {
						if a.Name.Space == "xmlns" {
							bound[a.Name.Local] = a.Value
						}
					}
				}
			}
			prefix := strings.TrimSuffix(env.Body.Fault.Code, ":Client")
			assert.Equal(t, assuresign.SOAPEnvelopeNS, bound[prefix], "%s", body)
		}
	})
}

// --- faults ---

func TestFaults(t *testing.T) {
	s := newTestSimulator()
	srv := startServer(t, s)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	ask := func(t *testing.T, f Fault) (*http.Response, []byte, error) {
		t.Helper()
		s.SetFault(f)
		t.Cleanup(s.ClearFault)
		resp, err := client.Do(soapRequest(t, srv.URL, checkStatusBody(
			req{testContext, docA, tokenA}, req{testContext, docB, tokenB}, req{testContext, docC, tokenC}, req{testContext, unknownDoc, tokenA})))
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp, body, err
	}

	t.Run("http500", func(t *testing.T) {
		resp, body, err := ask(t, Fault{Kind: FaultHTTP500})
		require.NoError(t, err)
		assert.Equal(t, 500, resp.StatusCode)
		assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
		assert.Contains(t, string(body), "<html")
	})
	t.Run("429", func(t *testing.T) {
		resp, _, err := ask(t, Fault{Kind: FaultTooManyRequests, RetryAfter: 1500 * time.Millisecond})
		require.NoError(t, err)
		assert.Equal(t, 429, resp.StatusCode)
		assert.Equal(t, "2", resp.Header.Get("Retry-After"), "whole seconds, rounded up")
		resp, _, err = ask(t, Fault{Kind: FaultTooManyRequests, RetryAfter: 3 * time.Second})
		require.NoError(t, err)
		assert.Equal(t, "3", resp.Header.Get("Retry-After"))
		resp, _, err = ask(t, Fault{Kind: FaultTooManyRequests})
		require.NoError(t, err)
		assert.Equal(t, 429, resp.StatusCode)
		assert.Empty(t, resp.Header.Values("Retry-After"))
	})
	t.Run("soap_fault", func(t *testing.T) {
		resp, body, err := ask(t, Fault{Kind: FaultSOAPFault})
		require.NoError(t, err)
		assert.Equal(t, 500, resp.StatusCode)
		assert.Equal(t, "text/xml; charset=utf-8", resp.Header.Get("Content-Type"))
		env := decodeEnvelope(t, body)
		require.NotNil(t, env.Body.Fault)
		assert.Equal(t, "s:Server", env.Body.Fault.Code)
		assert.NotEmpty(t, env.Body.Fault.String)
	})
	t.Run("malformed", func(t *testing.T) {
		resp, body, err := ask(t, Fault{Kind: FaultMalformedXML})
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "text/xml; charset=utf-8", resp.Header.Get("Content-Type"))
		assert.True(t, strings.HasPrefix(string(body), "<s:Envelope"))
		var env xmlEnvelope
		var se *xml.SyntaxError
		assert.ErrorAs(t, xml.Unmarshal(body, &env), &se)
	})
	t.Run("truncated", func(t *testing.T) {
		s.SetFault(Fault{Kind: FaultTruncatedBody})
		t.Cleanup(s.ClearFault)
		resp, err := client.Do(soapRequest(t, srv.URL, checkStatusBody(req{testContext, docA, tokenA}, req{testContext, docB, tokenB})))
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "text/xml; charset=utf-8", resp.Header.Get("Content-Type"))
		body, err := io.ReadAll(resp.Body)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.Equal(t, resp.ContentLength/2, int64(len(body)), "half of the declared length")
		assert.True(t, strings.HasPrefix(string(body), "<s:Envelope"))
	})
	t.Run("html", func(t *testing.T) {
		resp, body, err := ask(t, Fault{Kind: FaultHTMLMaintenance})
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
		assert.Contains(t, string(body), "Maintenance")
	})
	t.Run("oversize", func(t *testing.T) {
		resp, body, err := ask(t, Fault{Kind: FaultOversizeBody, Size: 300_000})
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "text/xml; charset=utf-8", resp.Header.Get("Content-Type"))
		assert.Equal(t, int64(-1), resp.ContentLength, "chunked: the size is only known by reading")
		assert.Len(t, body, 300_000)
		assert.True(t, strings.HasPrefix(string(body), `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><CheckStatusResponse`))
		_, body, err = ask(t, Fault{Kind: FaultOversizeBody})
		require.NoError(t, err)
		assert.Len(t, body, DefaultOversize)
	})
	t.Run("slow_drip", func(t *testing.T) {
		s.SetFault(Fault{Kind: FaultSlowDrip})
		t.Cleanup(s.ClearFault)
		ctx, cancel := context.WithTimeout(context.Background(), 650*time.Millisecond)
		defer cancel()
		resp, err := client.Do(soapRequest(t, srv.URL, checkStatusBody(req{testContext, docA, tokenA})).WithContext(ctx))
		require.NoError(t, err, "headers come at once")
		defer resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "text/xml; charset=utf-8", resp.Header.Get("Content-Type"))
		start := time.Now()
		body, err := io.ReadAll(resp.Body)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.GreaterOrEqual(t, time.Since(start), 400*time.Millisecond)
		assert.NotEmpty(t, body)
		assert.LessOrEqual(t, len(body), 8, "a byte every 100 ms")
		assert.True(t, strings.HasPrefix("<s:Envelope", string(body)), "%q", body)
	})
	t.Run("missing_results", func(t *testing.T) {
		resp, body, err := ask(t, Fault{Kind: FaultMissingResults})
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
		got := results(t, body)
		require.Len(t, got, 2)
		id0, _ := got[0].attr("Id")
		id1, _ := got[1].attr("Id")
		assert.Equal(t, []string{docA, docC}, []string{id0, id1})
	})
	t.Run("close", func(t *testing.T) {
		before := s.Stats().Requests
		_, _, err := ask(t, Fault{Kind: FaultCloseConnection, Times: 1})
		require.Error(t, err)
		assert.Equal(t, before+1, s.Stats().Requests)
	})
	t.Run("faults count as requests", func(t *testing.T) {
		s.ResetStats()
		_, _, err := ask(t, Fault{Kind: FaultHTTP500})
		require.NoError(t, err)
		st := s.Stats()
		assert.Equal(t, 1, st.Requests)
		assert.Equal(t, []int{4}, st.DocumentsPerRequest, "a well-formed request is counted even when the answer is spoiled")
	})
	t.Run("other methods fault too", func(t *testing.T) {
		s.SetFault(Fault{Kind: FaultHTMLMaintenance})
		t.Cleanup(s.ClearFault)
		resp, err := client.Get(srv.URL + CheckStatusPath)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	})
	t.Run("invalid request under missing_results", func(t *testing.T) {
		s.SetFault(Fault{Kind: FaultMissingResults})
		t.Cleanup(s.ClearFault)
		resp, body := do(t, client, soapRequest(t, srv.URL, checkStatusBody(req{testContext, docA, "x"})))
		assert.Equal(t, 500, resp.StatusCode)
		assert.NotNil(t, decodeEnvelope(t, body).Body.Fault)
	})
}

func TestFaultsWithOptions(t *testing.T) {
	s := newTestSimulator()
	s.SetOptions(Options{Prefix: "soap", BOM: true})
	srv := startServer(t, s)
	s.SetFault(Fault{Kind: FaultSOAPFault})
	_, body := do(t, srv.Client(), soapRequest(t, srv.URL, checkStatusBody(req{testContext, docA, tokenA})))
	env := decodeEnvelope(t, body)
	require.NotNil(t, env.Body.Fault)
	assert.Equal(t, "soap:Server", env.Body.Fault.Code)

	s.SetFault(Fault{Kind: FaultTruncatedBody})
	resp, err := srv.Client().Do(soapRequest(t, srv.URL, checkStatusBody(req{testContext, docA, tokenA})))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.True(t, bytes.HasPrefix(b, []byte("\xef\xbb\xbf<soap:Envelope")))
}

func TestFaultTimesClearsItself(t *testing.T) {
	s := newTestSimulator()
	srv := startServer(t, s)
	s.SetFault(Fault{Kind: FaultHTTP500, Times: 2})
	var codes []int
	for range 4 {
		resp, _ := do(t, srv.Client(), soapRequest(t, srv.URL, checkStatusBody(req{testContext, docA, tokenA})))
		codes = append(codes, resp.StatusCode)
	}
	assert.Equal(t, []int{500, 500, 200, 200}, codes)

	s.SetFault(Fault{Kind: FaultTooManyRequests}) // Times 0: until cleared
	for range 3 {
		resp, _ := do(t, srv.Client(), soapRequest(t, srv.URL, checkStatusBody(req{testContext, docA, tokenA})))
		assert.Equal(t, 429, resp.StatusCode)
	}
	s.ClearFault()
	resp, _ := do(t, srv.Client(), soapRequest(t, srv.URL, checkStatusBody(req{testContext, docA, tokenA})))
	assert.Equal(t, 200, resp.StatusCode)

	s.SetFault(Fault{Kind: FaultNone, Times: 3}) // FaultNone clears
	resp, _ = do(t, srv.Client(), soapRequest(t, srv.URL, checkStatusBody(req{testContext, docA, tokenA})))
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, 9, s.Stats().Requests)
}

func TestParseFaultKind(t *testing.T) {
	want := map[string]FaultKind{
		"http500": FaultHTTP500, "429": FaultTooManyRequests, "soap_fault": FaultSOAPFault, "malformed": FaultMalformedXML,
		"truncated": FaultTruncatedBody, "html": FaultHTMLMaintenance, "oversize": FaultOversizeBody, "slow_drip": FaultSlowDrip,
		"missing_results": FaultMissingResults, "close": FaultCloseConnection, "none": FaultNone, "HTTP500": FaultHTTP500,
	}
	for name, k := range want {
		got, err := ParseFaultKind(name)
		require.NoError(t, err, name)
		assert.Equal(t, k, got, name)
		assert.Equal(t, strings.ToLower(name), got.String())
	}
	_, err := ParseFaultKind("timeout")
	assert.ErrorContains(t, err, `unknown fault kind "timeout"`)
	assert.Equal(t, "FaultKind(99)", FaultKind(99).String())
}

// --- latency, stats, store, concurrency ---

func TestLatency(t *testing.T) {
	s := newTestSimulator()
	srv := startServer(t, s)
	s.SetLatency(150 * time.Millisecond)
	start := time.Now()
	resp, _ := do(t, srv.Client(), soapRequest(t, srv.URL, checkStatusBody(req{testContext, docA, tokenA})))
	assert.Equal(t, 200, resp.StatusCode)
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)

	// A client that gives up ends the wait: the handler returns at once.
	s.SetLatency(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := srv.Client().Do(soapRequest(t, srv.URL, checkStatusBody(req{testContext, docA, tokenA})).WithContext(ctx))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	s.SetLatency(0)
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a handler still waits after its client left")
	}
	assert.Equal(t, 2, s.Stats().Requests)
}

func TestStats(t *testing.T) {
	s := newTestSimulator()
	srv := startServer(t, s)
	do(t, srv.Client(), soapRequest(t, srv.URL, checkStatusBody(req{testContext, docA, tokenA}, req{testContext, docB, tokenB})))
	do(t, srv.Client(), soapRequest(t, srv.URL, checkStatusBody(req{testContext, unknownDoc, tokenA})))
	do(t, srv.Client(), soapRequest(t, srv.URL, "not xml"))
	do(t, srv.Client(), soapRequest(t, srv.URL, checkStatusBody()))
	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()

	st := s.Stats()
	assert.Equal(t, Stats{Requests: 5, DocumentsPerRequest: []int{2, 1, 0}, Documents: 3,
		PerDocument: map[string]int{docA: 1, docB: 1, unknownDoc: 1}}, st)
	st.DocumentsPerRequest[0] = 99
	st.PerDocument[docA] = 99
	assert.Equal(t, 2, s.Stats().DocumentsPerRequest[0], "Stats returns a copy")
	assert.Equal(t, 1, s.Stats().PerDocument[docA], "Stats returns a copy")
	s.ResetStats()
	assert.Equal(t, Stats{}, s.Stats())
}

func TestStore(t *testing.T) {
	s := New(testContext)
	assert.Equal(t, testContext, s.ContextIdentifier())
	_, ok := s.Get(docA)
	assert.False(t, ok)
	assert.False(t, s.Update(docA, func(*Document) { t.Fatal("no document to update") }))

	exc := []assuresign.Exception{{Severity: assuresign.SeverityWarning, Message: "w"}}
	s.Put(Document{ID: docB, AuthToken: tokenB, Status: assuresign.StatusCreated, Exceptions: exc})
	s.Put(Document{ID: strings.ToLower(docA), AuthToken: tokenA, Status: assuresign.StatusCreated})
	exc[0].Message = "changed by the caller"
	d, ok := s.Get(docB)
	require.True(t, ok)
	assert.Equal(t, "w", d.Exceptions[0].Message, "Put copies")
	d.Exceptions[0].Message = "changed again"
	d, _ = s.Get(strings.ToLower(docB))
	assert.Equal(t, "w", d.Exceptions[0].Message, "Get copies")

	docs := s.Documents()
	require.Len(t, docs, 2)
	assert.Equal(t, strings.ToLower(docA), docs[0].ID, "sorted by ID, stored as given")
	assert.Equal(t, docB, docs[1].ID)

	assert.True(t, s.Update(docA, func(d *Document) { d.Status, d.Step = assuresign.StatusSigningStepInProgress, 1 }))
	d, _ = s.Get(docA)
	assert.Equal(t, assuresign.StatusSigningStepInProgress, d.Status)

	s.Put(Document{ID: docA, AuthToken: tokenC, Status: assuresign.StatusCompleted}) // replace
	d, _ = s.Get(docA)
	assert.Equal(t, tokenC, d.AuthToken)
	assert.Len(t, s.Documents(), 2)

	assert.True(t, s.Update(docA, func(d *Document) { d.ID = docC }))
	_, ok = s.Get(docA)
	assert.False(t, ok)
	_, ok = s.Get(docC)
	assert.True(t, ok)
}

func TestConcurrentUse(t *testing.T) {
	s := New(testContext)
	for _, d := range DemoDocuments(50, 7) {
		s.Put(d)
	}
	docs := s.Documents()
	srv := startServer(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.RunLifecycle(ctx, time.Millisecond, 1)

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				var checks []req
				for _, d := range docs[(g*5+i)%40 : (g*5+i)%40+10] {
					checks = append(checks, req{testContext, d.ID, d.AuthToken})
				}
				resp, err := srv.Client().Do(soapRequest(t, srv.URL, checkStatusBody(checks...)))
				if !assert.NoError(t, err) {
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.Equal(t, 200, resp.StatusCode, "%s", body)
				s.Update(docs[i].ID, func(d *Document) {})
				_ = s.Stats()
				_ = s.Documents()
				s.SetOptions(Options{LowerCaseIDs: i%2 == 0})
			}
		}()
	}
	wg.Wait()
	st := s.Stats()
	assert.Equal(t, 80, st.Requests)
	assert.Equal(t, 800, st.Documents)
}

// --- life cycle ---

func TestAdvanceLifecycle(t *testing.T) {
	s := New(testContext)
	for _, d := range DemoDocuments(300, 42) {
		s.Put(d)
	}
	// Fixtures the life cycle must leave alone.
	s.Put(Document{ID: otherGUID, AuthToken: tokenA, RawStatus: "Bogus", Status: assuresign.StatusCreated})
	s.Put(Document{ID: unknownDoc, AuthToken: tokenA})
	s.Put(Document{ID: heldDoc, AuthToken: tokenA, Status: assuresign.StatusSigningStepInProgress, Step: 2, Hold: true})

	rng := rand.New(rand.NewSource(3))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := map[string]Document{}
	for _, d := range s.Documents() {
		prev[d.ID] = d
	}
	seenStatus := map[assuresign.Status]bool{}
	seenWarning := false
	authFailedTicks := map[string]int{}
	for tick := 1; tick <= 400; tick++ {
		now = now.Add(5 * time.Second)
		s.Advance(rng, now)
		for _, d := range s.Documents() {
			p := prev[d.ID]
			seenStatus[d.Status] = true
			if len(d.Exceptions) > 0 && d.Exceptions[0].Severity == assuresign.SeverityWarning {
				seenWarning = true
			}
			if p.Status.Terminal() || p.Hold || p.RawStatus != "" || p.Status == assuresign.StatusUnknown {
				if p.Status != d.Status || p.Step != d.Step || !p.StatusDate.Equal(d.StatusDate) || len(p.Exceptions) != len(d.Exceptions) {
					t.Fatalf("tick %d: %s must never change; now %+v", tick, p.Status, d)
				}
				continue
			}
			changed := d.Status != p.Status || d.Step != p.Step
			if changed {
				if !d.StatusDate.Equal(now) {
					t.Fatalf("tick %d: StatusDate must be now at every change: %+v", tick, d)
				}
				checkTransition(t, p, d)
			} else if !d.StatusDate.Equal(p.StatusDate) {
				t.Fatalf("tick %d: StatusDate changed without a change: %+v", tick, d)
			}
			if d.Status == assuresign.StatusSignerAuthenticationFailed {
				authFailedTicks[d.ID]++
				if authFailedTicks[d.ID] > 2 {
					t.Fatalf("tick %d: %s must return to its step a tick or two later", tick, d.ID)
				}
			} else {
				authFailedTicks[d.ID] = 0
			}
			if d.Status == assuresign.StatusSigningStepInProgress && (d.Step < 1 || d.Step > maxPlanSteps) {
				t.Fatalf("tick %d: step out of range: %+v", tick, d)
			}
		}
		for _, d := range s.Documents() {
			prev[d.ID] = d
		}
	}
	for _, st := range []assuresign.Status{assuresign.StatusCompleted, assuresign.StatusDeclined, assuresign.StatusExpired,
		assuresign.StatusCancelled, assuresign.StatusStaled, assuresign.StatusSignerAuthenticationFailed} {
		assert.True(t, seenStatus[st], "never saw %s", st)
	}
	assert.True(t, seenWarning, "never saw a warning")
	open := 0
	for _, d := range s.Documents() {
		if !d.Status.Terminal() && !d.Hold && d.RawStatus == "" && d.Status != assuresign.StatusUnknown {
			open++
		}
	}
	assert.Less(t, open, 10, "after 400 ticks nearly every document is closed")
}

func checkTransition(t *testing.T, from, to Document) {
	t.Helper()
	closing := to.Status == assuresign.StatusExpired || to.Status == assuresign.StatusCancelled
	switch from.Status {
	case assuresign.StatusCreated:
		ok := closing || to.Status == assuresign.StatusStaled ||
			to.Status == assuresign.StatusSigningStepInProgress && to.Step == 1
		if !ok {
			t.Fatalf("Created -> %s step %d", to.Status, to.Step)
		}
	case assuresign.StatusSigningStepInProgress:
		switch to.Status {
		case assuresign.StatusSigningStepInProgress:
			require.Equal(t, from.Step+1, to.Step, "steps go one at a time")
		case assuresign.StatusSignerAuthenticationFailed, assuresign.StatusDeclined, assuresign.StatusCompleted:
			require.Equal(t, from.Step, to.Step)
		default:
			require.True(t, closing, "SigningStepInProgress -> %s", to.Status)
		}
	case assuresign.StatusSignerAuthenticationFailed:
		ok := closing || to.Status == assuresign.StatusSigningStepInProgress && to.Step == max(from.Step, 1)
		require.True(t, ok, "SignerAuthenticationFailed step %d -> %s step %d", from.Step, to.Status, to.Step)
	default:
		t.Fatalf("unexpected change from %s", from.Status)
	}
}

// With 40 documents and a 5 s tick, most documents have moved and several
// are closed within 3 to 5 minutes, and the demo is not over by then.
func TestLifecycleTuning(t *testing.T) {
	for seed := int64(1); seed <= 6; seed++ {
		s := New(testContext)
		initial := DemoDocuments(40, seed)
		for _, d := range initial {
			s.Put(d)
		}
		rng := rand.New(rand.NewSource(seed))
		now := time.Now()
		count := func() (open, moved, closed int) {
			for _, d0 := range initial {
				if d0.Status.Terminal() {
					continue
				}
				open++
				d, _ := s.Get(d0.ID)
				if !d.StatusDate.Equal(d0.StatusDate) {
					moved++
				}
				if d.Status.Terminal() {
					closed++
				}
			}
			return
		}
		for tick := 1; tick <= 60; tick++ { // 5 minutes
			s.Advance(rng, now.Add(time.Duration(tick)*5*time.Second))
			if tick == 36 { // 3 minutes
				open, moved, closed := count()
				t.Logf("seed %d, 3 min: %d of %d open documents moved, %d closed", seed, moved, open, closed)
				assert.Greater(t, moved, open/2, "seed %d: most moved by 3 minutes", seed)
				assert.GreaterOrEqual(t, closed, 4, "seed %d: several closed by 3 minutes", seed)
				assert.Less(t, closed, open*2/3, "seed %d: not over by 3 minutes", seed)
			}
		}
		open, moved, closed := count()
		t.Logf("seed %d, 5 min: %d of %d open documents moved, %d closed", seed, moved, open, closed)
		assert.Greater(t, moved, open*2/3, "seed %d", seed)
		assert.Less(t, closed, open, "seed %d: some still open at 5 minutes", seed)
	}
}

func TestDemoDocuments(t *testing.T) {
	docs := DemoDocuments(200, 9)
	require.Len(t, docs, 200)
	again := DemoDocuments(200, 9)
	for i := range docs {
		a, b := docs[i], again[i]
		a.StatusDate, b.StatusDate = time.Time{}, time.Time{}
		assert.Equal(t, a, b, "deterministic for a seed, but for dates relative to now")
	}
	assert.NotEqual(t, docs[0].ID, DemoDocuments(1, 10)[0].ID)
	guid := regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)
	ids := map[string]bool{}
	open := 0
	for _, d := range docs {
		assert.Regexp(t, guid, d.ID)
		assert.Regexp(t, guid, d.AuthToken)
		assert.NotEqual(t, d.ID, d.AuthToken)
		assert.False(t, ids[d.ID], "unique IDs")
		ids[d.ID] = true
		assert.False(t, d.StatusDate.IsZero())
		assert.NotEqual(t, assuresign.StatusUnknown, d.Status)
		if d.Status == assuresign.StatusSigningStepInProgress {
			assert.GreaterOrEqual(t, d.Step, 1)
		}
		if d.Status == assuresign.StatusCreated || d.Status == assuresign.StatusSigningStepInProgress {
			open++
		}
	}
	assert.Greater(t, open, 150, "most Created or in progress")
	assert.Empty(t, DemoDocuments(0, 1))
}

func TestRunLifecycle(t *testing.T) {
	s := New(testContext)
	initial := DemoDocuments(20, 5)
	for _, d := range initial {
		s.Put(d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.RunLifecycle(ctx, time.Millisecond, 5); close(done) }()
	require.Eventually(t, func() bool {
		for _, d := range initial {
			got, _ := s.Get(d.ID)
			if !got.StatusDate.Equal(d.StatusDate) {
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunLifecycle did not return after its context ended")
	}
}

// The simulator serves through plain http.Handler plumbing: a recorder works
// for quick unit tests of callers.
func TestServeHTTPWithRecorder(t *testing.T) {
	s := newTestSimulator()
	r := httptest.NewRequest(http.MethodPost, CheckStatusPath, strings.NewReader(checkStatusBody(req{testContext, docA, tokenA})))
	r.Header.Set("Content-Type", "text/xml; charset=utf-8")
	r.Header.Set("SOAPAction", assuresign.CheckStatusAction)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	assert.Equal(t, 200, w.Code)
	assert.Len(t, results(t, w.Body.Bytes()), 1)

	for _, k := range []FaultKind{FaultTruncatedBody, FaultCloseConnection} {
		s.SetFault(Fault{Kind: k, Times: 1})
		r := httptest.NewRequest(http.MethodPost, CheckStatusPath, strings.NewReader(checkStatusBody(req{testContext, docA, tokenA})))
		r.Header.Set("Content-Type", "text/xml")
		r.Header.Set("SOAPAction", assuresign.CheckStatusAction)
		w := httptest.NewRecorder()
		assert.NotPanics(t, func() { s.ServeHTTP(w, r) }, k.String())
	}
}

// A connection the client closes mid-answer must not leave the handler
// running (slow drip is the fault most likely to).
func TestSlowDripEndsWhenClientLeaves(t *testing.T) {
	s := newTestSimulator()
	srv := startServer(t, s)
	s.SetFault(Fault{Kind: FaultSlowDrip})
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	body := checkStatusBody(req{testContext, docA, tokenA})
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nSOAPAction: %s\r\nContent-Length: %d\r\n\r\n%s",
		assuresign.CheckStatusAction, len(body), body)
	buf := make([]byte, 512)
	_, err = conn.Read(buf)
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("slow drip still running after the client left")
	}
}

// The client lists an envelope's documents from the simulator, whatever the
// wire variation; a faulting envelope, an unknown one and a wrong token are
// each a SOAP Fault for that envelope.
func TestListEnvelopeDocuments(t *testing.T) {
	sim := New(testContext)
	ids := []string{"3F2504E0-4F89-11D3-9A0C-0305E82C3301", "7C9E6679-7425-40DE-944B-E07FC1F90AE7", "16FD2706-8BAF-433B-82EB-8C7FADA847DA"}
	for i, id := range ids {
		sim.Put(Document{ID: id, AuthToken: fmt.Sprintf("A0000000-0000-4000-8000-00000000000%d", i), Status: assuresign.StatusCreated})
	}
	const envID, envToken = "9A1C3F5E-2B4D-4E6F-8A0B-1C2D3E4F5A6B", "5F1E2D3C-4B5A-4968-8776-A5B4C3D2E1F0"
	sim.PutEnvelope(Envelope{ID: envID, AuthToken: envToken, Documents: ids})
	sim.PutEnvelope(Envelope{ID: "0B2D4F6A-3C5E-4F70-9B1C-2D3E4F5A6B7C", AuthToken: envToken, Documents: ids[:1], Fault: true})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := assuresign.NewClient(assuresign.Config{Endpoint: srv.URL + "/Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text", MaxRetries: -1})
	require.NoError(t, err)
	for _, o := range []Options{{}, {BOM: true, Prefix: NoPrefix, LowerCaseIDs: true}, {Prefix: "soap", Chunked: true}} {
		sim.SetOptions(o)
		l, err := c.ListEnvelopeDocuments(t.Context(), assuresign.EnvelopeRequest{ID: strings.ToLower(envID), AuthToken: envToken, ContextIdentifier: testContext})
		require.NoError(t, err, "%+v", o)
		require.Len(t, l.Documents, 3)
		for i, d := range l.Documents {
			assert.Equal(t, ids[i], d.ID)
			assert.Equal(t, fmt.Sprintf("A0000000-0000-4000-8000-00000000000%d", i), d.AuthToken)
			assert.Equal(t, DocumentName(i+1), d.Name)
			assert.Equal(t, fmt.Sprint(i+1), d.OrderID)
		}
	}
	sim.SetOptions(Options{})
	for name, req := range map[string]assuresign.EnvelopeRequest{
		"faulting":      {ID: "0B2D4F6A-3C5E-4F70-9B1C-2D3E4F5A6B7C", AuthToken: envToken, ContextIdentifier: testContext},
		"unknown":       {ID: "00000000-3C5E-4F70-9B1C-2D3E4F5A6B7C", AuthToken: envToken, ContextIdentifier: testContext},
		"wrong token":   {ID: envID, AuthToken: "00000000-4B5A-4968-8776-A5B4C3D2E1F0", ContextIdentifier: testContext},
		"wrong context": {ID: envID, AuthToken: envToken, ContextIdentifier: "00000000-4B5A-4968-8776-A5B4C3D2E1F0"},
	} {
		_, err := c.ListEnvelopeDocuments(t.Context(), req)
		assert.Equal(t, "soap_fault", assuresign.Outcome(err), name)
	}
	st := sim.Stats()
	assert.Equal(t, 7, st.Listings)
	assert.Equal(t, 7, st.Requests)
	assert.Zero(t, st.Documents, "listings are not CheckStatus requests")
}

func TestDemoEnvelopes(t *testing.T) {
	envs, docs := DemoEnvelopes(6, 7)
	require.Len(t, envs, 6)
	n := 0
	for i, e := range envs {
		assert.GreaterOrEqual(t, len(e.Documents), 1)
		assert.LessOrEqual(t, len(e.Documents), 5)
		assert.Equal(t, i == 5, e.Fault, "the last one faults")
		assert.True(t, assuresign.IsGUID(e.ID) && assuresign.IsGUID(e.AuthToken))
		for _, id := range e.Documents {
			assert.Equal(t, docs[n].ID, id, "the documents, in envelope order")
			n++
		}
	}
	assert.Len(t, docs, n)
	again, _ := DemoEnvelopes(6, 7)
	assert.Equal(t, envs, again, "reproducible")
}
