package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

func TestModuleVersion(t *testing.T) {
	for _, tc := range []struct {
		main string
		ok   bool
		want string
	}{
		{"v0.2.0", true, "v0.2.0"},
		{"v0.0.0-20261204165612-855c8b5abcde+dirty", true, "v0.0.0-20261204165612-855c8b5abcde+dirty"},
		{"(devel)", true, "devel"},
		{"", true, "devel"},
		{"v0.2.0", false, "devel"},
	} {
		info := &debug.BuildInfo{Main: debug.Module{Path: testenv.ExporterPkg, Version: tc.main}}
		assert.Equal(t, tc.want, moduleVersion(info, tc.ok), "%+v", tc)
	}
}

// TestVersionAndManPage runs a binary built with plain go build, as go run
// and go install build it: --version names a version, and --help-man is a
// man page whose header line holds that version as one word.
func TestVersionAndManPage(t *testing.T) {
	bin := testenv.BuildBinary(t, testenv.ExporterPkg)
	out, err := exec.Command(bin, "--version").CombinedOutput()
	require.NoError(t, err)
	m := regexp.MustCompile(`^assuresign_exporter, version (\S+) \(`).FindStringSubmatch(string(out))
	require.NotNil(t, m, "--version:\n%s", out)
	ver := m[1]
	assert.Regexp(t, `^(devel|v\d+\.\d+\.\d+\S*)$`, ver)
	assert.Contains(t, string(out), "go version:", "--version still prints the whole build information")

	man, err := exec.Command(bin, "--help-man").CombinedOutput()
	require.NoError(t, err)
	lines := strings.Split(string(man), "\n")
	// .TH title section date source manual (man(7)); kingpin gives the
	// version as the third and the author, empty, as the fourth.
	assert.Equal(t, `.TH assuresign_exporter 1 `+ver+` ""`, lines[0])
	assert.Equal(t, `.SH "NAME"`, lines[1])
	for i, l := range lines[1:] {
		// Every line is a request or text of the page: the header did not
		// spill over into lines of their own.
		assert.NotRegexp(t, `^\s+(build user|build date|go version|platform|tags):`, l, "line %d", i+2)
	}
	assert.Contains(t, string(man), `\fB--watch.file=WATCH.FILE\fR`)
	// The page says what the program is: NAME's "name \- summary", and a
	// DESCRIPTION paragraph.
	assert.Equal(t, filepath.Base(bin)+` \- `+appSummary, lines[2], "NAME")
	desc := regexp.MustCompile(`(?m)^\.SH "DESCRIPTION"\n(.*)\n\.SH`).FindStringSubmatch(string(man))
	require.NotNil(t, desc, "no DESCRIPTION section:\n%s", man)
	assert.Equal(t, appDescription, desc[1])
	help, err := exec.Command(bin, "--help").CombinedOutput()
	require.NoError(t, err)
	assert.Contains(t, strings.Join(strings.Fields(string(help)), " "), appDescription, "--help says what the program is")

	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Log("groff not found: the page was checked by its header only")
		return
	}
	// -ww: every warning but -Wbreak's (a line too long to justify: the
	// endpoint's default URL); -z: no output but the warnings.
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-Wbreak", "-z")
	cmd.Stdin = strings.NewReader(string(man))
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	warnings, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", warnings)
	assert.Empty(t, string(warnings), "groff's warnings")
	cmd = exec.Command(groff, "-man", "-Tutf8", "-P", "-cbou")
	cmd.Stdin = strings.NewReader(string(man))
	page, err := cmd.Output()
	require.NoError(t, err)
	text := strings.Split(strings.TrimSpace(string(page)), "\n")
	assert.Regexp(t, `^assuresign_exporter\(1\)\s.*\sassuresign_exporter\(1\)$`, text[0], "the page's header")
	assert.Regexp(t, `^\s+`+regexp.QuoteMeta(ver)+`\s+assuresign_exporter\(1\)$`, text[len(text)-1], "the page's footer carries the version")
}

// TestReleaseBuildTags: the build `make build` (and promu, and the image)
// makes names its build tags in --version, which says "tags: unknown" for a
// build without -tags.
func TestReleaseBuildTags(t *testing.T) {
	testenv.SkipShort(t)
	makeTool, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make not found")
	}
	plan, err := exec.Command(makeTool, "-s", "-n", "build").CombinedOutput()
	require.NoError(t, err, "%s", plan)
	m := regexp.MustCompile(`go build .*-tags '([^']+)'`).FindStringSubmatch(string(plan))
	require.NotNil(t, m, "make build passes no -tags:\n%s", plan)
	tags := m[1]
	promu, err := os.ReadFile(".promu.yml")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^  flags: .*-tags `+regexp.QuoteMeta(tags)+`$`, string(promu), ".promu.yml builds with make build's tags")

	out, err := exec.Command(testenv.BuildBinary(t, testenv.ExporterPkg, "-tags", tags), "--version").CombinedOutput()
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^\s+tags:\s+`+regexp.QuoteMeta(tags)+`$`, string(out))
}
