package watchlist

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

const watchFixtures = "testdata/watchlists"

// fixtureSecrets are every auth_token and context_identifier written in the
// fixtures, valid or not; no error may contain any of them.
var fixtureSecrets = []string{
	"8CC9A84B-693C-46CC-4342-40A8215AD76A",
	"9DD0B95C-7A4D-57DD-5453-51B9326BE87B",
	"9DD0B95C-7A4D-57DD-5453-51B9326BE87", // a typo'd one
	"AEE1C06D-8B5E-68EE-6564-62CA437CF98C",
	"06C4A84A-693C-46CB-8DF2-40A8215AA056",
	"06C4A84A-693C-46CB-8DF2-40A8215AA056x",
	"not-even-a-token",
}

// secretValueRE finds, in a fixture's text, the hex run after an
// auth_token or context_identifier key, so a fixture added later with a new
// secret is covered without updating fixtureSecrets.
var secretValueRE = regexp.MustCompile(`(?i)(?:auth_token|context_identifier)[^\n]*?([0-9a-f]{8}[0-9a-f-]*)`)

// assertNoSecrets fails if msg holds a secret of the fixtures or of input,
// whole or in part (a mistyped token is still mostly the real one).
func assertNoSecrets(t *testing.T, msg string, input []byte) {
	t.Helper()
	values := slices.Clone(fixtureSecrets)
	for _, m := range secretValueRE.FindAllSubmatch(input, -1) {
		values = append(values, string(m[1]))
	}
	secrets := testenv.NewSecrets(testenv.FragmentLen, values...)
	for _, v := range values {
		if len(v) >= testenv.FragmentLen {
			// Any GUID's fragments are found; for the rest, the first group.
			secrets.Add(v+" (its start)", v[:testenv.FragmentLen])
		}
	}
	secrets.AssertNone(t, "the error", msg)
}

func TestLoadWatchListGood(t *testing.T) {
	wl, err := Load(filepath.Join(watchFixtures, "good.yml"), 10000)
	require.NoError(t, err)
	assert.Equal(t, &List{
		Documents: []Entry{
			{
				ID:                "2CE11EF1-8938-DD11-8735-00065B8CE99B",
				AuthToken:         "8CC9A84B-693C-46CC-4342-40A8215AD76A",
				ContextIdentifier: "06C4A84A-693C-46CB-8DF2-40A8215AA056",
				Labels:            map[string]string{"customer": "acme", "region": "eu"},
			},
			{
				ID:        "3DE22FF2-9A49-EE22-9846-11176C9DF0AC", // upper-cased
				AuthToken: "9dd0b95c-7a4d-57dd-5453-51b9326be87b", // trimmed, case kept
				Labels:    map[string]string{"customer": "globex", "tier": "1"},
			},
			{
				ID:        "4EF33003-0B5A-FF33-0957-22287D0E01BD",
				AuthToken: "AEE1C06D-8B5E-68EE-6564-62CA437CF98C",
				// context_identifier: ~ and labels: {} mean not set.
			},
		},
		LabelNames: []string{"customer", "region", "tier"},
	}, wl)
}

