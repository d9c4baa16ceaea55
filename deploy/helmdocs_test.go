package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	yaml3 "go.yaml.in/yaml/v3"
)

const (
	chartReadme = chartDir + "/README.md"
	valuesBegin = "<!-- BEGIN values: generated from values.yaml by `cd deploy && go test -run TestHelmChartReadme -update` -->"
	valuesEnd   = "<!-- END values -->"
)

// valueDoc is one row of the README's table of values.
type valueDoc struct{ key, typ, def, desc string }

// documentValues lists the chart's values from values.yaml in helm-docs'
// format: a value's description is the comment starting with `# --` above it.
// A documented mapping is one row; an undocumented one is described by its
// entries. An undocumented value that is no mapping is an error.
func documentValues(valuesYAML []byte) ([]valueDoc, error) {
	var doc yaml3.Node
	if err := yaml3.Unmarshal(valuesYAML, &doc); err != nil {
		return nil, err
	}
	var rows []valueDoc
	var walk func(m *yaml3.Node, prefix string) error
	walk = func(m *yaml3.Node, prefix string) error {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			key := prefix + k.Value
			desc := descriptionOf(k.HeadComment)
			switch {
			case desc != "":
				def, err := defaultOf(v)
				if err != nil {
					return fmt.Errorf("%s: %w", key, err)
				}
				rows = append(rows, valueDoc{key, typeOf(v), def, desc})
			case v.Kind == yaml3.MappingNode && len(v.Content) > 0:
				if err := walk(v, key+"."); err != nil {
					return err
				}
			default:
				return fmt.Errorf("values.yaml:%d: %s has no `# --` description", k.Line, key)
			}
		}
		return nil
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml3.MappingNode {
		return nil, fmt.Errorf("values.yaml is not a mapping")
	}
	return rows, walk(doc.Content[0], "")
}

// descriptionOf returns the `# --` comment of a head comment, its lines joined.
func descriptionOf(comment string) string {
	_, after, ok := strings.Cut(comment, "# --")
	if !ok {
		return ""
	}
	var words []string
	for _, line := range strings.Split(after, "\n") {
		words = append(words, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#")))
	}
	return strings.Join(strings.Fields(strings.Join(words, " ")), " ")
}

func typeOf(v *yaml3.Node) string {
	switch v.Kind {
	case yaml3.MappingNode:
		return "object"
	case yaml3.SequenceNode:
		return "list"
	}
	switch v.Tag {
	case "!!int":
		return "int"
	case "!!bool":
		return "bool"
	case "!!float":
		return "float"
	}
	return "string"
}

func defaultOf(v *yaml3.Node) (string, error) {
	var value any
	if err := v.Decode(&value); err != nil {
		return "", err
	}
	b, err := json.Marshal(value)
	return string(b), err
}

// valuesTable renders the rows as the README's Markdown table.
func valuesTable(rows []valueDoc) string {
	var b strings.Builder
	b.WriteString("| Key | Type | Default | Description |\n|-----|------|---------|-------------|\n")
	esc := strings.NewReplacer("|", `\|`)
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | `%s` | %s |\n", r.key, r.typ, esc.Replace(r.def), esc.Replace(r.desc))
	}
	return b.String()
}

// TestHelmChartReadme fails when the chart README's table of values is not
// what values.yaml's comments give; -update rewrites it.
func TestHelmChartReadme(t *testing.T) {
	rows, err := documentValues(readRepoFile(t, chartDir+"/values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	readme := readRepoFile(t, chartReadme)
	before, rest, ok1 := bytes.Cut(readme, []byte(valuesBegin))
	_, after, ok2 := bytes.Cut(rest, []byte(valuesEnd))
	if !ok1 || !ok2 {
		t.Fatalf("%s: no %q ... %q section", chartReadme, valuesBegin, valuesEnd)
	}
	want := string(before) + valuesBegin + "\n\n" + valuesTable(rows) + "\n" + valuesEnd + string(after)
	if *update {
		writeRepoFile(t, chartReadme, []byte(want))
		return
	}
	if string(readme) != want {
		t.Errorf("%s: the table of values differs from values.yaml; run: cd deploy && go test -run TestHelmChartReadme -update", chartReadme)
	}
}

// TestHelmValuesDocumented checks the generator on a values file of its own:
// a value without a description is an error, nested keys are joined with dots.
func TestHelmValuesDocumented(t *testing.T) {
	rows, err := documentValues([]byte("# -- The image.\n# Two lines.\nimage: x\nwebhook:\n  # -- On.\n  enabled: false\n  # -- Hosts | names.\n  hosts: [a]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []valueDoc{{"image", "string", `"x"`, "The image. Two lines."}, {"webhook.enabled", "bool", "false", "On."}, {"webhook.hosts", "list", `["a"]`, "Hosts | names."}}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", rows, want)
	}
	if _, err := documentValues([]byte("# -- Documented.\na: 1\nb: 2\n")); err == nil || !strings.Contains(err.Error(), "b has no") {
		t.Errorf("an undocumented value: got %v", err)
	}
}
