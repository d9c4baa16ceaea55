package main

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// The documentation's tests: each fails when something is added to the code
// (a flag, a metric family, an alert) without its documentation, or when a
// page moves and leaves a link behind.

// runbookBase is where every alert's runbook_url points, followed by the
// alert's name in lower case: its section in docs/alerts.md.
const runbookBase = "https://github.com/assuresign-exporter/assuresign_exporter/blob/main/docs/alerts.md#"

// readDoc returns a file of the repository as text.
func readDoc(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// mdLine is a line of a Markdown file outside its fenced code blocks.
type mdLine struct {
	n    int // 1-based
	text string
}

// proseLines returns the lines of md outside fenced code blocks.
func proseLines(md string) []mdLine {
	var out []mdLine
	fence := ""
	for i, l := range strings.Split(md, "\n") {
		trimmed := strings.TrimLeft(l, " ")
		if fence == "" && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")) {
			fence = trimmed[:3]
			continue
		}
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		out = append(out, mdLine{i + 1, l})
	}
	return out
}

// codeBlock is a fenced code block: its info string and its lines, less the
// fence's indentation.
type codeBlock struct {
	lang string
	text string
}

func codeBlocks(md string) []codeBlock {
	var out []codeBlock
	var cur *codeBlock
	indent := 0
	for l := range strings.SplitSeq(md, "\n") {
		trimmed := strings.TrimLeft(l, " ")
		if cur == nil {
			if strings.HasPrefix(trimmed, "```") {
				indent = len(l) - len(trimmed)
				cur = &codeBlock{lang: strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))}
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") {
			out = append(out, *cur)
			cur = nil
			continue
		}
		if len(l) >= indent && strings.TrimSpace(l[:indent]) == "" {
			l = l[indent:]
		}
		cur.text += l + "\n"
	}
	return out
}

// headingRe is an ATX heading: its level and its text.
var headingRe = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)

// anchors returns the anchors GitHub gives the headings of md, in order.
func anchors(md string) []string {
	var out []string
	seen := map[string]int{}
	for _, l := range proseLines(md) {
		m := headingRe.FindStringSubmatch(l.text)
		if m == nil {
			continue
		}
		a := slug(m[2])
		if n := seen[a]; n > 0 {
			seen[a]++
			a += "-" + strconv.Itoa(n)
		} else {
			seen[a] = 1
		}
		out = append(out, a)
	}
	return out
}

// slug is GitHub's anchor for a heading: lower case, punctuation dropped but
// for - and _, spaces turned into hyphens.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// section returns the lines of md under the heading "## title" up to the
// next heading of level 2 or above.
func section(t *testing.T, md, title string) []mdLine {
	t.Helper()
	var out []mdLine
	in := false
	for _, l := range proseLines(md) {
		if m := headingRe.FindStringSubmatch(l.text); m != nil && len(m[1]) <= 2 {
			if in {
				break
			}
			in = len(m[1]) == 2 && m[2] == title
			continue
		}
		if in {
			out = append(out, l)
		}
	}
	require.NotEmpty(t, out, "no section %q", "## "+title)
	return out
}

// tableRows returns the cells of each table row among lines, less the header
// and delimiter rows; a cell's `\|` is a literal |.
func tableRows(lines []mdLine) (rows [][]string, at []int) {
	header := true
	for _, l := range lines {
		s := strings.TrimSpace(l.text)
		if !strings.HasPrefix(s, "|") {
			header = true // a new table starts with its header
			continue
		}
		if header {
			header = false
			continue
		}
		if strings.Trim(s, "|-: ") == "" {
			continue
		}
		s = strings.TrimSuffix(strings.TrimPrefix(s, "|"), "|")
		s = strings.ReplaceAll(s, `\|`, "\x00")
		var cells []string
		for c := range strings.SplitSeq(s, "|") {
			cells = append(cells, strings.ReplaceAll(strings.TrimSpace(c), "\x00", "|"))
		}
		rows = append(rows, cells)
		at = append(at, l.n)
	}
	return rows, at
}

