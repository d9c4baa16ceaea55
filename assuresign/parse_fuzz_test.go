package assuresign

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseCheckStatusResponse: whatever the body, the parser returns a result
// or an *Error, never panics, and keeps its promises about results.
func FuzzParseCheckStatusResponse(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
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
		resp, err := ParseCheckStatusResponse(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Kind != KindMalformed && e.Kind != KindSOAPFault) {
				t.Fatalf("want *Error malformed or fault, got %T %v", err, err)
			}
			// Server text in errors is bounded.
			if n := len(err.Error()); n > 1024 {
				t.Fatalf("error message of %d bytes", n)
			}
			return
		}
		for _, r := range resp.Results {
			if r.ID == "" || r.ID != strings.ToUpper(r.ID) {
				t.Fatalf("ID %q is empty or not upper case", r.ID)
			}
			if r.Step < 0 {
				t.Fatalf("Step %d < 0", r.Step)
			}
			if r.Status != ParseStatus(r.RawStatus) {
				t.Fatalf("Status %v does not match RawStatus %q", r.Status, r.RawStatus)
			}
			if r.Err != nil {
				t.Fatalf("parser set Result.Err: %v", r.Err)
			}
		}
		if resp.Skipped < 0 {
			t.Fatalf("Skipped %d", resp.Skipped)
		}
	})
}
