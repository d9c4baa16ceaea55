package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/assuresign-exporter/assuresign_exporter/internal/demo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// releaseState is what CHANGELOG.md says of VERSION: "unreleased", or the
// release's date.
func releaseState(t *testing.T, version, changelog string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^## ` + regexp.QuoteMeta(version) + ` / (\S+)\s*$`).FindStringSubmatch(changelog)
	require.NotNil(t, m, "CHANGELOG.md has no section \"## %s / <date or unreleased>\"", version)
	require.Regexp(t, `^(unreleased|\d{4}-\d{2}-\d{2})$`, m[1], "CHANGELOG.md's %s section", version)
	return m[1]
}

// releaseDownloads are the ways the docs could tell users to take the
// release of version: its tarballs, its image, its tag (kubectl apply of
// it; a kustomization's resources may name the tag to pin).
func releaseDownloads(version string) *regexp.Regexp {
	v := regexp.QuoteMeta(version)
	return regexp.MustCompile(`releases/download/v` + v + `\b|assuresign_exporter-` + v + `\.[a-z]|` +
		`docker (?:run|pull)\b.*:v` + v + `\b|apply -k\b.*\?ref=v` + v + `\b`)
}

// TestInstallDocsFollowTheChangelog: while CHANGELOG.md says VERSION is
// unreleased, no page tells users to download it (there is nothing there
// yet), and the README and the install page say so and how to build it
// instead; once the section has a date, they no longer say it is unreleased.
func TestInstallDocsFollowTheChangelog(t *testing.T) {
	version := strings.TrimSpace(readDoc(t, "VERSION"))
	state := releaseState(t, version, readDoc(t, "CHANGELOG.md"))
	pages, err := filepath.Glob(filepath.Join("docs", "*.md"))
	require.NoError(t, err)
	pages = append(pages, "README.md")
	notYet := version + " is not released yet"
	for _, page := range pages {
		text := readDoc(t, page)
		if state != "unreleased" {
			assert.NotContains(t, text, notYet, "%s: CHANGELOG.md dates %s %s", page, version, state)
			continue
		}
		for i, line := range strings.Split(text, "\n") {
			assert.NotRegexp(t, releaseDownloads(version), line, "%s:%d: downloads %s, which CHANGELOG.md says is unreleased", page, i+1, version)
		}
	}
	if state == "unreleased" {
		for _, page := range []string{"README.md", filepath.Join("docs", "deployment.md")} {
			text := readDoc(t, page)
			assert.Contains(t, text, notYet, "%s says nothing is released", page)
			assert.Contains(t, text, "make build", "%s: how to build it instead", page)
			assert.Contains(t, text, "go install "+goInstallTarget(t)+"@latest", "%s: how to install it instead", page)
		}
	}
}

// goInstallTarget is what `go install <it>@latest` installs: the module at
// the repository's root, whose package there is the exporter's main.
// go install refuses a module whose go.mod replaces or excludes modules.
func goInstallTarget(t *testing.T) string {
	t.Helper()
	gomod := readDoc(t, "go.mod")
	assert.NotRegexp(t, `(?m)^(replace|exclude)\b`, gomod, "go.mod's replace or exclude directives would make go install ...@latest fail")
	module := regexp.MustCompile(`(?m)^module (\S+)$`).FindStringSubmatch(gomod)
	require.NotNil(t, module, "go.mod names no module")
	assert.Regexp(t, `(?m)^package main$`, readDoc(t, "main.go"), "the module's root is the exporter's main package")
	return module[1]
}

func TestReleaseDownloads(t *testing.T) {
	re := releaseDownloads("0.2.0")
	for line, want := range map[string]bool{
		"base=https://github.com/assuresign-exporter/assuresign_exporter/releases/download/v0.2.0":    true,
		`curl -LO "$base/assuresign_exporter-0.2.0.linux-amd64.tar.gz"`:                               true,
		"docker run --rm -p 9865:9865 ghcr.io/assuresign-exporter/assuresign_exporter:v0.2.0 --demo":  true,
		"kubectl apply -k 'https://github.com/a/b//deploy/kubernetes/base?ref=v0.2.0'":                true,
		"base=https://github.com/assuresign-exporter/assuresign_exporter/releases/download/v$version": false,
		"the image `ghcr.io/assuresign-exporter/assuresign_exporter:v0.2.0` every manifest names":     false,
		"docker run --rm ghcr.io/assuresign-exporter/assuresign_exporter:v0.2.01":                     false,
	} {
		assert.Equal(t, want, re.MatchString(line), fmt.Sprintf("%q", line))
	}
}

