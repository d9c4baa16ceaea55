package deploy

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/pe"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// makeVar reads `NAME ?= value` or `NAME := value` from the Makefile.
func makeVar(t *testing.T, name string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s*[?:]?=\s*(.*)$`).FindSubmatch(readRepoFile(t, "Makefile"))
	if m == nil {
		t.Fatalf("Makefile: no %s", name)
	}
	return strings.Fields(string(m[1]))
}

// TestPromuAndMakefileAgree: `promu crossbuild tarballs` and `make tarballs`
// build the same platforms and pack the same files.
func TestPromuAndMakefileAgree(t *testing.T) {
	var promu struct {
		Tarball struct {
			Files []string `yaml:"files"`
		} `yaml:"tarball"`
		Crossbuild struct {
			Platforms []string `yaml:"platforms"`
		} `yaml:"crossbuild"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, ".promu.yml"), &promu); err != nil {
		t.Fatalf(".promu.yml: %v", err)
	}
	if got, want := makeVar(t, "PLATFORMS"), promu.Crossbuild.Platforms; !slices.Equal(got, want) {
		t.Errorf("Makefile PLATFORMS %v, .promu.yml crossbuild.platforms %v", got, want)
	}
	for _, want := range []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64", "windows/arm64"} {
		if !slices.Contains(promu.Crossbuild.Platforms, want) {
			t.Errorf(".promu.yml: no %s", want)
		}
	}
	if got, want := makeVar(t, "TARBALL_FILES"), promu.Tarball.Files; !slices.Equal(got, want) {
		t.Errorf("Makefile TARBALL_FILES %v, .promu.yml tarball.files %v", got, want)
	}
}

