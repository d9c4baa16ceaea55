package main

import (
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
	"github.com/assuresign-exporter/assuresign_exporter/assuresign/simulator"
	"github.com/assuresign-exporter/assuresign_exporter/collector"
	"github.com/assuresign-exporter/assuresign_exporter/internal/demo"
	"github.com/assuresign-exporter/assuresign_exporter/internal/options"
	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
	"github.com/assuresign-exporter/assuresign_exporter/watchlist"
)

// The drift tests: what the binary and the code expose against what
// docs/configuration.md, docs/metrics.md and the README say.

// helpFlag is a flag as --help lists it.
type helpFlag struct {
	name, def string
}

// helpFlagRe is a flag's line in --help (indented by two spaces, or six
// without a short flag; the help's continuation lines are indented further):
// whether it is a boolean (--[no-]name), its name, and what follows.
var helpFlagRe = regexp.MustCompile(`^  (?:-\w, |    )--(\[no-\])?([a-z0-9][a-z0-9.-]*)(=?)(.*)$`)

// helpFlags runs the binary's --help and returns its flags with their
// defaults as it prints them: unquoted, "" for none (a placeholder such as
// WATCH.FILE), and for a boolean its kingpin default ("false" unless set).
func helpFlags(t *testing.T) []helpFlag {
	t.Helper()
	out, err := exec.Command(testenv.BuildBinary(t, testenv.ExporterPkg), "--help").CombinedOutput()
	require.NoError(t, err, "%s", out)
	boolDefaults := map[string]string{}
	app := kingpin.New(exporterName, "")
	options.AddFlags(app)
	for _, f := range app.Model().Flags {
		if f.IsBoolFlag() {
			boolDefaults[f.Name] = strings.Join(f.Default, ",")
		}
	}
	var flags []helpFlag
	for line := range strings.SplitSeq(string(out), "\n") {
		m := helpFlagRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := helpFlag{name: m[2]}
		switch rest := m[4]; {
		case m[1] != "":
			f.def = cmpOr(boolDefaults[f.name], "false")
		case m[3] == "":
			t.Fatalf("--help: --%s is neither a boolean nor has a value: %q", f.name, line)
		case strings.HasPrefix(rest, `"`):
			q, err := strconv.QuotedPrefix(rest)
			require.NoError(t, err, "--help: %s", line)
			f.def, _ = strconv.Unquote(q)
		default:
			if value, _, _ := strings.Cut(rest, " "); value != strings.ToUpper(f.name) { // else a placeholder: no default
				f.def = value
			}
		}
		flags = append(flags, f)
	}
	require.NotEmpty(t, flags, "no flags in --help:\n%s", out)
	return flags
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestFlagsDocumented: every flag of --help (the exporter's, exporter-toolkit's
// and promslog's) has its row in docs/configuration.md's "## Flags" table,
// with its default as --help prints it, and every row there is a flag.
func TestFlagsDocumented(t *testing.T) {
	testenv.SkipShort(t)
	rows, at := tableRows(section(t, readDoc(t, "docs/configuration.md"), "Flags"))
	documented := map[string]string{} // flag: its default cell
	for i, r := range rows {
		require.GreaterOrEqual(t, len(r), 3, "docs/configuration.md:%d: want | `--flag` | default | meaning |", at[i])
		name, ok := strings.CutPrefix(strings.Trim(r[0], "`"), "--")
		require.True(t, ok, "docs/configuration.md:%d: the first cell is not `--flag`: %q", at[i], r[0])
		documented[name] = strings.Trim(r[1], "`")
	}
	seen := map[string]bool{}
	for _, f := range helpFlags(t) {
		seen[f.name] = true
		def, ok := documented[f.name]
		if !assert.True(t, ok, "--%s (default %q) is not in docs/configuration.md's Flags table", f.name, f.def) {
			continue
		}
		assert.Equal(t, f.def, def, "--%s: its default in docs/configuration.md", f.name)
	}
	for name := range documented {
		assert.True(t, seen[name], "docs/configuration.md documents --%s, which --help does not list", name)
	}
}

// family is a metric family as the code exposes it or the docs list it.
type family struct {
	typ, help string
	labels    []string // sorted
	// watchLabels: the series carry the watch file's labels too (only in
	// the docs: "watch-file labels").
	watchLabels bool
}

// standardFamily reports families that client_golang's Go and process
// collectors add, which docs/metrics.md does not list.
func standardFamily(name string) bool {
	return strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_")
}

// recordingRegistry is a registry that keeps the descriptors of every
// collector registered with it.
type recordingRegistry struct {
	*prometheus.Registry
	descs []*prometheus.Desc
}

func (r *recordingRegistry) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	for d := range ch {
		r.descs = append(r.descs, d)
	}
	return r.Registry.Register(c)
}

func (r *recordingRegistry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// descRe reads a Desc's String: its name, help, constant and variable labels.
var descRe = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*"), help: ("(?:[^"\\]|\\.)*"), unit: "(?:[^"\\]|\\.)*", constLabels: \{(.*)\}, variableLabels: \{(.*)\}\}$`)

// parseDesc returns a descriptor's name, help and label names.
func parseDesc(t *testing.T, d *prometheus.Desc) (name, help string, labels []string) {
	t.Helper()
	m := descRe.FindStringSubmatch(d.String())
	require.NotNil(t, m, "cannot read the descriptor %s", d)
	name, _ = strconv.Unquote(m[1])
	help, _ = strconv.Unquote(m[2])
	for rest := m[3]; rest != ""; {
		label, value, ok := strings.Cut(rest, "=")
		require.True(t, ok, "descriptor %s: constant labels", d)
		q, err := strconv.QuotedPrefix(value)
		require.NoError(t, err, "descriptor %s: constant labels", d)
		labels = append(labels, label)
		rest = strings.TrimPrefix(value[len(q):], ",")
	}
	for l := range strings.SplitSeq(m[4], ",") {
		if l != "" {
			labels = append(labels, strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"))
		}
	}
	slices.Sort(labels)
	return name, help, labels
}

// typeOf is a gathered family's type as the text format's TYPE line writes it.
func typeOf(mf *dto.MetricFamily) string { return strings.ToLower(mf.GetType().String()) }

// labelsOf returns the label names of a gathered family's series, sorted.
func labelsOf(mf *dto.MetricFamily) []string {
	set := map[string]bool{}
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			set[l.GetName()] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// describedFamilies builds the exporter as run does, with the webhook, shards
// and persistence on, into a registry that records every descriptor, and
// returns the families those descriptors name, with the type of those the
// registry already gathers, and the document families. Nothing runs: this
// finds families that only appear after some event.
func describedFamilies(t *testing.T) map[string]family {
	out := map[string]family{}
	// Each API registers its own families (REST: the token's expiry).
	for _, api := range options.APINames() {
		maps.Copy(out, describedFamiliesOf(t, api))
	}
	for _, f := range collector.DocumentFamilies() {
		out[f.Name] = family{typ: f.Type, help: f.Help} // labels: from the running binary
	}
	return out
}

// describedFamiliesOf builds the exporter asking api as describedFamilies
// says.
func describedFamiliesOf(t *testing.T, api string) map[string]family {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("token\n"), 0o600))
	// The flags as a run with these would have them.
	app := kingpin.New(exporterName, "")
	o := options.AddFlags(app)
	_, err := app.Parse([]string{
		"--watch.file=" + filepath.Join(dir, "watch.yml"),
		"--webhook.bearer-token-file=" + tokenFile, "--total-shards=2", "--shard=0",
		"--webhook.shard-url-template=https://exporter-{shard}.example:9865/webhooks/documenttrak",
		"--persistence.file=" + filepath.Join(dir, "state"), "--assuresign.api=" + api,
	})
	require.NoError(t, err)
	o.Resolve()
	require.NoError(t, o.Validate())
	o.REST.APIUsername, o.REST.ContextUsername, o.REST.APIKey = "api-user", "user@example.com", "not-a-key"

	reg := &recordingRegistry{Registry: prometheus.NewRegistry()}
	logger := slog.New(slog.DiscardHandler)
	e, err := buildExporter(o, reg, "", logger)
	require.NoError(t, err)
	require.NoError(t, e.restore())
	_, err = e.buildServers()
	require.NoError(t, err)

	gathered := map[string]*dto.MetricFamily{}
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		gathered[mf.GetName()] = mf
	}
	out := map[string]family{}
	for _, d := range reg.descs {
		name, help, labels := parseDesc(t, d)
		if standardFamily(name) {
			continue
		}
		f := family{help: help, labels: labels}
		if f.labels == nil {
			f.labels = []string{} // not a document family: one without labels
		}
		if mf := gathered[name]; mf != nil {
			f.typ = typeOf(mf)
		}
		out[name] = f
	}
	return out
}

