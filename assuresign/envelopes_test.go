package assuresign

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

const envelopeA = "9A1C3F5E-2B4D-4E6F-8A0B-1C2D3E4F5A6B"

func envelopeFixture(t testing.TB, name string) []byte {
	t.Helper()
	return fixture(t, filepath.Join("envelopes", name))
}

// The reference's sample shape (lower-case GUIDs), written with each prefix
// convention, bare, and after a byte-order mark: the same three documents.
func TestParseListEnvelopeDocumentsShapes(t *testing.T) {
	cases := map[string][]byte{}
	for _, name := range []string{"list_s_prefix.xml", "list_soap_prefix.xml", "list_bare.xml"} {
		cases[name] = envelopeFixture(t, name)
	}
	cases["bom"] = append([]byte("\xEF\xBB\xBF"), envelopeFixture(t, "list_s_prefix.xml")...)
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			l, err := ParseListEnvelopeDocumentsResponse(body)
			require.NoError(t, err)
			assert.Equal(t, envelopeA, l.EnvelopeID)
			assert.Zero(t, l.Skipped)
			assert.Equal(t, []EnvelopeDocument{
				{ID: idA, AuthToken: "0b7a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d", Name: "Master agreement", OrderID: "1"},
				{ID: idB, AuthToken: "1c8b2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e", Name: "Schedule A", OrderID: "2"},
				{ID: idC, AuthToken: "2d9c3e4f-5a6b-4c7d-ae8f-9a0b1c2d3e4f", Name: "Schedule B", OrderID: "3"},
			}, l.Documents)
		})
	}
}

// Documents that cannot be checked are counted, not kept: a duplicate (by id,
// any case), a non-GUID id, no AuthToken, a nil item; items outside the result are ignored.
func TestParseListEnvelopeDocumentsUnusableItems(t *testing.T) {
	l, err := ParseListEnvelopeDocumentsResponse(envelopeFixture(t, "unusable_items.xml"))
	require.NoError(t, err)
	require.Len(t, l.Documents, 1)
	assert.Equal(t, EnvelopeDocument{ID: idA, AuthToken: "0b7a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d", Name: "Kept"}, l.Documents[0], "a non-numeric OrderId is dropped")
	assert.Equal(t, 4, l.Skipped)
}

func TestParseListEnvelopeDocumentsFailures(t *testing.T) {
	for name, kind := range map[string]ErrorKind{"fault.xml": KindSOAPFault, "truncated.xml": KindMalformed} {
		_, err := ParseListEnvelopeDocumentsResponse(envelopeFixture(t, name))
		requireKind(t, err, kind, Outcome(&Error{Kind: kind}))
	}
	// A CheckStatus answer is not a listing.
	_, err := ParseListEnvelopeDocumentsResponse(fixture(t, "success_s_prefix.xml"))
	requireKind(t, err, KindMalformed, "malformed")
	for _, name := range []string{"empty.xml", "nil_result.xml"} {
		l, err := ParseListEnvelopeDocumentsResponse(envelopeFixture(t, name))
		require.NoError(t, err, name)
		assert.Empty(t, l.Documents, name)
	}
}

