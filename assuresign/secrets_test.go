package assuresign

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// echoes are the forms a hostile answer may give a secret in: whole, upper
// case, without hyphens, and cut to its first 8 hex digits or its last 12.
func echoes(secret string) string {
	bare := strings.ReplaceAll(secret, "-", "")
	return strings.Join([]string{secret, strings.ToUpper(secret), bare, "x" + bare[:8] + "x", secret[len(secret)-12:]}, " ")
}

// Every secret known is redacted from what an answer says, not only the
// request's own: a listing's fault or a malformed listing echoing the tokens
// an earlier listing gave, and a CheckStatus answer of one document echoing
// another's token and the webhook token.
func TestRedactsEverySecretKnown(t *testing.T) {
	const webhookToken = "hook-token-not-a-guid"
	docTokens := []string{"0b7a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d", "1c8b2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e", "2d9c3e4f-5a6b-4c7d-ae8f-9a0b1c2d3e4f"}
	scan := testenv.NewSecrets(testenv.FragmentLen, append(docTokens, secretToken, secretCtx, otherToken, webhookToken)...)
	echo := strings.Join([]string{echoes(docTokens[0]), echoes(docTokens[1]), echoes(docTokens[2]), echoes(otherToken), webhookToken}, " ")
	var answer atomic.Value // the body the next request gets
	srv, _ := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
		a := answer.Load().([2]string)
		status := http.StatusOK
		if strings.Contains(a[1], "Fault") {
			status = http.StatusInternalServerError
		}
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(a[1]))
	})
	known := NewSecrets()
	known.Set("watch list", []string{secretToken, secretCtx, otherToken})
	known.Set("webhook", []string{webhookToken})
	h := newHarness(t, srv.URL+"/CheckStatus/text", func(c *Config) { c.Secrets = known; c.MaxRetries = -1 })
	fault := func(text string) string {
		return `<s:Envelope xmlns:s="` + SOAPEnvelopeNS + `"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>bad tokens: ` +
			text + `</faultstring></s:Fault></s:Body></s:Envelope>`
	}
	list := func() (*EnvelopeListing, error) {
		return h.c.ListEnvelopeDocuments(context.Background(), EnvelopeRequest{ID: envelopeA, AuthToken: secretToken, ContextIdentifier: secretCtx})
	}

	// The first listing makes its documents' tokens known; a name echoing them is redacted.
	good := strings.Replace(string(envelopeFixture(t, "list_s_prefix.xml")), `Name="Schedule A"`, `Name="Schedule `+strings.ToUpper(docTokens[2])+`"`, 1)
	answer.Store([2]string{"listing", good})
	l, err := list()
	require.NoError(t, err)
	scan.AssertNone(t, "document name", fmt.Sprint(l.Documents[1].Name))

	for _, tc := range []struct{ name, body string }{
		{"listing fault", fault(echo)},
		{"malformed listing", `<s:Envelope xmlns:s="` + SOAPEnvelopeNS + `"><s:Body><ListEnvelopeDocumentsResponse xmlns="` + EnvelopesNS + `"><` + strings.ReplaceAll(docTokens[1], "-", "") + `>` + echo + `</x>`},
	} {
		answer.Store([2]string{tc.name, tc.body})
		_, err := list()
		require.Error(t, err, tc.name)
		assert.Contains(t, err.Error(), "<secret>", "%s: the echo reached the redaction", tc.name)
		scan.AssertNone(t, tc.name, err.Error())
	}

	// CheckStatus of one document whose answer speaks of the others.
	status := `<s:Envelope xmlns:s="` + SOAPEnvelopeNS + `"><s:Body><CheckStatusResponse xmlns="` + CheckStatusNS + `"><DocumentStatusCheckResults>` +
		`<DocumentStatusCheckResult Id="` + idA + `" StatusType="` + echo + `" StatusDetails="Step 1 ` + echo + `"><Exceptions><StatusCheckException Severity="Error">` + echo +
		`</StatusCheckException></Exceptions></DocumentStatusCheckResult></DocumentStatusCheckResults></CheckStatusResponse></s:Body></s:Envelope>`
	answer.Store([2]string{"status", status})
	res, err := h.c.CheckStatus(context.Background(), []Check{{ID: idA, AuthToken: docTokens[0], ContextIdentifier: secretCtx}})
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Len(t, res[0].Exceptions, 1)
	for what, text := range map[string]string{"status": res[0].RawStatus, "details": res[0].StatusDetails, "exception": res[0].Exceptions[0].Message} {
		assert.Contains(t, text, "<secret>", what)
		scan.AssertNone(t, what, text)
	}
	answer.Store([2]string{"status fault", fault(echo)})
	_, err = h.c.CheckStatus(context.Background(), []Check{{ID: idA, AuthToken: docTokens[0], ContextIdentifier: secretCtx}})
	require.Error(t, err)
	scan.AssertNone(t, "status fault", err.Error())
	scan.AssertNone(t, "log", h.logs.String())
}

