package deploy

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"reflect"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	yaml3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the generated files (the PrometheusRule, the Helm chart's copies of examples/ and its README) instead of comparing them")

const prometheusRuleFile = "deploy/kubernetes/base/prometheusrule.yaml"

// ruleFiles are the sources of the PrometheusRule, in order.
var ruleFiles = []string{"examples/alerts.yml", "examples/rules.yml"}

// generatePrometheusRule builds the PrometheusRule from the groups of
// ruleFiles. It copies their YAML nodes, so the rules keep their comments and
// block styles.
func generatePrometheusRule() ([]byte, error) {
	groups := &yaml3.Node{Kind: yaml3.SequenceNode, Tag: "!!seq"}
	for _, f := range ruleFiles {
		b, err := os.ReadFile(inRepo(f))
		if err != nil {
			return nil, err
		}
		var doc yaml3.Node
		if err := yaml3.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		seq := mappingValue(doc.Content[0], "groups")
		if seq == nil || seq.Kind != yaml3.SequenceNode || len(seq.Content) == 0 {
			return nil, fmt.Errorf("%s: no groups", f)
		}
		first := seq.Content[0]
		first.HeadComment = join("From "+f+".", first.HeadComment)
		groups.Content = append(groups.Content, seq.Content...)
	}
	str := func(s string) *yaml3.Node { return &yaml3.Node{Kind: yaml3.ScalarNode, Tag: "!!str", Value: s} }
	mapping := func(kv ...*yaml3.Node) *yaml3.Node {
		return &yaml3.Node{Kind: yaml3.MappingNode, Tag: "!!map", Content: kv}
	}
	root := mapping(
		str("apiVersion"), str("monitoring.coreos.com/v1"),
		str("kind"), str("PrometheusRule"),
		str("metadata"), mapping(
			str("name"), str("assuresign-exporter"),
			str("labels"), mapping(str("app.kubernetes.io/name"), str("assuresign-exporter")),
		),
		str("spec"), mapping(str("groups"), groups),
	)
	root.HeadComment = "GENERATED from examples/alerts.yml and examples/rules.yml: do not edit.\n" +
		"Regenerate with: cd deploy && go test -run TestPrometheusRule -update"
	var buf bytes.Buffer
	enc := yaml3.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func mappingValue(m *yaml3.Node, key string) *yaml3.Node {
	if m == nil || m.Kind != yaml3.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func join(a, b string) string {
	if b == "" {
		return a
	}
	return a + "\n" + b
}

// exampleRuleGroups decodes the groups of ruleFiles strictly into
// prometheus-operator's types: a field a PrometheusRule cannot carry fails.
func exampleRuleGroups(t *testing.T) []monitoringv1.RuleGroup {
	t.Helper()
	var all []monitoringv1.RuleGroup
	for _, f := range ruleFiles {
		var file struct {
			Groups []monitoringv1.RuleGroup `json:"groups"`
		}
		if err := yaml.UnmarshalStrict(readRepoFile(t, f), &file); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		all = append(all, file.Groups...)
	}
	return all
}

// TestPrometheusRuleGenerated fails when the committed PrometheusRule is not
// what the generator makes of the examples now; -update rewrites it.
func TestPrometheusRuleGenerated(t *testing.T) {
	want, err := generatePrometheusRule()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		writeRepoFile(t, prometheusRuleFile, want)
		return
	}
	if got := readRepoFile(t, prometheusRuleFile); !bytes.Equal(got, want) {
		t.Errorf("%s is out of date with %v; run: cd deploy && go test -run TestPrometheusRule -update", prometheusRuleFile, ruleFiles)
	}
}

// TestPrometheusRuleGroups compares the committed PrometheusRule's groups
// with the examples' as data, whatever the formatting.
func TestPrometheusRuleGroups(t *testing.T) {
	var pr monitoringv1.PrometheusRule
	if err := yaml.UnmarshalStrict(readRepoFile(t, prometheusRuleFile), &pr); err != nil {
		t.Fatalf("%s: %v", prometheusRuleFile, err)
	}
	checkRuleGroups(t, prometheusRuleFile, pr.Spec.Groups, exampleRuleGroups(t))
}

func checkRuleGroups(t *testing.T, where string, got, want []monitoringv1.RuleGroup) {
	t.Helper()
	if len(want) == 0 {
		t.Fatal("no rule groups in the examples")
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: rule groups differ from %v; run: cd deploy && go test -run TestPrometheusRule -update", where, ruleFiles)
	}
}
