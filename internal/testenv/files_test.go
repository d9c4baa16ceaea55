package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// WriteFile sets the mode asked for over an existing file's; ReplaceFile
// puts a new file (another inode) in place and leaves no temporary file.
func TestWriteAndReplaceFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watch.yml")
	WriteFile(t, path, "a", 0o644)
	WriteFile(t, path, []byte("b"), 0o600)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	ReplaceFile(t, path, "c")
	after, err := os.Stat(path)
	if err != nil || os.SameFile(fi, after) {
		t.Fatalf("ReplaceFile wrote in place (%v)", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "c" {
		t.Fatalf("got %q, want c", data)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("the temporary file is left: %v", err)
	}
}
