package guid

import (
	"crypto/rand"
	"regexp"
	"testing"
)

// Version 4, variant 10, upper case: what AssureSign's GUIDs look like.
func TestNew(t *testing.T) {
	re := regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)
	for range 100 {
		if g := New(rand.Reader); !re.MatchString(g) {
			t.Fatalf("%s is not a version-4 GUID in upper case", g)
		}
	}
}
