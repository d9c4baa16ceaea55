package assuresign

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseListEnvelopeDocumentsResponse: whatever the body, the parser returns
// a listing or an *Error, never panics, and every document it keeps can be
// checked: GUID id (upper case) and token, a bounded valid name, a numeric order.
func FuzzParseListEnvelopeDocumentsResponse(f *testing.F) {
	addFixtures(f, filepath.Join("testdata", "envelopes", "*.xml"))
	f.Add(deepListing(maxDepth)) // just past the nesting bound
	f.Fuzz(func(t *testing.T, body []byte) {
		l, err := ParseListEnvelopeDocumentsResponse(body)
		if err != nil {
			checkParseError(t, err)
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