func TestParseWatchListValid(t *testing.T) {
	const id, tok = "2CE11EF1-8938-DD11-8735-00065B8CE99B", "8CC9A84B-693C-46CC-4342-40A8215AD76A"
	doc := "documents:\n  - id: " + id + "\n    auth_token: " + tok + "\n"
	tests := []struct {
		name string
		in   string
		want []Entry
	}{
		{"empty list", "documents: []\n", []Entry{}},
		{"null list", "documents:\n", []Entry{}},
		{"tilde list", "documents: ~\n", []Entry{}},
		{"explicit document markers", "---\ndocuments: []\n...\n", []Entry{}},
		{"byte order mark", "\ufeffdocuments: []\n", []Entry{}},
		{"minimal", doc, []Entry{{ID: id, AuthToken: tok}}},
		{
			"flow style",
			"{documents: [{id: " + strings.ToLower(id) + ", auth_token: '" + tok + "', labels: {a: b}}]}",
			[]Entry{{ID: id, AuthToken: tok, Labels: map[string]string{"a": "b"}}},
		},
		{
			"keys in any order, null labels and context",
			"documents:\n  - labels:\n    context_identifier: null\n    auth_token: " + tok + "\n    id: " + id + "\n",
			[]Entry{{ID: id, AuthToken: tok}},
		},
		{
			"context identifier kept as written",
			doc + "    context_identifier: ' 06c4a84a-693c-46cb-8df2-40a8215aa056 '\n",
			[]Entry{{ID: id, AuthToken: tok, ContextIdentifier: "06c4a84a-693c-46cb-8df2-40a8215aa056"}},
		},
		{
			"scalar label values taken as written",
			doc + "    labels: {i: 0x1F, f: 1.50, b: yes, t: 2024-01-02, s: '', m: \"a\\nb\", u: \"ünï\", n: True}\n",
			[]Entry{{ID: id, AuthToken: tok, Labels: map[string]string{
				"i": "0x1F", "f": "1.50", "b": "yes", "t": "2024-01-02", "s": "", "m": "a\nb", "u": "ünï", "n": "True",
			}}},
		},
		{
			"label names at the edges of the rules",
			doc + "    labels: {_: a, _x: b, A9: c, status_code: d, Le: e, documentid: f}\n",
			[]Entry{{ID: id, AuthToken: tok, Labels: map[string]string{
				"_": "a", "_x": "b", "A9": "c", "status_code": "d", "Le": "e", "documentid": "f",
			}}},
		},
		{
			"explicit tags that keep the text",
			doc + "    labels: {a: !!str 1, b: !!int 2, c: <<, d: ! x}\n",
			[]Entry{{ID: id, AuthToken: tok, Labels: map[string]string{"a": "1", "b": "2", "c": "<<", "d": "x"}}},
		},
		{
			"CRLF line ends",
			"documents:\r\n  - id: " + id + "\r\n    auth_token: " + tok + "\r\n    labels:\r\n      a: b\r\n",
			[]Entry{{ID: id, AuthToken: tok, Labels: map[string]string{"a": "b"}}},
		},
		{"anchor without alias", "documents: &d []\n", []Entry{}},
		{"comments only around", "# head\ndocuments: [] # tail\n# foot\n", []Entry{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wl, err := Parse("w.yml", []byte(tt.in), 10)
			require.NoError(t, err)
			assert.Equal(t, tt.want, wl.Documents)
		})
	}
}