// exposedFamilies runs the binary with the webhook, two shards and
// persistence on against the simulator, waits for its first round, and
// returns the families of its /metrics. Its watch file gives its documents
// the labels watchLabels.
func exposedFamilies(t *testing.T, watchLabels map[string]string) map[string]family {
	const contextIdentifier = "0C0C0C0C-0000-4000-8000-00000000C0DE"
	sim := simulator.New(contextIdentifier)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	var watch strings.Builder
	watch.WriteString("documents:\n")
	date := time.Now().Add(-time.Hour).UTC()
	for i := range 16 {
		d := simulator.Document{
			ID: fmt.Sprintf("D0C0%04X-0000-4000-8000-00000000%04X", i, i), AuthToken: fmt.Sprintf("70CE%04X-0000-4000-8000-00000000%04X", i, i),
			Status: assuresign.StatusSigningStepInProgress, Step: 1 + i%3, StatusDate: date,
		}
		if i%4 == 3 {
			d.Status, d.Step = assuresign.StatusCompleted, 0
		}
		sim.Put(d)
		fmt.Fprintf(&watch, "  - id: %s\n    auth_token: %s\n    labels:\n", d.ID, d.AuthToken)
		for k, v := range watchLabels {
			fmt.Fprintf(&watch, "      %s: %s\n", k, v)
		}
	}
	// An envelope of this shard, of one document, for the envelope families.
	var envelopeID string
	for i := 0; ; i++ {
		if envelopeID = fmt.Sprintf("E0E0%04X-0000-4000-8000-00000000%04X", i, i); watchlist.Owner(envelopeID, 2) == 0 {
			break
		}
	}
	const envelopeToken = "E70CE000-0000-4000-8000-00000000E7E0"
	envelopeDoc := simulator.Document{ID: "E0D00000-0000-4000-8000-00000000E0D0", AuthToken: "E70CE000-0000-4000-8000-00000000E70C",
		Status: assuresign.StatusCreated, StatusDate: date}
	sim.Put(envelopeDoc)
	sim.PutEnvelope(simulator.Envelope{ID: envelopeID, AuthToken: envelopeToken, Documents: []string{envelopeDoc.ID}})
	fmt.Fprintf(&watch, "envelopes:\n  - id: %s\n    auth_token: %s\n    labels:\n", envelopeID, envelopeToken)
	for k, v := range watchLabels {
		fmt.Fprintf(&watch, "      %s: %s\n", k, v)
	}
	watchFile, tokenFile := filepath.Join(dir, "watch.yml"), filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(watchFile, []byte(watch.String()), 0o600))
	require.NoError(t, os.WriteFile(tokenFile, []byte("token\n"), 0o600))
	e := testenv.ExporterOptions{Env: []string{"ASSURESIGN_CONTEXT_IDENTIFIER=" + contextIdentifier}}.Start(t,
		"--watch.file="+watchFile, "--assuresign.endpoint="+srv.URL+testenv.CheckStatusPath,
		"--web.listen-address=127.0.0.1:0", "--refresh.interval=1h",
		"--webhook.bearer-token-file="+tokenFile, "--total-shards=2", "--shard=0",
		"--webhook.shard-url-template=https://exporter-{shard}.example:9865/webhooks/documenttrak",
		"--persistence.file="+filepath.Join(dir, "state"), "--persistence.interval=1s")
	var x *testenv.Exposition
	// The first round, in the documents' samples and in the exporter's own
	// (a scrape writes the documents it finds published as it starts, and
	// gathers the exporter's metrics while it writes them).
	testenv.Eventually(t, 30*time.Second, "the first round", func() (bool, string) {
		_, x = e.Metrics(t)
		last, _ := x.Value("assuresign_last_refresh_success_timestamp_seconds")
		_, listed := x.Families["assuresign_envelope_list_success"] // the listing runs beside the round's checks
		statuses := x.Statuses()
		return last > 0 && listed && len(statuses) > 0 && !slices.Contains(slices.Collect(maps.Values(statuses)), "Unknown"),
			fmt.Sprintf("last round %v, envelope listed %v, statuses %v", last, listed, statuses)
	})
	out := map[string]family{}
	for name, mf := range x.Families {
		if !standardFamily(name) {
			out[name] = family{typ: typeOf(mf), help: mf.GetHelp(), labels: labelsOf(mf)}
		}
	}
	return out
}

