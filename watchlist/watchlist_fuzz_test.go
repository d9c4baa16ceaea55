package watchlist

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

// fuzzMaxDocuments is small so that the count check is reached too.
const fuzzMaxDocuments = 20

// fuzzErrorRE is what every error starts with: the file, and a line unless
// there is none to give (empty file, UTF-16 input yaml.v3 cannot place, an
// internal yaml.v3 failure).
var fuzzErrorRE = regexp.MustCompile(`^fuzz\.yml(:[1-9][0-9]*: |: file is empty|: YAML syntax error: |: YAML parser failed: |: YAML aliases are not supported)`)

// fuzzSeedSecrets are the tokens in the seeds below beyond fixtureSecrets.
var fuzzSeedSecrets = []string{
	"B7D2C3E4-F5A6-4B7C-8D9E-0F1A2B3C4D5E",
	"c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e4f5",
}

func FuzzParseWatchList(f *testing.F) {
	entries, err := os.ReadDir(watchFixtures)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(watchFixtures, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"documents: []",
		"{documents: [{id: 2ce11ef1-8938-dd11-8735-00065b8ce99b, auth_token: B7D2C3E4-F5A6-4B7C-8D9E-0F1A2B3C4D5E, context_identifier: c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e4f5, labels: {a: b, c: 1}}]}",
		"documents:\n  - id: 2CE11EF1-8938-DD11-8735-00065B8CE99B\n    auth_token: \"B7D2C3E4-F5A6-4B7C-8D9E-0F1A2B3C4D5\"\n",
		"documents:\n  - id: 2CE11EF1-8938-DD11-8735-00065B8CE99B\n    auth_token: B7D2C3E4-F5A6-4B7C-8D9E-0F1A2B3C4D5E\n    context_identifier: 'c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e4f5 x'\n",
		"documents:\n  - id: 2CE11EF1-8938-DD11-8735-00065B8CE99B\n    auth_token: &B7D2C3E4-F5A6-4B7C-8D9E-0F1A2B3C4D5E B7D2C3E4-F5A6-4B7C-8D9E-0F1A2B3C4D5E\n    labels: {x: *B7D2C3E4-F5A6-4B7C-8D9E-0F1A2B3C4D5E}\n",
		"documents:\n  - id: 2CE11EF1-8938-DD11-8735-00065B8CE99B\n    auth_token: B7D2C3E4-F5A6-4B7C-8D9E-0F1A2B3C4D5E\n    labels:\n      B7D2C3E4-F5A6-4B7C-8D9E-0F1A2B3C4D5E: x\n",
		"documents:\n  - id: 2CE11EF1-8938-DD11-8735-00065B8CE99B\n    auth_token: !!binary B7D2C3E4-F5A6-4B7C-8D9E-0F1A2B3C4D5E\n",
		"documents: [{id: 2CE11EF1-8938-DD11-8735-00065B8CE99B, auth_token: B7D2C3E4-F5A6-4B7C-8D9E-0F1A2B3C4D5E}]\n---\n",
		"documents:\n- {id: 2CE11EF1-8938-DD11-8735-00065B8CE99B, auth_token: B7D2C3E4-F5A6-4B7C-8D9E-0F1A2B3C4D5E, labels: {le: x}}\n- {id: 2ce11ef1-8938-dd11-8735-00065b8ce99b, auth_token: B7D2C3E4-F5A6-4B7C-8D9E-0F1A2B3C4D5E}\n",
		"#\n- - ",
		"\xef\xbb\xbfdocuments: [\"\\u00e9\", \"\\t\"]",
	} {
		f.Add([]byte(s))
	}
	secrets := slices.Concat(fixtureSecrets, fuzzSeedSecrets)

	f.Fuzz(func(t *testing.T, data []byte) {
		wl, err := Parse("fuzz.yml", data, fuzzMaxDocuments)
		if err != nil {
			msg := err.Error()
			if wl != nil {
				t.Fatalf("both a list and an error: %v", err)
			}
			if !fuzzErrorRE.MatchString(msg) {
				t.Fatalf("error does not name the file and a line: %q", msg)
			}
			// Quoting a bad id is allowed, so a secret the input also uses
			// as (part of) an id may show; nothing else may.
			ids := strings.ToUpper(strings.Join(idValues(data), "\n"))
			upper := strings.ToUpper(msg)
			for _, s := range secrets {
				s = strings.ToUpper(s)
				if strings.Contains(upper, s) && !strings.Contains(ids, s) {
					t.Fatalf("error leaks secret %s: %q", s, msg)
				}
			}
			return
		}

		if len(wl.Documents)+len(wl.Envelopes) > fuzzMaxDocuments {
			t.Fatalf("%d documents and %d envelopes, more than the limit", len(wl.Documents), len(wl.Envelopes))
		}
		ids := map[string]bool{}
		names := map[string]bool{}
		for i, d := range slices.Concat(wl.Documents, wl.Envelopes) {
			if i == len(wl.Documents) {
				ids = map[string]bool{} // envelope ids are apart from document ids
			}
			if !assuresign.IsGUID(d.ID) || d.ID != strings.ToUpper(d.ID) {
				t.Fatalf("id %q is not an upper-case GUID", d.ID)
			}
			if ids[d.ID] {
				t.Fatalf("duplicate id %s", d.ID)
			}
			ids[d.ID] = true
			if !assuresign.IsGUID(d.AuthToken) {
				t.Fatalf("auth token of %s is not a GUID", d.ID)
			}
			if d.ContextIdentifier != "" && !assuresign.IsGUID(d.ContextIdentifier) {
				t.Fatalf("context identifier of %s is not a GUID", d.ID)
			}
			if d.Labels != nil && len(d.Labels) == 0 {
				t.Fatalf("%s: empty, non-nil labels", d.ID)
			}
			for name, value := range d.Labels {
				if checkLabelName(name) != "" || !utf8.ValidString(value) {
					t.Fatalf("%s: bad label %q=%q", d.ID, name, value)
				}
				names[name] = true
			}
			// String may show a token only where the id or a label holds it.
			s := strings.ToUpper(d.String())
			shown := strings.ToUpper(d.ID + "\n" + strings.Join(slices.Collect(maps.Keys(d.Labels)), "\n"))
			for _, v := range d.Labels {
				shown += "\n" + strings.ToUpper(v)
			}
			for _, secret := range []string{d.AuthToken, d.ContextIdentifier} {
				secret = strings.ToUpper(secret)
				if secret != "" && strings.Contains(s, secret) && !strings.Contains(shown, secret) {
					t.Fatalf("String() leaks a secret: %s", d.String())
				}
			}
		}
		if !slices.IsSorted(wl.LabelNames) || len(wl.LabelNames) != len(names) {
			t.Fatalf("LabelNames %q is not the sorted union %v", wl.LabelNames, names)
		}
		for _, name := range wl.LabelNames {
			if !names[name] {
				t.Fatalf("LabelNames has %q, which no document has", name)
			}
		}
	})
}

// idValues returns every scalar under an "id" key anywhere in data, parsed
// independently of the code under test.
func idValues(data []byte) (out []string) {
	defer func() { _ = recover() }() // yaml.v3's own panics are the parser's to handle
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return nil
	}
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		if n == nil || depth > 100 {
			return
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k, v := n.Content[i], n.Content[i+1]; k.Value == "id" && v.Kind == yaml.ScalarNode {
					out = append(out, v.Value)
				}
			}
		}
		for _, c := range n.Content {
			walk(c, depth+1)
		}
	}
	walk(&root, 0)
	return out
}
