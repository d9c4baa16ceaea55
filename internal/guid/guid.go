// Package guid makes GUIDs as AssureSign writes them, for the simulator's
// documents, the demo's tokens and the tests' secrets.
package guid

import (
	"fmt"
	"io"
)

// New returns a version-4 GUID in upper case from r's bytes: a seeded
// math/rand for reproducible data, crypto/rand's Reader for a token.
func New(r io.Reader) string {
	var b [16]byte
	_, _ = io.ReadFull(r, b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
