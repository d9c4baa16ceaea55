package assuresign

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nested wraps inner in n elements, each closed.
func nested(n int, inner string) string {
	return strings.Repeat("<a>", n) + inner + strings.Repeat("</a>", n)
}

// deepListing is a listing whose result holds, beside its one document,
// elements nested n deep: 550,000 levels make the 3.8 MB answer of issue #26.
func deepListing(n int) []byte {
	return []byte(`<s:Envelope xmlns:s="` + SOAPEnvelopeNS + `"><s:Body><ListEnvelopeDocumentsResponse xmlns="` + EnvelopesNS +
		`"><ListEnvelopeDocumentsResult EnvelopeId="` + envelopeA + `"><Documents><EnvelopeDocument DocumentId="` + idA +
		`" AuthToken="0b7a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"/>` + nested(n, "") +
		`</Documents></ListEnvelopeDocumentsResult></ListEnvelopeDocumentsResponse></s:Body></s:Envelope>`)
}

// No real answer nests deeper than 7 elements (a CheckStatus exception);
// anything past maxDepth is malformed, wherever it is.
func TestParsersBoundNesting(t *testing.T) {
	checkStatus := func(inner string) []byte {
		return []byte(`<s:Envelope xmlns:s="` + SOAPEnvelopeNS + `"><s:Body><CheckStatusResponse xmlns="` + CheckStatusNS +
			`"><DocumentStatusCheckResults><DocumentStatusCheckResult Id="` + idA + `" StatusType="Completed">` + inner +
			`</DocumentStatusCheckResult></DocumentStatusCheckResults></CheckStatusResponse></s:Body></s:Envelope>`)
	}
	// The listing's extra elements sit 5 deep, CheckStatus's 5, before the response 0.
	fits, over := maxDepth-5, maxDepth-4
	_, err := ParseListEnvelopeDocumentsResponse(deepListing(fits))
	require.NoError(t, err, "%d levels are allowed", maxDepth)
	_, err = ParseListEnvelopeDocumentsResponse(deepListing(over))
	requireKind(t, err, KindMalformed, "malformed")
	assert.Contains(t, err.Error(), "nested")

	_, err = ParseCheckStatusResponse(checkStatus(nested(fits, "")))
	require.NoError(t, err)
	_, err = ParseCheckStatusResponse(checkStatus(nested(over, "")))
	requireKind(t, err, KindMalformed, "malformed")
	// Before the response, and inside a Fault.
	_, err = ParseCheckStatusResponse([]byte(nested(maxDepth+1, "")))
	requireKind(t, err, KindMalformed, "malformed")
	_, err = ParseCheckStatusResponse([]byte(`<s:Envelope xmlns:s="` + SOAPEnvelopeNS + `"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>` +
		nested(maxDepth, "") + `</faultstring></s:Fault></s:Body></s:Envelope>`))
	requireKind(t, err, KindMalformed, "malformed")

	id, err := ParseNotification("application/xml", []byte(nested(maxDepth-1, "<DocumentId>"+idA+"</DocumentId>")))
	require.NoError(t, err)
	assert.Equal(t, idA, id)
	_, err = ParseNotification("application/xml", []byte(nested(maxDepth, "<DocumentId>"+idA+"</DocumentId>")))
	assert.True(t, errors.Is(err, ErrMalformedNotification), "%v", err)
}

// encoding/xml keeps a record per open element: unbounded, the 3.8 MB answer
// nested 550,000 deep cost about 150 MB (issue #26). Bounded, the parse stops
// at the 65th level. Allocation is measured, the body excluded.
func TestDeepAnswerCostsLittleMemory(t *testing.T) {
	body := deepListing(550_000)
	require.Less(t, len(body), DefaultMaxBodyBytes, "under the size limit")
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ParseListEnvelopeDocumentsResponse(body)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("parsing a %d-byte answer nested 550,000 deep allocated %d KiB", len(body), allocated>>10)
	requireKind(t, err, KindMalformed, "malformed")
	assert.Less(t, allocated, uint64(1<<20))
}