// documentedFamilies reads docs/metrics.md's "## Families" table:
// | `name` | type | `label`, `label` | help |.
func documentedFamilies(t *testing.T) map[string]family {
	rows, at := tableRows(section(t, readDoc(t, "docs/metrics.md"), "Families"))
	out := map[string]family{}
	backticked := regexp.MustCompile("`([^`]*)`")
	for i, r := range rows {
		require.Len(t, r, 4, "docs/metrics.md:%d: want | `name` | type | labels | help |", at[i])
		m := backticked.FindStringSubmatch(r[0])
		require.NotNil(t, m, "docs/metrics.md:%d: the name is not in backticks", at[i])
		f := family{typ: r[1], help: r[3], watchLabels: strings.Contains(r[2], "watch-file labels")}
		for _, l := range backticked.FindAllStringSubmatch(r[2], -1) {
			f.labels = append(f.labels, l[1])
		}
		slices.Sort(f.labels)
		_, dup := out[m[1]]
		require.False(t, dup, "docs/metrics.md:%d: %s listed twice", at[i], m[1])
		out[m[1]] = f
	}
	require.NotEmpty(t, out)
	return out
}

// TestMetricsDocumented: every family the exporter can expose (from the
// code's descriptors, and from /metrics of a run with the webhook, shards and
// persistence on) has its row in docs/metrics.md with its type, labels and
// help, and every row there is such a family.
func TestMetricsDocumented(t *testing.T) {
	testenv.SkipShort(t)
	watchLabels := map[string]string{"customer": "acme"}
	described := describedFamilies(t)
	exposed := exposedFamilies(t, watchLabels)
	docs := documentedFamilies(t)

	code := map[string]family{}
	for name, f := range described {
		x, ok := exposed[name]
		switch {
		case ok:
			assert.Equal(t, f.help, x.help, "%s: the HELP of /metrics and of its descriptor", name)
			if f.typ == "" {
				f.typ = x.typ
			}
			assert.Equal(t, f.typ, x.typ, "%s: its TYPE", name)
			if f.labels == nil { // a document family
				f.labels = x.labels
			}
		case f.labels == nil:
			t.Errorf("%s: a document family the test's run does not expose, so its labels are unknown: make exposedFamilies expose it", name)
			continue
		case f.typ == "":
			// A vector without series until some event: its descriptor
			// gives no type, so the documented one is taken on trust.
			t.Logf("%s: not exposed by the test's run; its type in docs/metrics.md is not checked", name)
		}
		code[name] = f
	}
	for name, x := range exposed {
		if _, ok := code[name]; !ok {
			code[name] = x // exposed, though no descriptor of the test's build names it
		}
	}

	for name, f := range code {
		d, ok := docs[name]
		typ := cmpOr(f.typ, "<its type>")
		if !assert.True(t, ok, "%s (%s, labels %v) is not in docs/metrics.md:\n| `%s` | %s | %s | %s |", name, typ, f.labels,
			name, typ, labelCell(f.labels), strings.ReplaceAll(f.help, "|", `\|`)) {
			continue
		}
		if f.typ != "" {
			assert.Equal(t, f.typ, d.typ, "docs/metrics.md, %s: type", name)
		}
		assert.Equal(t, f.help, d.help, "docs/metrics.md, %s: help", name)
		labels := f.labels
		if d.watchLabels {
			labels = slices.DeleteFunc(slices.Clone(labels), func(l string) bool { _, ok := watchLabels[l]; return ok })
		}
		if len(labels) > 0 || len(d.labels) > 0 { // none: nil from the docs, empty from a descriptor
			assert.Equal(t, labels, d.labels, "docs/metrics.md, %s: labels", name)
		}
	}
	for name := range docs {
		_, ok := code[name]
		assert.True(t, ok, "docs/metrics.md lists %s, which the exporter does not expose", name)
	}
}

