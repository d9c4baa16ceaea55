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
	addFixtures(f, filepath.Join("testdata", "*.xml"))
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := ParseCheckStatusResponse(body)
		if err != nil {
			checkParseError(t, err)
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

// addFixtures seeds f with every file glob matches.
func addFixtures(f *testing.F, glob string) {
	paths, err := filepath.Glob(glob)
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
}

// checkParseError holds a parser's error to its promises: an *Error,
// malformed or a fault, with the server's text bounded.
func checkParseError(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || (e.Kind != KindMalformed && e.Kind != KindSOAPFault) {
		t.Fatalf("want *Error malformed or fault, got %T %v", err, err)
	}
	if n := len(err.Error()); n > 1024 {
		t.Fatalf("error message of %d bytes", n)
	}
}
