package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The main packages the tests build.
const (
	ExporterPkg  = "github.com/assuresign-exporter/assuresign_exporter"
	SimulatorPkg = ExporterPkg + "/assuresign/simulator/cmd/assuresign-simulator"
)

// The log lines that say where those binaries listen; the submatch is the
// address (host:port). The exporter logs one line per listener.
var (
	ExporterListening  = regexp.MustCompile(`msg="Listening on" address=(\S+)`)
	SimulatorListening = regexp.MustCompile(`listening on http://(\S+)`)
)

var builds struct {
	mu    sync.Mutex
	dir   string // made on the first build; RemoveBinaries removes it
	byKey map[string]*build
}

type build struct {
	once sync.Once
	path string
	err  error
	took time.Duration
}

// BuildBinary builds the main package pkg (an import path of this module) with
// go build and flags, once per test process, and returns the binary's path.
// A later call with the same arguments waits for that build and returns the
// same path, or fails the test again if the build failed. The binary is named
// after the package's last element and built with CGO_ENABLED=0, or 1 when
// flags hold -race, which needs cgo.
//
// The binaries outlive the test that built them, since other tests use them:
// a package that calls BuildBinary calls RemoveBinaries from TestMain.
//
// Under go test -short it skips t instead: a test that builds a binary is no
// unit test (see SkipShort).
func BuildBinary(t testing.TB, pkg string, flags ...string) string {
	t.Helper()
	SkipShort(t)
	key := strings.Join(append([]string{pkg}, flags...), " ")
	builds.mu.Lock()
	if builds.byKey == nil {
		builds.byKey = map[string]*build{}
	}
	b := builds.byKey[key]
	if b == nil {
		b = &build{}
		builds.byKey[key] = b
	}
	builds.mu.Unlock()
	var took time.Duration // set by the call that builds
	b.once.Do(func() {
		start := time.Now()
		b.path, b.err = goBuild(pkg, flags)
		took = time.Since(start)
		builds.mu.Lock()
		b.took = took
		builds.mu.Unlock()
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	if took > 0 {
		t.Logf("built %s in %.1fs", strings.Join(append([]string{path.Base(pkg)}, flags...), " "), took.Seconds())
	}
	return b.path
}

func goBuild(pkg string, flags []string) (string, error) {
	builds.mu.Lock()
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "assuresign-testenv-")
		if err != nil {
			builds.mu.Unlock()
			return "", err
		}
		builds.dir = dir
	}
	root := builds.dir
	builds.mu.Unlock()
	dir, err := os.MkdirTemp(root, "") // a directory per build: the same package may be built with other flags
	if err != nil {
		return "", err
	}
	// go test puts $GOROOT/bin first on PATH, so the go that runs the tests
	// builds the binaries; GOROOT from the environment is the fallback.
	goTool, err := exec.LookPath("go")
	if err != nil {
		goroot := os.Getenv("GOROOT")
		if goroot == "" {
			return "", fmt.Errorf("no go command on PATH and GOROOT unset: %w", err)
		}
		goTool = filepath.Join(goroot, "bin", "go")
	}
	bin := filepath.Join(dir, path.Base(pkg))
	cmd := exec.Command(goTool, append(append([]string{"build", "-o", bin}, flags...), pkg)...)
	cgo := "CGO_ENABLED=0"
	if slices.Contains(flags, "-race") {
		cgo = "CGO_ENABLED=1"
	}
	cmd.Env = append(os.Environ(), cgo)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", strings.Join(cmd.Args[4:], " "), err, out)
	}
	return bin, nil
}

// BuildTimes returns how long each build took, by the binary's name and
// flags as BuildBinary logs them ("assuresign_exporter -race").
func BuildTimes() map[string]time.Duration {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	out := map[string]time.Duration{}
	for key, b := range builds.byKey {
		if b.took > 0 {
			pkg, flags, _ := strings.Cut(key, " ")
			out[strings.TrimSpace(path.Base(pkg)+" "+flags)] = b.took
		}
	}
	return out
}

// Main is a TestMain for a package whose tests build binaries: it runs them,
// removes the binaries and exits.
func Main(m *testing.M) {
	code := m.Run()
	RemoveBinaries()
	os.Exit(code)
}

// RemoveBinaries removes every binary BuildBinary built. Call it from TestMain
// once m.Run has returned (Main does).
func RemoveBinaries() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
	}
	builds.dir, builds.byKey = "", nil
}
