package assuresign

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	idA = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
	idB = "7C9E6679-7425-40DE-944B-E07FC1F90AE7"
	idC = "16FD2706-8BAF-433B-82EB-8C7FADA847DA"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func mustTime(t testing.TB, v string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, v)
	require.NoError(t, err)
	return tm
}

// requireKind asserts err is an *Error of kind k, with the given Outcome.
func requireKind(t testing.TB, err error, k ErrorKind, outcome string) *Error {
	t.Helper()
	require.Error(t, err)
	var e *Error
	require.True(t, errors.As(err, &e), "want *Error, got %T: %v", err, err)
	require.Equal(t, k, e.Kind, "kind; error: %v", err)
	require.Equal(t, outcome, Outcome(err))
	return e
}

// The same three documents, written by four serializers: prefixes must not matter.
func TestParseByNamespaceNotPrefix(t *testing.T) {
	for _, name := range []string{"success_s_prefix.xml", "success_soap_prefix.xml", "success_default_ns.xml", "bare_response.xml"} {
		t.Run(name, func(t *testing.T) {
			resp, err := ParseCheckStatusResponse(fixture(t, name))
			require.NoError(t, err)
			require.Len(t, resp.Results, 3)
			assert.Zero(t, resp.Skipped)

			a := resp.Results[0]
			assert.Equal(t, idA, a.ID)
			assert.Equal(t, StatusSigningStepInProgress, a.Status)
			assert.Equal(t, "SigningStepInProgress", a.RawStatus)
			assert.Equal(t, "Step 3", a.StatusDetails)
			assert.Equal(t, 3, a.Step)
			assert.True(t, a.StatusDate.Equal(mustTime(t, "2008-03-19T15:24:08.5231954Z")), a.StatusDate)
			_, off := a.StatusDate.Zone()
			assert.Equal(t, -4*3600, off, "the offset is kept")
			assert.Empty(t, a.Exceptions)
			assert.NoError(t, a.Err)

			assert.Equal(t, idB, resp.Results[1].ID)
			assert.Equal(t, StatusCompleted, resp.Results[1].Status)
			assert.True(t, resp.Results[1].StatusDate.Equal(mustTime(t, "2024-11-02T08:15:00.1234567Z")))
			assert.Equal(t, idC, resp.Results[2].ID)
			assert.Equal(t, StatusCreated, resp.Results[2].Status)
			assert.Equal(t, 0, resp.Results[2].Step)
		})
	}
}

