package testenv

import (
	"fmt"
	"strings"
	"testing"
)

// TestSecrets proves the scanner behind every "no secret leaked" sees a
// secret in every form it may take: any case, hyphens dropped or moved,
// inside longer hex runs, quoted, escaped, or only a fragment of it; and
// flags nothing else. It checks the fragment length small tests use and the
// longer one the reliability suite uses over hundreds of megabytes.
func TestSecrets(t *testing.T) {
	for _, fragment := range []int{FragmentLen, 12} {
		t.Run(fmt.Sprint(fragment), func(t *testing.T) {
			g := RandomGUID()
			plain := "pw-scanner-self-check-" + strings.ToLower(RandomGUID()[:8])
			s := NewSecrets(fragment)
			s.Add("self-check GUID", g)
			s.Add("self-check password", plain)
			hexOnly := strings.ReplaceAll(g, "-", "")
			for _, text := range []string{
				g, strings.ToLower(g), hexOnly, "abc" + hexOnly + "def0", `token="` + g + `"`,
				`err="bad \"` + strings.ToLower(g) + `\""`, hexOnly[:10] + "-" + hexOnly[10:],
				"x " + strings.ToUpper(plain) + " y",
				hexOnly[:31], g[:35] + "x", // a mistyped secret is mostly the real one
				"…" + hexOnly[7:7+fragment] + "…", // a fragment
			} {
				if got := s.Find("self-check", []byte(text)); len(got) != 1 {
					t.Errorf("%q: %d findings, want 1: %v", text, len(got), got)
				}
			}
			for _, text := range []string{
				"<secret>", RandomGUID(), hexOnly[3 : 3+fragment-1], plain[:len(plain)-1],
				hexOnly[:fragment-1] + "x" + hexOnly[fragment-1:2*fragment-2],
			} {
				if got := s.Find("self-check", []byte(text)); len(got) != 0 {
					t.Errorf("%q: %d findings, want 0: %v", text, len(got), got)
				}
			}
			// NewSecrets' values are their own labels; a fragment shorter
			// than FragmentLen is not allowed.
			short := NewSecrets(4, g)
			if got := short.Find("self-check", []byte(hexOnly[:FragmentLen-1])); len(got) != 0 {
				t.Errorf("a %d-digit fragment found: %v", FragmentLen-1, got)
			}
			if got := short.Find("self-check", []byte(g)); len(got) != 1 || !strings.Contains(got[0], "self-check: "+g) {
				t.Errorf("findings %v, want one labelled with the value", got)
			}
		})
	}
}