func labelCell(labels []string) string {
	cells := make([]string, len(labels))
	for i, l := range labels {
		cells[i] = "`" + l + "`"
	}
	return strings.Join(cells, ", ")
}

// shellCommands returns the commands of md's sh blocks, each on one line
// (backslash continuations joined), without comments.
func shellCommands(md string) []string {
	var out []string
	for _, b := range codeBlocks(md) {
		if b.lang != "sh" {
			continue
		}
		text := strings.ReplaceAll(b.text, "\\\n", " ")
		for line := range strings.SplitSeq(text, "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				out = append(out, line)
			}
		}
	}
	return out
}

// withoutComment strips a trailing "# comment" from a command line.
func withoutComment(cmd string) (command, comment string) {
	if i := strings.Index(cmd, " #"); i >= 0 {
		return strings.TrimSpace(cmd[:i]), strings.TrimSpace(cmd[i+2:])
	}
	return cmd, ""
}

// TestREADMECommands runs the README's commands as written: the demo (the
// binary with the demo's arguments), and the set-up, with its watch file, its
// ContextIdentifier, `--check` and the run, against the simulator in place of
// AssureSign's host. `make test` must be a target of the Makefile.
func TestREADMECommands(t *testing.T) {
	testenv.SkipShort(t)
	readme := readDoc(t, "README.md")
	cmds := shellCommands(readme)

	t.Run("make test", func(t *testing.T) {
		cmd, _ := withoutComment(findPrefix(t, cmds, "make test"))
		require.Equal(t, "make test", cmd)
		assert.Regexp(t, `(?m)^test:`, readDoc(t, "Makefile"), "the Makefile has no test target")
	})

	t.Run("demo", func(t *testing.T) {
		t.Parallel()
		cmd, comment := withoutComment(findPrefix(t, cmds, "go run . "))
		assert.Contains(t, comment, "http://"+options.DemoListen+"/", "the URL the README says to open")
		args := strings.Fields(strings.TrimPrefix(cmd, "go run . "))
		require.Contains(t, args, "--demo")
		// A port of its own: other tests may run a demo at the same time.
		e := testenv.ExporterOptions{}.Start(t, append(args, "--web.listen-address=127.0.0.1:0")...)
		testenv.Eventually(t, 30*time.Second, "the demo's first round", func() (bool, string) {
			_, x := e.Metrics(t)
			// Every document answered for (one, with a wrong AuthToken,
			// without a status: check_success 0).
			last, _ := x.Value("assuresign_last_refresh_success_timestamp_seconds")
			n := len(x.Families["assuresign_document_check_success"].GetMetric())
			return last > 0 && n == demo.WatchedDocuments(), fmt.Sprintf("%d documents answered for on /metrics (want %d), last round %v", n, demo.WatchedDocuments(), last)
		})
	})

	t.Run("set-up", func(t *testing.T) {
		t.Parallel()
		testREADMESetUp(t, readme, cmds)
	})
}