// An element with the right local name in the wrong namespace is not ours.
func TestParseIgnoresForeignNamespace(t *testing.T) {
	body := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
<x:CheckStatusResponse xmlns:x="urn:other"><x:DocumentStatusCheckResults><x:DocumentStatusCheckResult Id="` + idA + `" StatusType="Completed"/></x:DocumentStatusCheckResults></x:CheckStatusResponse>
</s:Body></s:Envelope>`
	_, err := ParseCheckStatusResponse([]byte(body))
	requireKind(t, err, KindMalformed, "malformed")

	// A Fault element outside the SOAP namespace is not a fault either.
	_, err = ParseCheckStatusResponse([]byte(`<Fault><faultcode>x</faultcode></Fault>`))
	requireKind(t, err, KindMalformed, "malformed")
}

func TestParseAllStatuses(t *testing.T) {
	resp, err := ParseCheckStatusResponse(fixture(t, "all_statuses.xml"))
	require.NoError(t, err)
	want := []Status{StatusCreated, StatusSigningStepInProgress, StatusCompleted, StatusExpired, StatusDeclined, StatusCancelled, StatusStaled, StatusSignerAuthenticationFailed}
	require.Len(t, resp.Results, len(want))
	for i, r := range resp.Results {
		assert.Equal(t, want[i], r.Status, r.ID)
		assert.Equal(t, want[i].String(), r.RawStatus)
		assert.True(t, r.HasStatus())
		assert.Equal(t, i+1, r.StatusDate.Second())
	}
	assert.Equal(t, 1, resp.Results[1].Step)
	assert.Equal(t, 2, resp.Results[7].Step)
}

func TestParseExceptions(t *testing.T) {
	resp, err := ParseCheckStatusResponse(fixture(t, "exceptions.xml"))
	require.NoError(t, err)
	require.Len(t, resp.Results, 2)

	a := resp.Results[0]
	assert.Equal(t, StatusSigningStepInProgress, a.Status)
	assert.Equal(t, 2, a.Step)
	assert.Equal(t, []Exception{{SeverityWarning, "Document is nearing its expiration date."}}, a.Exceptions)

	b := resp.Results[1]
	assert.False(t, b.HasStatus(), "a result with only exceptions says nothing of the status")
	assert.Equal(t, StatusUnknown, b.Status)
	assert.True(t, b.StatusDate.IsZero())
	assert.Equal(t, []Exception{
		{SeverityError, "The AuthToken supplied is not valid for this document."},
		// the xsi:nil exception is dropped
		{SeverityFatal, "Document could not be located."},
		{SeverityUnknown, "An undocumented severity."},
		{SeverityUnknown, "No severity at all."},
	}, b.Exceptions)
}

func TestParseNilAndIDlessResultsAreSkipped(t *testing.T) {
	resp, err := ParseCheckStatusResponse(fixture(t, "nil_result.xml"))
	require.NoError(t, err)
	require.Len(t, resp.Results, 1)
	assert.Equal(t, idA, resp.Results[0].ID)
	assert.Equal(t, 3, resp.Skipped, "two nil results (one padded) and one without Id")
}

func TestParseBOM(t *testing.T) {
	body := fixture(t, "bom.xml")
	require.True(t, strings.HasPrefix(string(body), "\uFEFF"), "fixture starts with a BOM")
	resp, err := ParseCheckStatusResponse(body)
	require.NoError(t, err)
	require.Len(t, resp.Results, 1)
	assert.Equal(t, StatusExpired, resp.Results[0].Status)
	assert.True(t, resp.Results[0].StatusDate.Equal(mustTime(t, "2024-02-29T20:00:00.1234567Z")))
}

func TestParseNoOffsetDateIsUTC(t *testing.T) {
	resp, err := ParseCheckStatusResponse(fixture(t, "no_offset_date.xml"))
	require.NoError(t, err)
	require.Len(t, resp.Results, 3)
	assert.Equal(t, time.Date(2008, 3, 19, 11, 24, 8, 523195400, time.UTC), resp.Results[0].StatusDate)
	assert.Equal(t, time.UTC, resp.Results[0].StatusDate.Location())
	assert.Equal(t, time.Date(2008, 3, 19, 11, 24, 8, 0, time.UTC), resp.Results[1].StatusDate)
	// An unreadable date leaves the date unknown but keeps the rest of the result.
	assert.True(t, resp.Results[2].StatusDate.IsZero())
	assert.Equal(t, StatusStaled, resp.Results[2].Status)
}

func TestParseUnknownStatusKeepsRaw(t *testing.T) {
	resp, err := ParseCheckStatusResponse(fixture(t, "unknown_status.xml"))
	require.NoError(t, err)
	require.Len(t, resp.Results, 1)
	r := resp.Results[0]
	assert.Equal(t, StatusUnknown, r.Status)
	assert.Equal(t, "PendingArchival", r.RawStatus)
	assert.True(t, r.HasStatus())
	assert.Equal(t, "Archive queued", r.StatusDetails)
	assert.Equal(t, 0, r.Step)
}

// Unknown elements and attributes anywhere are skipped; lower-case ids come back
// upper case; decoys in other namespaces (or in the SOAP header) are ignored.
func TestParseUnknownExtras(t *testing.T) {
	resp, err := ParseCheckStatusResponse(fixture(t, "unknown_extras.xml"))
	require.NoError(t, err)
	require.Len(t, resp.Results, 2)
	a := resp.Results[0]
	assert.Equal(t, idA, a.ID)
	assert.Equal(t, StatusCompleted, a.Status, "StatusType is matched case-insensitively; x:StatusType is ignored")
	assert.Equal(t, "completed", a.RawStatus)
	assert.Equal(t, []Exception{{SeverityWarning, "Low  warning"}}, a.Exceptions)
	b := resp.Results[1]
	assert.Equal(t, idB, b.ID)
	assert.Equal(t, 12, b.Step)
}

func TestParseFault(t *testing.T) {
	_, err := ParseCheckStatusResponse(fixture(t, "fault.xml"))
	e := requireKind(t, err, KindSOAPFault, "soap_fault")
	assert.Equal(t, "a:InternalServiceFault", e.FaultCode)
	assert.Equal(t, "The server was unable to process the request due to an internal error.", e.FaultString)
	assert.False(t, e.Retryable())
	assert.Contains(t, err.Error(), "InternalServiceFault")
}

// Server text in errors is bounded and stays valid UTF-8 when cut.
func TestParseFaultIsBounded(t *testing.T) {
	long := strings.Repeat("é", 2000)
	body := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>` +
		long + `</faultcode><faultstring>` + long + `</faultstring></s:Fault></s:Body></s:Envelope>`
	_, err := ParseCheckStatusResponse([]byte(body))
	e := requireKind(t, err, KindSOAPFault, "soap_fault")
	assert.LessOrEqual(t, len(e.FaultString), maxFaultString+len("…"))
	assert.LessOrEqual(t, len(e.FaultCode), maxFaultCode+len("…"))
	assert.True(t, utf8.ValidString(e.FaultString))
	assert.True(t, utf8.ValidString(e.FaultCode))
	assert.Less(t, len(err.Error()), 1024)
}