// TestAlertmanagerGroupingDocumented holds what deployment.md says the
// example Alertmanager configuration groups by to its route's group_by.
func TestAlertmanagerGroupingDocumented(t *testing.T) {
	groupBy := regexp.MustCompile(`(?m)^  group_by: (\[.*\])$`).FindStringSubmatch(readDoc(t, filepath.Join("examples", "alertmanager.yml")))
	require.NotNil(t, groupBy, "examples/alertmanager.yml: no route group_by")
	doc := strings.Join(strings.Fields(readDoc(t, filepath.Join("docs", "deployment.md"))), " ")
	said := regexp.MustCompile("grouped by `(\\[[^`]*\\])`").FindAllStringSubmatch(doc, -1)
	require.NotEmpty(t, said, "docs/deployment.md does not say what alerts are grouped by")
	for _, m := range said {
		assert.Equal(t, groupBy[1], m[1], "docs/deployment.md: alerts grouped by")
	}
}

// TestREADMEDemoCount holds the README's count of the demo's documents to
// what the demo watches, the count its landing page shows.
func TestREADMEDemoCount(t *testing.T) {
	readme := strings.Join(strings.Fields(readDoc(t, "README.md")), " ")
	m := regexp.MustCompile(`watch list of (\d+) documents \(the count its landing page shows: (\d+) by their id and (\d+) in two envelopes, of (\d+) and (\d+)\)`).FindStringSubmatch(readme)
	require.NotNil(t, m, "README.md: no count of the demo's documents")
	want := []int{demo.WatchedDocuments(), demo.Documents, demo.WatchedDocuments() - demo.Documents}
	want = append(want, demo.EnvelopeSizes...)
	got := make([]int, len(m)-1)
	for i, s := range m[1:] {
		got[i] = atoi(t, s)
	}
	assert.Equal(t, want, got, "README.md: the demo's documents: in all, by id, in envelopes, each envelope's")
}

// TestMemoryFiguresAgree holds the memory figures the README and
// deployment.md give to the measured ones, performance.md's resident memory
// rows (their VmHWM), so the three pages say one thing.
func TestMemoryFiguresAgree(t *testing.T) {
	perf := readDoc(t, filepath.Join("docs", "performance.md"))
	measured := map[string]string{}
	for _, docs := range []string{"10,000", "100,000"} {
		m := regexp.MustCompile(`(?m)^\| resident memory, ` + docs + ` documents, real binary \|[^|]*\(VmHWM (\d+) MiB\)`).FindStringSubmatch(perf)
		require.NotNil(t, m, "docs/performance.md: no resident memory row at %s documents with its VmHWM", docs)
		measured[docs] = m[1]
	}
	flat := func(path string) string { return strings.Join(strings.Fields(readDoc(t, path)), " ") }
	for _, c := range []struct{ page, docs, re string }{
		{"README.md", "10,000", `at 10,000 documents it takes .{0,200}? in (\d+) MiB of memory`},
		{"docs/deployment.md", "10,000", `at most (\d+) MiB RSS with 10,000 watched documents`},
		{"docs/deployment.md", "100,000", `and at most (\d+) MiB with 100,000`},
	} {
		m := regexp.MustCompile(c.re).FindStringSubmatch(flat(c.page))
		if assert.NotNil(t, m, "%s: no memory figure at %s documents (%s)", c.page, c.docs, c.re) {
			assert.Equal(t, measured[c.docs], m[1], "%s: MiB at %s documents, as docs/performance.md measured", c.page, c.docs)
		}
	}
}

// TestChangelogKinds: each release of CHANGELOG.md lists its entries by
// kind, in the order its preamble gives ([CHANGE], [FEATURE],
// [ENHANCEMENT], [BUGFIX]), each entry once, so branches merged by
// concatenation leave no entry out of place or twice.
func TestChangelogKinds(t *testing.T) {
	kinds := []string{"[CHANGE]", "[FEATURE]", "[ENHANCEMENT]", "[BUGFIX]"}
	release, last := "", 0
	seen := map[string]int{}
	for n, line := range strings.Split(readDoc(t, "CHANGELOG.md"), "\n") {
		if strings.HasPrefix(line, "## ") {
			release, last = line, 0
			continue
		}
		entry, ok := strings.CutPrefix(line, "* ")
		if !ok || release == "" {
			continue
		}
		kind, _, _ := strings.Cut(entry, " ")
		k := slices.Index(kinds, kind)
		if !assert.GreaterOrEqual(t, k, 0, "CHANGELOG.md:%d: %q is none of %v", n+1, kind, kinds) {
			continue
		}
		assert.GreaterOrEqual(t, k, last, "CHANGELOG.md:%d (%s): a %s entry after the %s ones", n+1, release, kind, kinds[last])
		last = max(last, k)
		if at, twice := seen[entry]; twice {
			t.Errorf("CHANGELOG.md:%d: the entry of line %d again", n+1, at)
		}
		seen[entry] = n + 1
	}
}