// TestAlertRunbooks: every alert of examples/alerts.yml carries the
// runbook_url of its own section of docs/alerts.md, that section exists with
// its meaning, impact and action, and every section is an alert's. The
// mixin sets the same base for the alerts it builds.
func TestAlertRunbooks(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(readDoc(t, "examples/alerts.yml")), &rules))
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			assert.Equal(t, runbookBase+strings.ToLower(r.Alert), r.Annotations["runbook_url"], "%s: runbook_url", r.Alert)
		}
	}
	require.NotEmpty(t, alerts)

	md := readDoc(t, "docs/alerts.md")
	sections := map[string][]string{} // alert section: its lines
	var current string
	for _, l := range proseLines(md) {
		if m := headingRe.FindStringSubmatch(l.text); m != nil {
			switch len(m[1]) {
			case 1:
				current = ""
			case 2:
				current = m[2]
				sections[current] = nil
			}
			continue
		}
		if current != "" {
			sections[current] = append(sections[current], l.text)
		}
	}
	pageAnchors := anchors(md)
	for _, a := range alerts {
		body, ok := sections[a]
		if !assert.True(t, ok, "docs/alerts.md has no section \"## %s\" (its runbook)", a) {
			continue
		}
		assert.Contains(t, pageAnchors, strings.ToLower(a), "%s: the anchor its runbook_url names", a)
		text := strings.Join(body, "\n")
		for _, part := range []string{"**Meaning:**", "**Impact:**", "**Action:**"} {
			assert.Contains(t, text, part, "docs/alerts.md, %s", a)
		}
	}
	for s := range sections {
		assert.Contains(t, alerts, s, "docs/alerts.md: section \"## %s\" is no alert of examples/alerts.yml", s)
	}

	m := regexp.MustCompile(`runbookURLBase:\s*'([^']*)'`).FindStringSubmatch(readDoc(t, "mixin/mixin.libsonnet"))
	require.NotNil(t, m, "mixin/mixin.libsonnet: no runbookURLBase")
	assert.Equal(t, runbookBase, m[1], "the mixin's runbookURLBase")
}

// linkRe is a Markdown link or image: its target, less any title.
var linkRe = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// TestDocLinks: every relative link of the READMEs, CONTRIBUTING.md, the CHANGELOG and docs/ leads to a file
// that exists and, into a Markdown file, to a heading it has.
func TestDocLinks(t *testing.T) {
	pages, err := filepath.Glob("docs/*.md")
	require.NoError(t, err)
	pages = append(pages, "README.md", "CONTRIBUTING.md", "CHANGELOG.md", "mixin/README.md", "deploy/helm/assuresign-exporter/README.md")
	inlineCode := regexp.MustCompile("`[^`]*`")
	for _, page := range pages {
		for _, l := range proseLines(readDoc(t, page)) {
			for _, m := range linkRe.FindAllStringSubmatch(inlineCode.ReplaceAllString(l.text, ""), -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				path := page
				if file != "" {
					path = filepath.Join(filepath.Dir(page), file)
				}
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s:%d: link %s: no file %s", page, l.n, target, path)
					continue
				}
				if anchor != "" && strings.HasSuffix(path, ".md") && !slices.Contains(anchors(readDoc(t, path)), anchor) {
					t.Errorf("%s:%d: link %s: %s has no heading with the anchor #%s", page, l.n, target, path, anchor)
				}
			}
		}
	}
}

// TestLayoutDocumented: docs/development.md's layout table names every
// top-level directory and every package two levels down (assuresign/rest,
// internal/options), each once, so a package added or moved shows there.
func TestLayoutDocumented(t *testing.T) {
	linked := map[string]int{}
	for _, l := range section(t, readDoc(t, "docs/development.md"), "Layout") {
		for _, m := range linkRe.FindAllStringSubmatch(l.text, -1) {
			if target, ok := strings.CutPrefix(m[1], "../"); ok {
				linked[strings.TrimSuffix(target, "/")]++
			}
		}
	}
	for target, n := range linked {
		assert.Equal(t, 1, n, "the layout links %s %d times", target, n)
	}
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		top := e.Name()
		if hasPackage(t, top) {
			assert.Positive(t, linked[top], "the layout does not name the package %s", top)
		}
		assert.True(t, slices.ContainsFunc(slices.Collect(maps.Keys(linked)), func(target string) bool {
			return target == top || strings.HasPrefix(target, top+"/")
		}), "the layout names nothing of %s/", top)
		subs, err := os.ReadDir(top)
		require.NoError(t, err)
		for _, sub := range subs {
			dir := top + "/" + sub.Name()
			if sub.IsDir() && sub.Name() != "testdata" && hasPackage(t, dir) {
				assert.Positive(t, linked[dir], "the layout does not name the package %s", dir)
			}
		}
	}
}

// hasPackage reports whether dir holds Go code other than tests.
func hasPackage(t *testing.T, dir string) bool {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	return slices.ContainsFunc(files, func(f string) bool { return !strings.HasSuffix(f, "_test.go") })
}

// TestREADMEMapsEveryPage: the README's Documentation table links every page
// of docs/, once.
func TestREADMEMapsEveryPage(t *testing.T) {
	mapped := map[string]int{}
	rows, _ := tableRows(section(t, readDoc(t, "README.md"), "Documentation"))
	for _, row := range rows {
		for _, m := range linkRe.FindAllStringSubmatch(row[0], -1) {
			mapped[m[1]]++
		}
	}
	pages, err := filepath.Glob("docs/*.md")
	require.NoError(t, err)
	for _, page := range pages {
		assert.Equal(t, 1, mapped[page], "the README's map links %s %d times", page, mapped[page])
	}
}