// findPrefix returns the one command of cmds that starts with prefix.
func findPrefix(t *testing.T, cmds []string, prefix string) string {
	t.Helper()
	var found []string
	for _, c := range cmds {
		if strings.HasPrefix(c, prefix) {
			found = append(found, c)
		}
	}
	require.Len(t, found, 1, "README: commands starting with %q", prefix)
	return found[0]
}

func testREADMESetUp(t *testing.T, readme string, cmds []string) {
	var watch string
	for _, b := range codeBlocks(readme) {
		if b.lang == "yaml" && strings.HasPrefix(b.text, "documents:") {
			watch = b.text
		}
	}
	require.NotEmpty(t, watch, "README: no watch file (a yaml block starting with documents:)")
	contextIdentifier, ok := strings.CutPrefix(findPrefix(t, cmds, "export ASSURESIGN_CONTEXT_IDENTIFIER="), "export ASSURESIGN_CONTEXT_IDENTIFIER=")
	require.True(t, ok)

	// The simulator holds the README's documents, under its ContextIdentifier.
	sim := simulator.New(contextIdentifier)
	ids := regexp.MustCompile(`(?m)^\s*- id: (\S+)\n\s+auth_token: (\S+)`).FindAllStringSubmatch(watch, -1)
	require.NotEmpty(t, ids, "README: no documents in the watch file")
	for _, m := range ids {
		sim.Put(simulator.Document{ID: m[1], AuthToken: m[2], Status: assuresign.StatusSigningStepInProgress, Step: 1, StatusDate: time.Now().Add(-time.Hour)})
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "watch.yml"), []byte(watch), 0o600))

	// args reads a README command line: the endpoint's scheme and host
	// become the simulator's (its path stays the README's), and the watch
	// file is the one written above.
	args := func(line string) []string {
		fields := strings.Fields(line)
		require.Equal(t, "./assuresign_exporter", fields[0])
		out := fields[1:]
		for i, a := range out {
			switch name, value, _ := strings.Cut(a, "="); name {
			case "--assuresign.endpoint":
				u, err := url.Parse(value)
				require.NoError(t, err)
				out[i] = name + "=" + srv.URL + u.Path
			case "--watch.file":
				out[i] = name + "=" + filepath.Join(dir, value)
			}
		}
		return out
	}
	var check, run string
	for _, c := range cmds {
		switch {
		case strings.HasPrefix(c, "./assuresign_exporter --check "):
			require.Empty(t, check, "README: two --check commands")
			check = c
		case strings.HasPrefix(c, "./assuresign_exporter "):
			require.Empty(t, run, "README: two run commands")
			run = c
		}
	}
	require.NotEmpty(t, check, "README: no ./assuresign_exporter --check command")
	require.NotEmpty(t, run, "README: no ./assuresign_exporter command that runs it")
	env := []string{"ASSURESIGN_CONTEXT_IDENTIFIER=" + contextIdentifier}

	cmd := exec.Command(testenv.BuildBinary(t, testenv.ExporterPkg), args(check)...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ASSURESIGN_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the README's --check: %s", out)
	assert.Contains(t, string(out), "\nOK\n")
	for _, m := range ids {
		assert.Contains(t, string(out), m[1])
	}

	e := testenv.ExporterOptions{Env: env}.Start(t, append(args(run), "--web.listen-address=127.0.0.1:0")...)
	testenv.Eventually(t, 30*time.Second, "the README's documents on /metrics", func() (bool, string) {
		_, x := e.Metrics(t)
		for _, m := range ids {
			if s := x.Status(strings.ToUpper(m[1])); s != "SigningStepInProgress" {
				return false, fmt.Sprintf("%s: status %q", m[1], s)
			}
		}
		return true, ""
	})
	code, _ := e.Get(t, "/-/ready")
	assert.Equal(t, http.StatusOK, code)
}