func TestLoadWatchListErrors(t *testing.T) {
	tests := []struct {
		fixture string
		max     int
		want    string // the message after the file name
	}{
		{"syntax_error.yml", 0, ":3: YAML syntax error: did not find expected ',' or '}'"},
		{"empty.yml", 0, `: file is empty, want a mapping with a "documents" key`},
		{"multiple_documents.yml", 0, ":4: more than one YAML document in the file"},
		{"top_not_mapping.yml", 0, `:1: top level must be a mapping with a "documents" key, got sequence`},
		{"no_documents_key.yml", 0, `:2: missing required field "documents" (or "envelopes")`},
		{"missing_documents.yml", 0, `:3: unknown field "document"`},
		{"unknown_top_key.yml", 0, `:4: unknown field "interval"`},
		{"duplicate_top_key.yml", 0, `:2: duplicate key "documents" (first at line 1)`},
		{"documents_not_sequence.yml", 0, ":2: documents: must be a sequence, got mapping"},
		{"too_many_documents.yml", 2, ":2: documents: has 3 documents, more than --watch.max-documents=2"},
		{"document_not_mapping.yml", 0, ":4: documents[1]: must be a mapping, got string"},
		{"unknown_document_key.yml", 0, `:5: documents[1]: unknown field "auth_tokn"`},
		{"secret_as_key.yml", 0, ":4: documents[0]: unknown field (name not shown: it looks like it may hold a secret)"},
		{"duplicate_document_key.yml", 0, `:4: documents[0]: duplicate key "auth_token" (first at line 3)`},
		{"missing_id.yml", 0, `:5: documents[1]: missing required field "id"`},
		{"missing_auth_token.yml", 0, `:2: documents[0]: missing required field "auth_token"`},
		{"id_sequence.yml", 0, ":3: documents[0].id: must be a string, got sequence"},
		{"bad_id.yml", 0, `:4: documents[1].id: "3DE22FF2-9A49-EE22-9846-11176C9DF0A" is not a GUID`},
		{"duplicate_id.yml", 0, `:6: documents[2].id: duplicate id "2CE11EF1-8938-DD11-8735-00065B8CE99B", also documents[0] at line 2`},
		{"auth_token_mapping.yml", 0, ":3: documents[0].auth_token: must be a string, got mapping"},
		{"empty_auth_token.yml", 0, ":3: documents[0].auth_token: is empty, want a GUID"},
		{"bad_auth_token.yml", 0, ":7: documents[1].auth_token: is not a GUID (value not shown: it is a secret)"},
		{"bad_auth_token_braces.yml", 0, ":3: documents[0].auth_token: is not a GUID (value not shown: it is a secret)"},
		{"bad_context_identifier.yml", 0, ":4: documents[0].context_identifier: is not a GUID (value not shown: it is a secret)"},
		{"labels_not_mapping.yml", 0, ":5: documents[0].labels: must be a mapping, got sequence"},
		{"label_value_not_scalar.yml", 0, ":6: documents[0].labels.owners: must be a string, got sequence"},
		{"label_value_null.yml", 0, ":5: documents[0].labels.customer: must be a string, got null"},
		{"duplicate_label.yml", 0, `:7: documents[0].labels: duplicate key "customer" (first at line 5)`},
		{"invalid_label_name.yml", 0, `:6: documents[0].labels: label name "cost-centre" is invalid: must match ^[a-zA-Z_][a-zA-Z0-9_]*$`},
		{"label_name_digit.yml", 0, `:4: documents[0].labels: label name "1st" is invalid: must match ^[a-zA-Z_][a-zA-Z0-9_]*$`},
		{"label_name_double_underscore.yml", 0, `:5: documents[0].labels: label name "__name__" is invalid: names starting with "__" are reserved for Prometheus`},
		{"reserved_label_name.yml", 0, `:6: documents[0].labels: label name "status" is reserved: the exporter or Prometheus sets it`},
		{"alias.yml", 0, ":7: documents[1].labels: YAML aliases are not supported"},
		{"undefined_anchor.yml", 0, ":3: YAML aliases are not supported (this one names an undefined anchor)"},
		{"envelope_duplicate_id.yml", 0, `:4: envelopes[1].id: duplicate id "9A1C3F5E-2B4D-4E6F-8A0B-1C2D3E4F5A6B", also envelopes[0] at line 2`},
		{"envelope_bad_auth_token.yml", 0, ":3: envelopes[0].auth_token: is not a GUID (value not shown: it is a secret)"},
		{"envelope_missing_auth_token.yml", 0, `:3: envelopes[0]: missing required field "auth_token"`},
		{"envelope_reserved_label.yml", 0, `:2: envelopes[0].labels: label name "envelope_id" is reserved: the exporter sets it on the envelope's series`},
		{"envelopes_not_sequence.yml", 0, ":3: envelopes: must be a sequence, got mapping"},
		{"too_many_envelopes.yml", 2, ":5: envelopes: has 2 envelopes, of at least one document each, and the documents leave room for 1 under --watch.max-documents=2"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.fixture] = true
		t.Run(strings.TrimSuffix(tt.fixture, ".yml"), func(t *testing.T) {
			path := filepath.Join(watchFixtures, tt.fixture)
			wl, err := Load(path, tt.max)
			require.Error(t, err)
			assert.Nil(t, wl)
			assert.Equal(t, path+tt.want, err.Error())
			data, readErr := os.ReadFile(path)
			require.NoError(t, readErr)
			assertNoSecrets(t, err.Error(), data)
		})
	}

	// Every fixture is covered here or is a good one.
	entries, err := os.ReadDir(watchFixtures)
	require.NoError(t, err)
	good := map[string]bool{"good.yml": true, "empty_documents.yml": true, "empty_list.yml": true, "envelopes_good.yml": true}
	for _, e := range entries {
		assert.True(t, seen[e.Name()] || good[e.Name()], "fixture %s is not tested", e.Name())
	}
}

func TestLoadWatchListEmptyDocuments(t *testing.T) {
	for _, name := range []string{"empty_documents.yml", "empty_list.yml"} {
		wl, err := Load(filepath.Join(watchFixtures, name), 10000)
		require.NoError(t, err, name)
		assert.Empty(t, wl.Documents, name)
		assert.Empty(t, wl.LabelNames, name)
	}
}