// wireEnvelopeRequest reads a request by namespace and local name, as the service would.
type wireEnvelopeRequest struct {
	XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Body    struct {
		List struct {
			Request struct {
				ContextIdentifier string `xml:"ContextIdentifier,attr"`
				EnvelopeID        string `xml:"EnvelopeId,attr"`
				AuthToken         string `xml:"AuthToken,attr"`
			} `xml:"https://www.assuresign.net/Services/DocumentNOW/Envelopes ListEnvelopeDocumentsRequest"`
		} `xml:"https://www.assuresign.net/Services/DocumentNOW/Envelopes ListEnvelopeDocuments"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

func TestListEnvelopeDocumentsOnTheWire(t *testing.T) {
	var got wireEnvelopeRequest
	var header http.Header
	var path string
	srv, n := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		header, path = r.Header.Clone(), r.URL.Path
		body, _ := io.ReadAll(r.Body)
		require.NoError(t, xml.Unmarshal(body, &got), "request: %s", body)
		writeXML(w, http.StatusOK, envelopeFixture(t, "list_s_prefix.xml"))
	})
	h := newHarness(t, srv.URL+"/Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text", nil)
	assert.Equal(t, srv.URL+DefaultEnvelopesPath, h.c.EnvelopesEndpoint(), "defaults to the CheckStatus endpoint's scheme and host")
	req := EnvelopeRequest{ID: strings.ToLower(envelopeA), AuthToken: secretToken, ContextIdentifier: secretCtx}
	l, err := h.c.ListEnvelopeDocuments(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, int32(1), n.Load(), "one request per envelope")
	assert.Equal(t, DefaultEnvelopesPath, path)
	assert.Equal(t, `"`+ListEnvelopeDocumentsAction+`"`, header.Get("SOAPAction"))
	assert.Equal(t, "text/xml; charset=utf-8", header.Get("Content-Type"))
	assert.Equal(t, strings.ToLower(envelopeA), got.Body.List.Request.EnvelopeID)
	assert.Equal(t, secretToken, got.Body.List.Request.AuthToken)
	assert.Equal(t, secretCtx, got.Body.List.Request.ContextIdentifier)
	assert.Len(t, l.Documents, 3)
	assert.Equal(t, []string{"ok"}, h.obs.got(), "a listing is observed as every request is")
	assert.Equal(t, []string{OpListEnvelopeDocuments}, h.obs.ops())
}

// Every failure is an *Error the caller pins on the envelope; the secrets of
// the request never appear in it, even when the server echoes them.
func TestListEnvelopeDocumentsFailures(t *testing.T) {
	echoFault := fmt.Sprintf(`<s:Envelope xmlns:s="%s"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>bad token %s for %s</faultstring></s:Fault></s:Body></s:Envelope>`,
		SOAPEnvelopeNS, strings.ToUpper(secretToken), secretCtx)
	other := strings.ReplaceAll(string(envelopeFixture(t, "list_s_prefix.xml")), "9a1c3f5e", "0a1c3f5e")
	cases := []struct {
		name     string
		status   int
		body     string
		kind     ErrorKind
		outcome  string
		attempts int32
	}{
		{"fault with 500", http.StatusInternalServerError, echoFault, KindSOAPFault, "soap_fault", 1},
		{"fault with 200", http.StatusOK, echoFault, KindSOAPFault, "soap_fault", 1},
		{"HTTP 404", http.StatusNotFound, "not here " + secretToken, KindHTTPStatus, "http_4xx", 1},
		{"HTTP 503 retried", http.StatusServiceUnavailable, "", KindHTTPStatus, "http_5xx", 3},
		{"no documents", http.StatusOK, string(envelopeFixture(t, "empty.xml")), KindNoDocuments, "no_documents", 1},
		{"nil result", http.StatusOK, string(envelopeFixture(t, "nil_result.xml")), KindNoDocuments, "no_documents", 1},
		{"another envelope", http.StatusOK, other, KindMalformed, "malformed", 1},
	}
	secrets := testenv.NewSecrets(8, secretToken, secretCtx)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, n := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
				writeXML(w, tc.status, []byte(tc.body))
			})
			h := newHarness(t, srv.URL+"/CheckStatus/text", nil)
			_, err := h.c.ListEnvelopeDocuments(context.Background(), EnvelopeRequest{ID: envelopeA, AuthToken: secretToken, ContextIdentifier: secretCtx})
			requireKind(t, err, tc.kind, tc.outcome)
			assert.Equal(t, tc.attempts, n.Load())
			secrets.AssertNone(t, "error", err.Error())
			secrets.AssertNone(t, "log", h.logs.String())
		})
	}
}

// A listing is only believed when it holds exactly one result, naming the
// envelope asked about: a foreign result first must not bring its documents.
func TestListEnvelopeDocumentsOneResultWithTheRequestedID(t *testing.T) {
	result := func(id, docs string) string {
		attr := ""
		if id != "" {
			attr = ` EnvelopeId="` + id + `"`
		}
		return `<ListEnvelopeDocumentsResult` + attr + `><Documents>` + docs + `</Documents></ListEnvelopeDocumentsResult>`
	}
	answer := func(results ...string) string {
		return `<s:Envelope xmlns:s="` + SOAPEnvelopeNS + `"><s:Body><ListEnvelopeDocumentsResponse xmlns="` + EnvelopesNS + `">` +
			strings.Join(results, "") + `</ListEnvelopeDocumentsResponse></s:Body></s:Envelope>`
	}
	foreignDoc := `<EnvelopeDocument DocumentId="` + idB + `" AuthToken="` + otherToken + `" Name="Foreign" OrderId="1"/>`
	ownDoc := `<EnvelopeDocument DocumentId="` + idA + `" AuthToken="0b7a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d" Name="Own" OrderId="1"/>`
	const foreign = "0A1C3F5E-2B4D-4E6F-8A0B-1C2D3E4F5A6B"
	cases := []struct {
		name, body string
		kind       ErrorKind // 0: success
		detail     string
	}{
		{"foreign result first", answer(result(foreign, foreignDoc), result(envelopeA, "")), KindMalformed, "more than one"},
		{"two results, both right", answer(result(envelopeA, ownDoc), result(envelopeA, ownDoc)), KindMalformed, "more than one"},
		{"no result", answer(), KindMalformed, "no ListEnvelopeDocumentsResult"},
		{"no EnvelopeId", answer(result("", ownDoc)), KindMalformed, "names no envelope"},
		{"right id only", answer(result(strings.ToLower(envelopeA), ownDoc)), 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
				writeXML(w, http.StatusOK, []byte(tc.body))
			})
			h := newHarness(t, srv.URL+"/CheckStatus/text", nil)
			l, err := h.c.ListEnvelopeDocuments(context.Background(), EnvelopeRequest{ID: envelopeA, AuthToken: secretToken, ContextIdentifier: secretCtx})
			if tc.kind == 0 {
				require.NoError(t, err)
				assert.Equal(t, envelopeA, l.EnvelopeID)
				require.Len(t, l.Documents, 1)
				assert.Equal(t, idA, l.Documents[0].ID)
				return
			}
			requireKind(t, err, tc.kind, "malformed")
			assert.Contains(t, err.Error(), tc.detail)
			assert.Nil(t, l)
		})
	}
}

func TestEnvelopesEndpoint(t *testing.T) {
	assert.Equal(t, "https://ca1.assuresign.net"+DefaultEnvelopesPath, DefaultEnvelopesEndpoint("https://ca1.assuresign.net/Documents/Services/DocumentNOW/v2/DocumentNOW.svc/CheckStatus/text?x=1"))
	assert.Equal(t, "", DefaultEnvelopesEndpoint("not a url"))
	c, err := NewClient(Config{})
	require.NoError(t, err)
	assert.Equal(t, "https://www.assuresign.net"+DefaultEnvelopesPath, c.EnvelopesEndpoint())
	c, err = NewClient(Config{EnvelopesEndpoint: "https://sb.assuresign.net/Documents" + DefaultEnvelopesPath})
	require.NoError(t, err)
	assert.Equal(t, "https://sb.assuresign.net/Documents"+DefaultEnvelopesPath, c.EnvelopesEndpoint())
	for _, bad := range []string{"ftp://x/y", "https://user:pw@host/y", "://"} {
		_, err := NewClient(Config{EnvelopesEndpoint: bad})
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "envelopes endpoint")
		assert.NotContains(t, err.Error(), "pw")
	}
}

func TestEnvelopeDocumentHidesToken(t *testing.T) {
	d := EnvelopeDocument{ID: idA, AuthToken: secretToken, Name: "n", OrderID: "1"}
	for _, s := range []string{fmt.Sprint(d), fmt.Sprintf("%v %+v %#v %s", d, d, d, d), fmt.Sprint(d.LogValue())} {
		assert.NotContains(t, s, secretToken)
		assert.Contains(t, s, idA)
	}
}

// An OrderId is a label (order_id): one that is a piece of a secret (here 9
// digits of the request's own AuthToken, echoed) is dropped, not exported.
func TestListEnvelopeDocumentsOrderIDThatIsASecretIsDropped(t *testing.T) {
	const token = "12345678-9abc-4def-8123-456789abcdef"
	body := `<s:Envelope xmlns:s="` + SOAPEnvelopeNS + `"><s:Body><ListEnvelopeDocumentsResponse xmlns="` + EnvelopesNS + `">` +
		`<ListEnvelopeDocumentsResult EnvelopeId="` + envelopeA + `"><Documents>` +
		`<EnvelopeDocument DocumentId="` + idA + `" AuthToken="0b7a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d" Name="Echo" OrderId="123456789"/>` +
		`<EnvelopeDocument DocumentId="` + idB + `" AuthToken="1c8b2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e" Name="Plain" OrderId="2"/>` +
		`</Documents></ListEnvelopeDocumentsResult></ListEnvelopeDocumentsResponse></s:Body></s:Envelope>`
	srv, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) { writeXML(w, http.StatusOK, []byte(body)) })
	h := newHarness(t, srv.URL+"/CheckStatus/text", nil)
	l, err := h.c.ListEnvelopeDocuments(context.Background(), EnvelopeRequest{ID: envelopeA, AuthToken: token, ContextIdentifier: secretCtx})
	require.NoError(t, err)
	require.Len(t, l.Documents, 2)
	assert.Empty(t, l.Documents[0].OrderID, "a piece of the AuthToken")
	assert.Equal(t, "2", l.Documents[1].OrderID)
}