// TestTarball packs one platform as a release does (windows/arm64: the .exe
// and a cross-build) and checks promu's layout, the checksum file, and that
// packing again gives the same bytes.
func TestTarball(t *testing.T) {
	makeTool := requiredTool(t, "make")
	requiredTool(t, "tar")
	requiredTool(t, "gzip")
	const platform, epoch = "windows/arm64", 1767225600 // 2026-01-01T00:00:00Z
	version := strings.TrimSpace(string(readRepoFile(t, "VERSION")))
	name := "assuresign_exporter-" + version + ".windows-arm64"
	pack := func() (tarball []byte, sums string) {
		dir := t.TempDir()
		cmd := exec.Command(makeTool, "-s", "--no-print-directory", "tarballs", "PLATFORMS="+platform,
			"BUILD_DIR="+filepath.Join(dir, "build"), "RELEASE_DIR="+filepath.Join(dir, "release"))
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1767225600", "BUILD_USER=release@test", "GOFLAGS=-buildvcs=false")
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make tarballs: %v\n%s", err, out)
		}
		t.Logf("make tarballs PLATFORMS=%s: %.1fs", platform, time.Since(start).Seconds())
		entries, err := os.ReadDir(filepath.Join(dir, "release"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if want := []string{name + ".tar.gz", "sha256sums.txt"}; !slices.Equal(names, want) {
			t.Fatalf("release directory: %v, want %v", names, want)
		}
		tarball, err = os.ReadFile(filepath.Join(dir, "release", name+".tar.gz"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := os.ReadFile(filepath.Join(dir, "release", "sha256sums.txt"))
		if err != nil {
			t.Fatal(err)
		}
		return tarball, string(s)
	}
	tarball, sums := pack()

	sum := sha256.Sum256(tarball)
	if want := hex.EncodeToString(sum[:]) + "  " + name + ".tar.gz\n"; sums != want {
		t.Errorf("sha256sums.txt:\n%s\nwant:\n%s", sums, want)
	}

	files := map[string][]byte{}
	zr, err := gzip.NewReader(bytes.NewReader(tarball))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name != name+"/" && !strings.HasPrefix(h.Name, name+"/") {
			t.Errorf("%s outside the directory %s/", h.Name, name)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || !h.ModTime.Equal(time.Unix(epoch, 0)) {
			t.Errorf("%s: owner %d:%d %q, mtime %s: want 0:0 and SOURCE_DATE_EPOCH", h.Name, h.Uid, h.Gid, h.Uname, h.ModTime)
		}
		if h.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[strings.TrimPrefix(h.Name, name+"/")] = data
			if h.Name == name+"/assuresign_exporter.exe" && h.Mode&0o111 == 0 {
				t.Errorf("%s is not executable", h.Name)
			}
		}
	}
	for _, f := range []string{"LICENSE", "NOTICE", "README.md", "CHANGELOG.md", "examples/alerts.yml", "examples/prometheus.yml", "examples/systemd/assuresign_exporter.service"} {
		got, ok := files[f]
		if !ok {
			t.Errorf("%s: no %s", name, f)
		} else if !bytes.Equal(got, readRepoFile(t, f)) {
			t.Errorf("%s: %s differs from the repository's", name, f)
		}
	}
	exe, ok := files["assuresign_exporter.exe"]
	if !ok {
		t.Fatalf("%s: no assuresign_exporter.exe", name)
	}
	bin, err := pe.NewFile(bytes.NewReader(exe))
	if err != nil {
		t.Fatalf("assuresign_exporter.exe: %v", err)
	}
	if bin.Machine != pe.IMAGE_FILE_MACHINE_ARM64 {
		t.Errorf("assuresign_exporter.exe: machine %#x, want arm64", bin.Machine)
	}
	if !bytes.Contains(exe, []byte("release@test")) {
		t.Error("assuresign_exporter.exe is not stamped with the build information (BUILD_USER)")
	}

	if again, _ := pack(); !bytes.Equal(again, tarball) {
		t.Error("packing again gave other bytes: the tarball is not reproducible")
	}
}

// TestWorkflow reads the CI workflow: it runs on pull requests and on v*
// tags; pull requests lint, test and build; a tag publishes the tarballs and
// the image; every make target it runs exists; every third-party action is
// pinned to a commit and every image to a digest; no checkout keeps its
// credentials (nothing pushes with git).
func TestWorkflow(t *testing.T) {
	makeTool := requiredTool(t, "make")
	const file = ".github/workflows/ci.yml"
	type step struct {
		Name string         `yaml:"name"`
		Uses string         `yaml:"uses"`
		Run  string         `yaml:"run"`
		With map[string]any `yaml:"with"`
	}
	var wf struct {
		On struct {
			PullRequest *struct{} `yaml:"pull_request"`
			Push        struct {
				Branches []string `yaml:"branches"`
				Tags     []string `yaml:"tags"`
			} `yaml:"push"`
		} `yaml:"on"`
		Jobs map[string]struct {
			If          string            `yaml:"if"`
			Needs       []string          `yaml:"needs"`
			Container   any               `yaml:"container"`
			Permissions map[string]string `yaml:"permissions"`
			Steps       []step            `yaml:"steps"`
		} `yaml:"jobs"`
	}
	data := readRepoFile(t, file)
	// `on: pull_request:` with no value decodes as null: give it a value.
	if err := yaml.Unmarshal(bytes.Replace(data, []byte("  pull_request:\n"), []byte("  pull_request: {}\n"), 1), &wf); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if wf.On.PullRequest == nil || !slices.Contains(wf.On.Push.Tags, "v*") || !slices.Contains(wf.On.Push.Branches, "main") {
		t.Errorf("%s: want pull_request, pushes to main and tags v*", file)
	}

	tagOnly := func(job string) bool {
		return strings.Contains(wf.Jobs[job].If, "startsWith(github.ref, 'refs/tags/v')")
	}
	runs := map[string][]string{} // make targets by job
	makeLine := regexp.MustCompile(`(?m)^\s*make\s+([^|;&#\n]+)`)
	for job, j := range wf.Jobs {
		if len(j.Steps) == 0 {
			t.Errorf("%s: job %s has no steps", file, job)
		}
		for i, s := range j.Steps {
			switch {
			case strings.HasPrefix(s.Uses, "actions/") && !regexp.MustCompile(`^actions/[\w.-]+@v\d+$`).MatchString(s.Uses):
				t.Errorf("%s: job %s step %d: %q is not pinned to a major version", file, job, i, s.Uses)
			case s.Uses != "" && !strings.HasPrefix(s.Uses, "actions/") && !pinnedAction.MatchString(s.Uses):
				// A tag of a third party's action can be moved to other code.
				t.Errorf("%s: job %s step %d: %q is not pinned to a full commit SHA", file, job, i, s.Uses)
			case strings.HasPrefix(s.Uses, "docker/setup-qemu-action@"):
				t.Errorf("%s: job %s step %d: QEMU is not needed, the Dockerfile cross-compiles", file, job, i)
			case strings.HasPrefix(s.Uses, "actions/checkout@") && s.With["persist-credentials"] != false:
				t.Errorf("%s: job %s step %d: checkout keeps the job's token in .git/config; set persist-credentials: false", file, job, i)
			case s.Uses == "" && s.Run == "":
				t.Errorf("%s: job %s step %d runs nothing", file, job, i)
			}
			for _, m := range makeLine.FindAllStringSubmatch(s.Run, -1) {
				for _, target := range strings.Fields(m[1]) {
					if !strings.Contains(target, "=") {
						runs[job] = append(runs[job], target)
					}
				}
			}
		}
	}
	for job, want := range map[string][]string{"lint": {"lint"}, "test": {"unit", "rules", "deploy"}, "build": {"tarballs"}, "image": {"docker-publish"}} {
		for _, target := range want {
			if !slices.Contains(runs[job], target) {
				t.Errorf("%s: job %s does not run make %s", file, job, target)
			}
		}
	}
	for _, job := range []string{"lint", "test", "build"} {
		if wf.Jobs[job].If != "" {
			t.Errorf("%s: job %s must run on every pull request, not only if %s", file, job, wf.Jobs[job].If)
		}
	}
	for _, job := range []string{"release", "image"} {
		j := wf.Jobs[job]
		if !tagOnly(job) || !slices.Contains(j.Needs, "test") || !slices.Contains(j.Needs, "lint") {
			t.Errorf("%s: job %s must run on v* tags only, after lint and test", file, job)
		}
		found := false
		for _, s := range j.Steps {
			found = found || strings.Contains(s.Run, `test "$GITHUB_REF_NAME" = "v$(cat VERSION)"`)
		}
		if !found {
			t.Errorf("%s: job %s does not check that the tag is VERSION's", file, job)
		}
	}
	for job, j := range wf.Jobs {
		image, _ := j.Container.(string)
		if m, ok := j.Container.(map[string]any); ok {
			image, _ = m["image"].(string)
		}
		if j.Container != nil && !pinnedImage.MatchString(image) {
			t.Errorf("%s: job %s runs in %v, not pinned by digest", file, job, j.Container)
		}
	}
	if slices.Contains(wf.Jobs["image"].Needs, "release") {
		t.Errorf("%s: job image does not need release: the image is built from the tag's sources", file)
	}
	if wf.Jobs["release"].Permissions["contents"] != "write" || wf.Jobs["image"].Permissions["packages"] != "write" {
		t.Errorf("%s: release needs contents: write, image packages: write", file)
	}
	if !slices.ContainsFunc(wf.Jobs["image"].Steps, func(s step) bool {
		return strings.HasPrefix(s.Uses, "docker/login-action@") && s.With["registry"] == "ghcr.io"
	}) {
		t.Errorf("%s: the image job does not log in to ghcr.io with docker/login-action", file)
	}
	// The release job publishes what the build job uploads: make tarballs' RELEASE_DIR.
	if !slices.Contains(wf.Jobs["release"].Needs, "build") {
		t.Errorf("%s: job release must run after build, whose tarballs it publishes", file)
	}
	releaseDir := makeVar(t, "RELEASE_DIR")
	if !slices.ContainsFunc(wf.Jobs["build"].Steps, func(s step) bool {
		path, _ := s.With["path"].(string)
		return strings.HasPrefix(s.Uses, "actions/upload-artifact@") && slices.Equal([]string{strings.TrimSuffix(path, "/")}, releaseDir)
	}) {
		t.Errorf("%s: the build job does not upload RELEASE_DIR %v", file, releaseDir)
	}

	// The release notes: the release job's first command cuts VERSION's section
	// out of the CHANGELOG; run on copies, it must give that section.
	var notes string
	for _, st := range wf.Jobs["release"].Steps {
		if strings.Contains(st.Run, "release-notes.md") {
			notes, _, _ = strings.Cut(strings.TrimSpace(st.Run), "\n")
		}
	}
	if notes == "" {
		t.Errorf("%s: job release writes no release-notes.md", file)
	} else {
		dir := t.TempDir()
		for _, f := range []string{"CHANGELOG.md", "VERSION"} {
			if err := os.WriteFile(filepath.Join(dir, f), readRepoFile(t, f), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(requiredTool(t, "sh"), "-ec", notes)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %s: %v\n%s", file, notes, err, out)
		}
		got, err := os.ReadFile(filepath.Join(dir, "release-notes.md"))
		if err != nil {
			t.Fatal(err)
		}
		version := strings.TrimSpace(string(readRepoFile(t, "VERSION")))
		_, section, _ := strings.Cut(string(readRepoFile(t, "CHANGELOG.md")), "\n## "+version+" ")
		_, section, _ = strings.Cut(section, "\n")
		section, _, _ = strings.Cut(section, "\n## ")
		if strings.TrimSpace(string(got)) == "" || strings.TrimSpace(string(got)) != strings.TrimSpace(section) {
			t.Errorf("%s: the release notes of %s are not the CHANGELOG's section \"## %s ...\":\n%s", file, version, version, firstLines(got, 5))
		}
	}

	// Every target exists: make -n fails on one it has no rule for.
	var targets []string
	for _, ts := range runs {
		targets = append(targets, ts...)
	}
	slices.Sort(targets)
	for _, target := range slices.Compact(targets) {
		cmd := exec.Command(makeTool, "-n", target)
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s runs make %s: %v\n%s", file, target, err, firstLines(out, 5))
		}
	}
}

var (
	pinnedAction = regexp.MustCompile(`^[\w.-]+/[\w./-]+@[0-9a-f]{40}$`)
	pinnedImage  = regexp.MustCompile(`^[^\s@]+@sha256:[0-9a-f]{64}$`)
)

// TestDockerfileBaseImages: every FROM names its image by digest, so a
// rebuild of a tag uses the base that was reviewed.
func TestDockerfileBaseImages(t *testing.T) {
	from := regexp.MustCompile(`(?m)^FROM\s+(?:--platform=\S+\s+)?(\S+)`)
	froms := from.FindAllSubmatch(readRepoFile(t, "Dockerfile"), -1)
	if len(froms) == 0 {
		t.Fatal("Dockerfile: no FROM")
	}
	for _, m := range froms {
		if !pinnedImage.Match(m[1]) {
			t.Errorf("Dockerfile: FROM %s is not pinned by digest (@sha256:...)", m[1])
		}
	}
}

func firstLines(b []byte, n int) string {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() && len(lines) < n {
		lines = append(lines, sc.Text())
	}
	return strings.Join(lines, "\n")
}