func TestParseWatchListErrors(t *testing.T) {
	const id, tok = "2CE11EF1-8938-DD11-8735-00065B8CE99B", "8CC9A84B-693C-46CC-4342-40A8215AD76A"
	doc := "documents:\n  - id: " + id + "\n    auth_token: " + tok + "\n"
	tests := []struct {
		name, in, want string
	}{
		{"null top level", "---\n", `w.yml:2: top level must be a mapping with a "documents" key, got null`},
		{"scalar top level", "documents\n", `w.yml:1: top level must be a mapping with a "documents" key, got string`},
		{"documents a number", "documents: 3\n", "w.yml:1: documents: must be a sequence, got integer"},
		{"documents an alias", "&a documents: *a\n", "w.yml:1: documents: YAML aliases are not supported"},
		{"null entry", doc + "  -\n", "w.yml:4: documents[1]: must be a mapping, got null"},
		{"sequence key", doc + "    ? [a, b]\n    : x\n", "w.yml:4: documents[0]: keys must be strings, got sequence"},
		{"merge key", "documents: []\n<<: {}\n", `w.yml:2: unknown field "<<"`},
		{"binary label", doc + "    labels: {a: !!binary aGVsbG8=}\n", "w.yml:4: documents[0].labels.a: must be a string, got binary"},
		{"custom tag label", doc + "    labels: {a: !secret x}\n", "w.yml:4: documents[0].labels.a: must be a string, got a scalar with a custom tag"},
		{"explicit null label", doc + "    labels: {a: !!null x}\n", "w.yml:4: documents[0].labels.a: must be a string, got null"},
		{"CRLF error line", "documents:\r\n  - id: x\r\n", `w.yml:2: documents[0].id: "x" is not a GUID`},
		{"mapping label", doc + "    labels: {a: {b: c}}\n", "w.yml:4: documents[0].labels.a: must be a string, got mapping"},
		{"labels a string", doc + "    labels: customer=acme\n", "w.yml:4: documents[0].labels: must be a mapping, got string"},
		{"empty label name", doc + "    labels: {'': x}\n", `w.yml:4: documents[0].labels: label name "" is empty`},
		{"dotted label name", doc + "    labels: {a.b: x}\n", `w.yml:4: documents[0].labels: label name "a.b" is invalid: must match ^[a-zA-Z_][a-zA-Z0-9_]*$`},
		{"unicode label name", doc + "    labels: {kundé: x}\n", `w.yml:4: documents[0].labels: label name "kundé" is invalid: must match ^[a-zA-Z_][a-zA-Z0-9_]*$`},
		{"token as label name", doc + "    labels: {" + tok + ": x}\n", "w.yml:4: documents[0].labels: label name (name not shown: it looks like it may hold a secret) is invalid: must match ^[a-zA-Z_][a-zA-Z0-9_]*$"},
		{"id a number", "documents:\n  - id: 12345\n    auth_token: " + tok + "\n", `w.yml:2: documents[0].id: "12345" is not a GUID`},
		{"id with braces", "documents:\n  - id: '{" + id + "}'\n    auth_token: " + tok + "\n", `w.yml:2: documents[0].id: "{` + id + `}" is not a GUID`},
		{"id without dashes", "documents:\n  - id: 2CE11EF18938DD11873500065B8CE99B\n    auth_token: " + tok + "\n", `w.yml:2: documents[0].id: "2CE11EF18938DD11873500065B8CE99B" is not a GUID`},
		{"empty id", "documents:\n  - id:\n    auth_token: " + tok + "\n", "w.yml:2: documents[0].id: is empty, want a GUID"},
		{"quoted empty id", "documents:\n  - id: ''\n    auth_token: " + tok + "\n", `w.yml:2: documents[0].id: "" is not a GUID`},
		{
			// An over-indented line folds into the id, and may be a token.
			"id runs on into the next line",
			"documents:\n  - id: " + id + "\n      " + tok + "\n    auth_token: " + tok + "\n",
			"w.yml:2: documents[0].id: is not a GUID (value not shown: it is long or has white space, so may hold other fields)",
		},
		{"token a number", "documents:\n  - id: " + id + "\n    auth_token: 8\n", "w.yml:3: documents[0].auth_token: is not a GUID (value not shown: it is a secret)"},
		{"token lower case typo", "documents:\n  - id: " + id + "\n    auth_token: " + strings.ToLower(tok) + "z\n", "w.yml:3: documents[0].auth_token: is not a GUID (value not shown: it is a secret)"},
		{"token a sequence", "documents:\n  - id: " + id + "\n    auth_token: [" + tok + "]\n", "w.yml:3: documents[0].auth_token: must be a string, got sequence"},
		{"token an alias", "documents:\n  - id: &i " + id + "\n    auth_token: *i\n", "w.yml:3: documents[0].auth_token: YAML aliases are not supported"},
		{"token in the anchor", "documents:\n  - id: " + id + "\n    auth_token: &" + tok + " x\n", "w.yml:3: documents[0].auth_token: is not a GUID (value not shown: it is a secret)"},
		{"empty context", doc + "    context_identifier: ''\n", "w.yml:4: documents[0].context_identifier: is not a GUID (value not shown: it is a secret)"},
		{"context a mapping", doc + "    context_identifier: {}\n", "w.yml:4: documents[0].context_identifier: must be a string, got mapping"},
		{"second document bad", "documents: []\n---\n{\n", "w.yml:3: YAML syntax error: did not find expected node content"},
		{"tab on the first line", "\tdocuments: []\n", "w.yml:1: YAML syntax error: found character that cannot start any token"},
		{"control character", doc + "    labels: {a: \"x\x01\"}\n", "w.yml:4: YAML syntax error: control characters are not allowed"},
		{"invalid UTF-8", doc + "    labels: {a: \"\xff\"}\n", "w.yml:4: YAML syntax error: invalid leading UTF-8 octet"},
		{"surrogate escape", doc + "    labels: {a: \"\\ud800\"}\n", "w.yml:4: YAML syntax error: found invalid Unicode character escape code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wl, err := Parse("w.yml", []byte(tt.in), 10)
			require.Error(t, err)
			assert.Nil(t, wl)
			assert.Equal(t, tt.want, err.Error())
			assertNoSecrets(t, err.Error(), []byte(tt.in))
		})
	}
}

