package assuresign

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseListEnvelopeDocumentsResponse: whatever the body, the parser returns
// a listing or an *Error, never panics, and every document it keeps can be
// checked: GUID id (upper case) and token, a bounded valid name, a numeric order.
func FuzzParseListEnvelopeDocumentsResponse(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("testdata", "envelopes", "*.xml"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		l, err := ParseListEnvelopeDocumentsResponse(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Kind != KindMalformed && e.Kind != KindSOAPFault) {
				t.Fatalf("want *Error malformed or fault, got %T %v", err, err)
			}
			if n := len(err.Error()); n > 1024 {
				t.Fatalf("error message of %d bytes", n)
			}
			return
		}
		if l.EnvelopeID != strings.ToUpper(l.EnvelopeID) || l.Skipped < 0 {
			t.Fatalf("envelope id %q, skipped %d", l.EnvelopeID, l.Skipped)
		}
		seen := map[string]bool{}
		for _, d := range l.Documents {
			if !IsGUID(d.ID) || d.ID != strings.ToUpper(d.ID) || !IsGUID(d.AuthToken) || seen[d.ID] {
				t.Fatalf("unusable document kept: %q", d.ID)
			}
			seen[d.ID] = true
			if !utf8.ValidString(d.Name) || len(d.Name) > maxDocumentName+len("…") {
				t.Fatalf("name of %d bytes", len(d.Name))
			}
			if strings.Trim(d.OrderID, "0123456789") != "" || len(d.OrderID) > maxOrderID {
				t.Fatalf("order id %q", d.OrderID)
			}
		}
	})
}
