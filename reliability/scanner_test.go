package reliability

import (
	"strings"
	"testing"
)

// TestSecretScanner proves the scan behind "secrets found in output" sees a
// secret in every form it may take: any case, hyphens dropped or moved,
// inside longer hex runs, quoted, escaped.
func TestSecretScanner(t *testing.T) {
	t.Parallel()
	g := secretGUID("scanner self-check")
	plain := "pw-scanner-self-check-" + strings.ToLower(randomGUID()[:8])
	registerSecret("scanner self-check password", plain)
	hexOnly := strings.ReplaceAll(g, "-", "")
	for _, text := range []string{
		g, strings.ToLower(g), hexOnly, "abc" + hexOnly + "def0", `token="` + g + `"`,
		`err="bad \"` + strings.ToLower(g) + `\""`, hexOnly[:10] + "-" + hexOnly[10:],
		"x " + strings.ToUpper(plain) + " y",
	} {
		if got := scanForSecrets("self-check", []byte(text)); len(got) != 1 {
			t.Errorf("%q: %d findings, want 1", text, len(got))
		}
	}
	for _, text := range []string{hexOnly[:31], "<secret>", g[:35] + "x", newID()} {
		if got := scanForSecrets("self-check", []byte(text)); len(got) != 0 {
			t.Errorf("%q: %d findings, want 0: %v", text, len(got), got)
		}
	}
}