func TestParseWatchListReservedLabelNames(t *testing.T) {
	assert.Equal(t, []string{"document_id", "status", "severity", "result", "job", "instance", "le", "quantile", "alertname"}, ReservedLabelNames)
	for _, name := range ReservedLabelNames {
		in := "documents:\n  - id: 2CE11EF1-8938-DD11-8735-00065B8CE99B\n    auth_token: 8CC9A84B-693C-46CC-4342-40A8215AD76A\n    labels: {" + name + ": x}\n"
		_, err := Parse("w.yml", []byte(in), 10)
		require.Error(t, err, name)
		assert.Equal(t, `w.yml:4: documents[0].labels: label name "`+name+`" is reserved: the exporter or Prometheus sets it`, err.Error())
	}
}

// watchListOf returns a file of n entries, each written as entry(i).
func watchListOf(n int, entry func(i int) string) []byte {
	var b strings.Builder
	b.WriteString("documents:\n")
	for i := range n {
		b.WriteString(entry(i))
	}
	return []byte(b.String())
}

func TestParseWatchListMaxDocuments(t *testing.T) {
	valid := func(i int) string {
		return fmt.Sprintf("  - {id: %08X-0000-0000-0000-000000000000, auth_token: 8CC9A84B-693C-46CC-4342-40A8215AD76A}\n", i)
	}
	// Entries that are all invalid show the count is checked first.
	invalid := func(int) string { return "  - {}\n" }

	_, err := Parse("watch.yml", watchListOf(10001, invalid), 10000)
	require.Error(t, err)
	assert.Equal(t, "watch.yml:2: documents: has 10001 documents, more than --watch.max-documents=10000", err.Error())

	_, err = Parse("watch.yml", watchListOf(10000, invalid), 10000)
	require.Error(t, err)
	assert.Equal(t, `watch.yml:2: documents[0]: missing required field "id"`, err.Error())

	wl, err := Parse("watch.yml", watchListOf(3, valid), 3)
	require.NoError(t, err)
	assert.Equal(t, "00000002-0000-0000-0000-000000000000", wl.Documents[2].ID)

	// No limit when maxDocuments <= 0.
	for _, max := range []int{0, -1} {
		wl, err := Parse("watch.yml", watchListOf(3, valid), max)
		require.NoError(t, err)
		assert.Len(t, wl.Documents, 3)
	}
}

