package testenv

import (
	"os"
	"testing"
)

// WriteFile writes data to path, in place, with mode perm whatever the umask
// and the mode of a file already there, and returns path.
func WriteFile[D string | []byte](t testing.TB, path string, data D, perm os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // WriteFile keeps an existing file's mode
		t.Fatal(err)
	}
	return path
}

// ReplaceFile puts data at path, mode 0600, by renaming a new file over it:
// an exporter watching path never reads it half written.
func ReplaceFile[D string | []byte](t testing.TB, path string, data D) {
	t.Helper()
	tmp := WriteFile(t, path+".tmp", data, 0o600)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
