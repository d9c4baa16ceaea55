package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// repoRoot is the exporter's repository: the parent of this module.
var repoRoot = func() string {
	dir, err := filepath.Abs("..")
	if err != nil {
		panic(err)
	}
	return dir
}()

// inRepo returns the absolute path of a file given relative to the repository root.
func inRepo(rel string) string { return filepath.Join(repoRoot, filepath.FromSlash(rel)) }

func readRepoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(inRepo(rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeRepoFile(t *testing.T, rel string, data []byte) {
	t.Helper()
	if err := os.WriteFile(inRepo(rel), data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", rel)
}

// requiredTool returns the path of a tool the tests need. Without it the test
// skips, except under CI=true, where it fails.
func requiredTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found on PATH (CI=true: not skipping)", name)
		}
		t.Skipf("%s not found on PATH; skipping", name)
	}
	return p
}

var tmpDir string

func TestMain(m *testing.M) {
	var err error
	if tmpDir, err = os.MkdirTemp("", "assuresign-deploy-test-"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(tmpDir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binPath   string
	binErr    error
	binHelp   string
)

// exporter builds the exporter from the repository root (another module) once
// and returns the binary's path and its --help output.
func exporter(t *testing.T) (bin, help string) {
	t.Helper()
	buildOnce.Do(func() {
		bin := filepath.Join(tmpDir, "assuresign_exporter")
		cmd := exec.Command("go", "build", "-buildvcs=false", "-o", bin, ".")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build in %s: %v\n%s", repoRoot, err, out)
			return
		}
		out, err := exec.Command(bin, "--help").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("%s --help: %v\n%s", bin, err, out)
			return
		}
		binPath, binHelp = bin, string(out)
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath, binHelp
}

// flagName is a flag in kingpin's help: "  --watch.file=WATCH.FILE", "  -h, --[no-]help".
var flagName = regexp.MustCompile(`(?m)^\s+(?:-\w, )?--(?:\[no-\])?([A-Za-z0-9][\w.-]*)`)

// binaryFlags lists the flags the exporter's --help shows.
func binaryFlags(t *testing.T) map[string]bool {
	t.Helper()
	_, help := exporter(t)
	flags := map[string]bool{}
	for _, m := range flagName.FindAllStringSubmatch(help, -1) {
		flags[m[1]] = true
	}
	if !flags["watch.file"] || !flags["web.listen-address"] {
		t.Fatalf("could not read the flags from --help:\n%s", help)
	}
	return flags
}

// argFlag splits "--name=value" into name and value; ok is false for an
// argument that is no flag.
func argFlag(arg string) (name, value string, ok bool) {
	if !strings.HasPrefix(arg, "--") || len(arg) == 2 {
		return "", "", false
	}
	name, value, _ = strings.Cut(arg[2:], "=")
	return name, value, true
}
