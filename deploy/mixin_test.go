package deploy

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-jsonnet"
	"sigs.k8s.io/yaml"
)

// mixinOutput evaluates mixin/mixin.libsonnet, with overrides mixed in, as
// mixtool does, and returns its three outputs as plain JSON values.
func mixinOutput(t *testing.T, overrides string) map[string]any {
	t.Helper()
	vm := jsonnet.MakeVM()
	vm.Importer(&jsonnet.FileImporter{JPaths: []string{inRepo("mixin")}})
	out, err := vm.EvaluateAnonymousSnippet("mixin_test.jsonnet", `
local mixin = (import 'mixin.libsonnet') + `+overrides+`;
{
  prometheusAlerts: mixin.prometheusAlerts,
  prometheusRules: mixin.prometheusRules,
  grafanaDashboards: mixin.grafanaDashboards,
}`)
	if err != nil {
		t.Fatalf("evaluating the mixin: %v", err)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// fileValue reads a YAML or JSON file of the repository as a plain JSON value.
func fileValue(t *testing.T, rel string) any {
	t.Helper()
	j, err := yaml.YAMLToJSONStrict(readRepoFile(t, rel))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	var v any
	if err := json.Unmarshal(j, &v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return v
}

// TestMixinIsTheExamples: with the default _config the mixin gives exactly
// the rules and the dashboard in examples/.
func TestMixinIsTheExamples(t *testing.T) {
	m := mixinOutput(t, "{}")
	for _, c := range []struct {
		field string
		got   any
		file  string
	}{
		{"prometheusAlerts", m["prometheusAlerts"], "examples/alerts.yml"},
		{"prometheusRules", m["prometheusRules"], "examples/rules.yml"},
		{"grafanaDashboards", m["grafanaDashboards"].(map[string]any)["assuresign-documents.json"], "examples/grafana-dashboard.json"},
	} {
		if want := fileValue(t, c.file); !reflect.DeepEqual(c.got, want) {
			t.Errorf("mixin %s differs from %s", c.field, c.file)
		}
	}
	if n := len(m["grafanaDashboards"].(map[string]any)); n != 1 {
		t.Errorf("want one dashboard, have %d", n)
	}
}

// TestMixinConfig: _config changes the selector and the runbook links, and
// leaves no default behind.
func TestMixinConfig(t *testing.T) {
	const selector, runbooks = `job="signing", namespace="contracts"`, "https://runbooks.example.com/assuresign#"
	m := mixinOutput(t, `{_config+:: {assuresignSelector: '`+selector+`', runbookURLBase: '`+runbooks+`'}}`)
	all, _ := json.Marshal(m)
	if strings.Contains(string(all), `job=\"assuresign\"`) {
		t.Error(`job="assuresign" left in the output with another assuresignSelector`)
	}
	if !strings.Contains(string(all), strings.ReplaceAll(selector, `"`, `\"`)) {
		t.Error("the new selector is nowhere in the output")
	}
	for _, r := range alertRules(t, m["prometheusAlerts"]) {
		name, _ := r["alert"].(string)
		url, _ := annotations(r)["runbook_url"].(string)
		if want := runbooks + strings.ToLower(name); url != want {
			t.Errorf("%s: runbook_url %q, want %q", name, url, want)
		}
	}
}

var camelCase = regexp.MustCompile(`^[A-Z][a-z0-9]*(?:[A-Z][a-z0-9]*)*$`)

// TestMixinLint applies mixtool's lint rules for alerts to the mixin's (that
// is, examples/alerts.yml's) alerts.
func TestMixinLint(t *testing.T) {
	rules := alertRules(t, mixinOutput(t, "{}")["prometheusAlerts"])
	if len(rules) == 0 {
		t.Fatal("no alerts")
	}
	for _, r := range rules {
		name, _ := r["alert"].(string)
		t.Run(name, func(t *testing.T) {
			if !camelCase.MatchString(name) || len(name) > 40 {
				t.Errorf("alert name %q: want CamelCase, at most 40 characters", name)
			}
			labels, _ := r["labels"].(map[string]any)
			switch labels["severity"] {
			case "critical", "warning", "info":
			default:
				t.Errorf("severity label %v: want critical, warning or info", labels["severity"])
			}
			ann := annotations(r)
			if s, ok := ann["summary"].(string); !ok || s == "" {
				t.Errorf("no summary annotation")
			} else if strings.Contains(s, "{{") {
				t.Errorf("summary annotation is templated, want it static: %q", s)
			}
			if d, ok := ann["description"].(string); !ok || !strings.Contains(d, "{{") {
				t.Errorf("description annotation missing or not templated")
			}
		})
	}
}

func alertRules(t *testing.T, v any) []map[string]any {
	t.Helper()
	var rules []map[string]any
	groups, _ := v.(map[string]any)["groups"].([]any)
	for _, g := range groups {
		rs, _ := g.(map[string]any)["rules"].([]any)
		for _, r := range rs {
			if r := r.(map[string]any); r["alert"] != nil {
				rules = append(rules, r)
			}
		}
	}
	return rules
}

func annotations(r map[string]any) map[string]any {
	a, _ := r["annotations"].(map[string]any)
	return a
}