// A source's secrets are replaced as a whole; one held by two sources stays
// until both let it go.
func TestSecretsSet(t *testing.T) {
	s := NewSecrets()
	s.Set("a", []string{secretToken, secretCtx})
	s.Set("b", []string{secretCtx})
	assert.Equal(t, "x <secret> <secret>", s.Redact("x "+secretToken+" "+strings.ToUpper(secretCtx)))
	s.Set("a", []string{otherToken})
	assert.Equal(t, "x "+secretToken+" <secret> <secret>", s.Redact("x "+secretToken+" "+secretCtx+" "+otherToken))
	s.Set("b", nil)
	assert.Equal(t, secretCtx, s.Redact(secretCtx))
	// Hyphens moved or dropped hide nothing; seven digits are no secret.
	assert.Equal(t, "<secret>", s.Redact("BEAD5EED77-774888-9999AAAABBBBCCCC"))
	assert.Equal(t, "bead5ee", s.Redact("bead5ee"))
}

// randomGUIDs returns n distinct GUIDs, the same every run.
func randomGUIDs(n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]string, n)
	for i := range out {
		a, b := r.Uint64(), r.Uint64()
		out[i] = fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, a>>16&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
	}
	return out
}

// heapPerGUID is the heap a Secrets holding guids in one source keeps, per GUID.
func heapPerGUID(guids []string) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := NewSecrets()
	s.Set("watch list", guids)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(s)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(len(guids))
}

// A large watch list's secrets cost a few bytes a window of eight digits (25
// a GUID), not a hash map's: at 100,000 documents the difference is 50 MiB
// of the exporter's resident memory.
func TestSecretsHeldCompactly(t *testing.T) {
	guids := randomGUIDs(20000)
	perGUID := heapPerGUID(guids)
	assert.LessOrEqual(t, perGUID, 128.0, "heap bytes held per GUID")
	s := NewSecrets()
	s.Set("watch list", guids)
	g := guids[12345]
	assert.Equal(t, "x <secret> y <secret>", s.Redact("x "+strings.ToUpper(g)+" y "+g[26:]))
	assert.Equal(t, "x "+g[:7], s.Redact("x "+g[:7]))
	// Replaced by a small list, the large one's secrets go but those another source holds.
	s.Set("envelope", []string{g, "not-a-guid-token"})
	s.Set("watch list", guids[:100])
	assert.Equal(t, "<secret> <secret> "+guids[200]+" <secret>", s.Redact(g+" "+guids[5]+" "+guids[200]+" NOT-A-GUID-TOKEN"))
	s.Set("envelope", nil)
	assert.Equal(t, g, s.Redact(g))
}

// BenchmarkRedact redacts short answers' texts with 100,000 documents' tokens
// known, and 1,000 envelopes' listed tokens.
func BenchmarkRedact(b *testing.B) {
	guids := randomGUIDs(106000)
	perGUID := heapPerGUID(guids[:100000])
	s := NewSecrets()
	s.Set("watch list", guids[:100000])
	for i := range 1000 {
		s.Set(fmt.Sprint("envelope ", i), guids[100000+i*5:100000+i*5+5])
	}
	s.Set("webhook token", []string{"hook-token-not-a-guid"})
	for name, text := range map[string]string{
		"known":   "The AuthToken " + strings.ToUpper(guids[777]) + " supplied is not valid for document " + guids[105999][:20] + ".",
		"unknown": "The AuthToken 0b7a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d supplied is not valid for this document.",
		"words":   "SigningStepInProgress",
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				s.Redact(text)
			}
			b.ReportMetric(perGUID, "heap-B/GUID")
		})
	}
}

func TestSecretsHoldsWholeGUIDsOnly(t *testing.T) {
	const secret = "06C4A84A-693C-46CB-8DF2-40A8215AA056"
	s := NewSecrets()
	s.Set("context identifier", []string{secret})
	assert.True(t, s.Holds(secret))
	assert.True(t, s.Holds(strings.ToLower(secret)), "any case")
	assert.True(t, s.Holds(strings.ReplaceAll(secret, "-", "")), "without hyphens")
	assert.False(t, s.Holds("06C4A84A-0000-4000-8000-000000000000"), "a fragment in common is not the secret")
	assert.False(t, s.Holds("not a guid"))
	var none *Secrets
	assert.False(t, none.Holds(secret))
}