func TestParseMalformed(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"malformed.xml", string(fixture(t, "malformed.xml"))},
		{"truncated.xml", string(fixture(t, "truncated.xml"))},
		{"html_maintenance.xml", string(fixture(t, "html_maintenance.xml"))},
		{"empty", ""},
		{"not xml", "Service Unavailable"},
		{"envelope without response", `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>`},
		{"response cut inside a result", `<CheckStatusResponse><DocumentStatusCheckResults><DocumentStatusCheckResult Id="a"`},
		{"unreadable fault", `<s:Fault xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><faultcode>x</s:Fault>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCheckStatusResponse([]byte(tc.body))
			e := requireKind(t, err, KindMalformed, "malformed")
			assert.False(t, e.Retryable())
		})
	}
}

func TestParseStatusDate(t *testing.T) {
	minus4 := time.FixedZone("", -4*3600)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"2008-03-19T11:24:08.5231954-04:00", time.Date(2008, 3, 19, 11, 24, 8, 523195400, minus4)},
		{"2008-03-19T11:24:08.5231954", time.Date(2008, 3, 19, 11, 24, 8, 523195400, time.UTC)},
		{"2008-03-19T11:24:08.5Z", time.Date(2008, 3, 19, 11, 24, 8, 500000000, time.UTC)},
		{"2008-03-19T11:24:08+05:30", time.Date(2008, 3, 19, 5, 54, 8, 0, time.UTC)},
		{"2008-03-19T11:24:08", time.Date(2008, 3, 19, 11, 24, 8, 0, time.UTC)},
		{" 2008-03-19T11:24:08.1234567Z ", time.Date(2008, 3, 19, 11, 24, 8, 123456700, time.UTC)},
	} {
		got, err := ParseStatusDate(tc.in)
		require.NoError(t, err, tc.in)
		assert.True(t, tc.want.Equal(got), "%s: got %v want %v", tc.in, got, tc.want)
	}
	noOffset, _ := ParseStatusDate("2008-03-19T11:24:08.5231954")
	assert.Equal(t, time.UTC, noOffset.Location())
	for _, bad := range []string{"", "yesterday", "2008-13-19T11:24:08", "2008-03-19"} {
		_, err := ParseStatusDate(bad)
		assert.Error(t, err, bad)
	}
}

func TestStepNumber(t *testing.T) {
	for in, want := range map[string]int{
		"Step 3": 3, "step 12": 12, "STEP\t7": 7, "Step3": 3, "Waiting: Step 2 of 4": 2, "Step 03": 3,
		"": 0, "Step": 0, "Step x": 0, "Steps 3": 0, "Footstep 3": 0, "Step 3a": 0,
		"Step 1234567890": 0, "Step -1": 0, "Step 999999999": 999999999,
	} {
		assert.Equal(t, want, StepNumber(in), "%q", in)
	}
}

// DTDs are not processed: an external entity is neither fetched nor expanded,
// and a billion-laughs body fails fast instead of expanding.
func TestParseXMLSafety(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte("pwned"))
	}))
	defer srv.Close()
	xxe := strings.ReplaceAll(string(fixture(t, "xxe.xml")), "http://127.0.0.1:1/xxe", srv.URL+"/xxe")
	inline := `<!DOCTYPE r [<!ENTITY e "expanded">]><CheckStatusResponse><DocumentStatusCheckResults>` +
		`<DocumentStatusCheckResult Id="a" StatusDetails="&e;"/></DocumentStatusCheckResults></CheckStatusResponse>`

	for name, body := range map[string]string{
		"xxe":            xxe,
		"billion laughs": string(fixture(t, "billion_laughs.xml")),
		"inline entity":  inline,
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := ParseCheckStatusResponse([]byte(body))
			requireKind(t, err, KindMalformed, "malformed")
			assert.Nil(t, resp)
			assert.NotContains(t, err.Error(), "root:")
			assert.NotContains(t, err.Error(), "pwned")
			assert.NotContains(t, err.Error(), "lollol")
			assert.NotContains(t, err.Error(), "expanded")
		})
	}
	assert.Zero(t, hits.Load(), "the external entity was fetched")
}
