package assuresign

import (
	"bytes"
	"fmt"
	"testing"
)

// checkStatusResponse100 is a real-shaped answer for 100 documents: mostly in
// progress, some finished, every tenth with an exception.
func checkStatusResponse100() []byte {
	var b bytes.Buffer
	b.WriteString("\xEF\xBB\xBF" + `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><CheckStatusResponse xmlns="https://www.assuresign.net/Services/DocumentNOW/CheckStatus" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><DocumentStatusCheckResults>`)
	for i := range 100 {
		id := fmt.Sprintf("%08X-4F89-11D3-9A0C-%012X", i, i*7919)
		switch {
		case i%10 == 9:
			fmt.Fprintf(&b, `<DocumentStatusCheckResult Id="%s"><Exceptions><StatusCheckException Severity="Error">The AuthToken supplied is not valid for this document.</StatusCheckException></Exceptions></DocumentStatusCheckResult>`, id)
		case i%4 == 0:
			fmt.Fprintf(&b, `<DocumentStatusCheckResult Id="%s" StatusDate="2024-11-02T08:15:%02d.1234567-05:00" StatusType="Completed" />`, id, i%60)
		default:
			fmt.Fprintf(&b, `<DocumentStatusCheckResult Id="%s" StatusDate="2024-11-02T08:15:%02d.1234567-05:00" StatusType="SigningStepInProgress" StatusDetails="Step %d" />`, id, i%60, 1+i%5)
		}
	}
	b.WriteString(`</DocumentStatusCheckResults></CheckStatusResponse></s:Body></s:Envelope>`)
	return b.Bytes()
}

func BenchmarkParseCheckStatusResponse100(b *testing.B) {
	body := checkStatusResponse100()
	resp, err := ParseCheckStatusResponse(body)
	if err != nil || len(resp.Results) != 100 {
		b.Fatalf("setup: %v, %d results", err, len(resp.Results))
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseCheckStatusResponse(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeCheckStatusRequest100(b *testing.B) {
	checks := make([]Check, 100)
	for i := range checks {
		checks[i] = Check{
			ID:                fmt.Sprintf("%08X-4F89-11D3-9A0C-%012X", i, i),
			AuthToken:         fmt.Sprintf("%08x-aaaa-4aaa-8aaa-%012x", i, i),
			ContextIdentifier: "c0ffee00-1234-4abc-9def-0123456789ab",
		}
	}
	b.SetBytes(int64(len(EncodeCheckStatusRequest(checks))))
	b.ReportAllocs()
	for b.Loop() {
		EncodeCheckStatusRequest(checks)
	}
}