func TestParseWatchListLabelNames(t *testing.T) {
	in := "documents:\n" +
		"  - {id: 2CE11EF1-8938-DD11-8735-00065B8CE99B, auth_token: 8CC9A84B-693C-46CC-4342-40A8215AD76A, labels: {zone: a, customer: b}}\n" +
		"  - {id: 3DE22FF2-9A49-EE22-9846-11176C9DF0AC, auth_token: 8CC9A84B-693C-46CC-4342-40A8215AD76A}\n" +
		"  - {id: 4EF33003-0B5A-FF33-0957-22287D0E01BD, auth_token: 8CC9A84B-693C-46CC-4342-40A8215AD76A, labels: {customer: c, Alpha: d}}\n"
	wl, err := Parse("w.yml", []byte(in), 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"Alpha", "customer", "zone"}, wl.LabelNames)
	assert.Nil(t, wl.Documents[1].Labels)
}

func TestLoadWatchListFileErrors(t *testing.T) {
	dir := t.TempDir()

	missing := filepath.Join(dir, "missing.yml")
	_, err := Load(missing, 10)
	require.Error(t, err)
	assert.True(t, errors.Is(err, fs.ErrNotExist))
	assert.Contains(t, err.Error(), missing)

	_, err = Load(dir, 10)
	require.Error(t, err)
	assert.Contains(t, err.Error(), dir)

	// A sparse file: refused on its size, without being read.
	big := filepath.Join(dir, "big.yml")
	f, err := os.Create(big)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(64<<20+1))
	require.NoError(t, f.Close())
	_, err = Load(big, 10)
	require.Error(t, err)
	assert.Equal(t, big+": file is 67108865 bytes, more than the 64 MiB limit", err.Error())

	// Exactly 64 MiB is read and parsed (and fails: it is all NUL bytes).
	// Slow under -race, hence not in -short.
	if !testing.Short() {
		require.NoError(t, os.Truncate(big, 64<<20))
		_, err = Load(big, 10)
		require.Error(t, err)
		assert.Equal(t, big+":1: YAML syntax error: control characters are not allowed", err.Error())
	}

	_, err = Parse("mem.yml", make([]byte, 64<<20+1), 10)
	require.Error(t, err)
	assert.Equal(t, "mem.yml: file is 67108865 bytes, more than the 64 MiB limit", err.Error())
}

func TestWatchListDocumentString(t *testing.T) {
	d := Entry{
		ID:                "2CE11EF1-8938-DD11-8735-00065B8CE99B",
		AuthToken:         "8CC9A84B-693C-46CC-4342-40A8215AD76A",
		ContextIdentifier: "06C4A84A-693C-46CB-8DF2-40A8215AA056",
		Labels:            map[string]string{"region": "eu", "customer": `a"b`},
	}
	assert.Equal(t, `2CE11EF1-8938-DD11-8735-00065B8CE99B{customer="a\"b",region="eu"}`, d.String())
	assert.Equal(t, `watchlist.Entry{ID:"2CE11EF1-8938-DD11-8735-00065B8CE99B", Labels:map[string]string{"customer":"a\"b", "region":"eu"}}`, d.GoString())

	bare := Entry{ID: d.ID, AuthToken: d.AuthToken}
	assert.Equal(t, d.ID, bare.String())

	wl := &List{Documents: []Entry{d, bare}, LabelNames: []string{"customer", "region"}}
	// Every way a careless log line might print a document or the list.
	for _, s := range []string{
		fmt.Sprint(d), fmt.Sprintf("%v %+v %s %q %#v", d, d, d, d, d),
		fmt.Sprintf("%v %+v %s %#v", &d, &d, &d, &d),
		fmt.Sprintf("%v %+v %#v", wl, wl, wl),
		fmt.Sprintf("%v %+v %#v", *wl, *wl, *wl),
		fmt.Sprintf("%v %+v %#v", wl.Documents, wl.Documents, wl.Documents),
		fmt.Sprintf("%v", map[string]Entry{"x": d}),
	} {
		assert.Contains(t, s, d.ID)
		assert.NotContains(t, s, d.AuthToken)
		assert.NotContains(t, s, d.ContextIdentifier)
	}
}

func TestWatchListCheckLabelName(t *testing.T) {
	for _, name := range []string{"a", "_", "_a", "a_", "A9", "customer", "Status", "document_ID"} {
		assert.Empty(t, checkLabelName(name), name)
	}
	for _, name := range []string{"", "9a", "a-b", "a.b", "a b", "é", "__", "__x", "le", "job"} {
		assert.NotEmpty(t, checkLabelName(name), name)
	}
}

func TestWatchListShowKey(t *testing.T) {
	for _, k := range []string{"auth_tokn", "context_identifier", "documentz", "a_label_name_of_32_bytes_exactly", "cafe-bad", "1234567"} {
		assert.Equal(t, `"`+k+`"`, showWatchKey(k), k)
	}
	for _, k := range []string{
		"8CC9A84B-693C-46CC-4342-40A8215AD76A", // a token
		"auth_token8CC9A84B",                   // a token run into a key
		"8CC9-A84B",                            // a fragment, dashes and all
		"deadbeef",
		"a_label_name_longer_than_32_bytes",
	} {
		assert.Equal(t, "(name not shown: it looks like it may hold a secret)", showWatchKey(k), k)
	}
}

// YAML cannot deliver invalid UTF-8 (the reader rejects it, escapes make
// valid code points), so the label check is tested on a hand-built node.
func TestWatchListLabelValueUTF8(t *testing.T) {
	p := watchListParser{name: "w.yml"}
	n := &yaml.Node{Kind: yaml.MappingNode, Line: 4, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "a", Line: 5},
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "x\xffy", Line: 5},
	}}
	_, err := p.labels(n, "documents[0].labels")
	require.Error(t, err)
	assert.Equal(t, "w.yml:5: documents[0].labels.a: value is not valid UTF-8", err.Error())
}

func TestWatchedDocumentLogAndJSONHideSecrets(t *testing.T) {
	d := Entry{
		ID:                "2CE11EF1-8938-DD11-8735-00065B8CE99B",
		AuthToken:         "8CC9A84B-693C-46CC-4342-40A8215AD76A",
		ContextIdentifier: "06C4A84A-693C-46CB-8DF2-40A8215AA056",
		Labels:            map[string]string{"customer": "acme"},
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("doc", "document", d)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("doc", "document", d)
	js, err := json.Marshal(d)
	require.NoError(t, err)
	out := buf.String() + string(js)
	require.Contains(t, out, d.ID)
	require.Contains(t, out, "acme")
	require.NotContains(t, out, d.AuthToken)
	require.NotContains(t, out, d.ContextIdentifier)
}

func TestLoadWatchListEnvelopes(t *testing.T) {
	wl, err := Load(filepath.Join(watchFixtures, "envelopes_good.yml"), 3)
	require.NoError(t, err)
	require.Len(t, wl.Documents, 1)
	assert.Equal(t, []Entry{
		{ID: "9A1C3F5E-2B4D-4E6F-8A0B-1C2D3E4F5A6B", AuthToken: "5F1E2D3C-4B5A-4968-8776-A5B4C3D2E1F0", Labels: map[string]string{"customer": "acme", "pack": "contract"}},
		{ID: "0B2D4F6A-3C5E-4F70-9B1C-2D3E4F5A6B7C", AuthToken: "6A2F3E4D-5C6B-4A79-9887-B6C5D4E3F2A1", ContextIdentifier: "06C4A84A-693C-46CB-8DF2-40A8215AA056"},
	}, wl.Envelopes)
	assert.Equal(t, []string{"customer", "pack"}, wl.LabelNames)

	// Each envelope counts as at least one document.
	_, err = Load(filepath.Join(watchFixtures, "envelopes_good.yml"), 2)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "has 2 envelopes, of at least one document each, and the documents leave room for 1 under --watch.max-documents=2")

	wl, err = Parse("only.yml", []byte("envelopes:\n  - id: 9A1C3F5E-2B4D-4E6F-8A0B-1C2D3E4F5A6B\n    auth_token: 5F1E2D3C-4B5A-4968-8776-A5B4C3D2E1F0\n"), 0)
	require.NoError(t, err)
	assert.Empty(t, wl.Documents)
	assert.Len(t, wl.Envelopes, 1)

	// The envelope goes with its shard, whole.
	owners := map[int]int{}
	for shard := range 3 {
		owners[shard] = len(wl.Shard(shard, 3).Envelopes)
	}
	assert.Equal(t, 1, owners[Owner("9A1C3F5E-2B4D-4E6F-8A0B-1C2D3E4F5A6B", 3)])
	assert.Equal(t, 1, owners[0]+owners[1]+owners[2])
}
