// Package watchlist reads the watch files: each strictly (errors name the
// file, line and field) into an immutable List of Entries, the documents and
// envelopes to watch; Files, many files and glob patterns as one list,
// noticing when one changes (polling, inode, symlink swap); and Owner, the
// shard that watches an id.
package watchlist

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/assuresign-exporter/assuresign_exporter/assuresign"
)

// maxWatchFileSize bounds what we hand to the YAML parser, whose node tree
// costs many times the file's size in memory.
const maxWatchFileSize = 64 << 20

// ReservedLabelNames are set by the exporter or Prometheus itself, so a
// watch-list label of the same name would clash with them.
var ReservedLabelNames = []string{
	"document_id", "status", "severity", "result",
	"job", "instance", "le", "quantile", "alertname",
}

// Entry is one watched document or envelope. AuthToken and ContextIdentifier are secrets.
type Entry struct {
	ID                string            // GUID, upper case
	AuthToken         string            // GUID as written (trimmed)
	ContextIdentifier string            // "" when not set
	Labels            map[string]string // nil when none
	// Envelope is the id of the envelope whose listing brought the document
	// ("" for a watch file's own): the REST API asks about it through it.
	Envelope string
}

// SameCredentials reports whether o asks AssureSign as d does: a change of
// either credential is tried at once.
func (d Entry) SameCredentials(o Entry) bool {
	return d.AuthToken == o.AuthToken && d.ContextIdentifier == o.ContextIdentifier
}

// ContextIdentifierOr is the ContextIdentifier the entry is asked about
// with: its own, else account's (the exporter-wide one).
func (d Entry) ContextIdentifierOr(account string) string {
	if d.ContextIdentifier != "" {
		return d.ContextIdentifier
	}
	return account
}

// String prints the ID and labels only, so that logging a document with %v
// or %s never leaks its secrets.
func (d Entry) String() string {
	var b strings.Builder
	b.WriteString(d.ID)
	if len(d.Labels) == 0 {
		return b.String()
	}
	names := make([]string, 0, len(d.Labels))
	for name := range d.Labels {
		names = append(names, name)
	}
	sort.Strings(names)
	b.WriteByte('{')
	for i, name := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(d.Labels[name]))
	}
	b.WriteByte('}')
	return b.String()
}

// GoString keeps %#v, which bypasses String, from printing the secrets.
func (d Entry) GoString() string {
	return fmt.Sprintf("watchlist.Entry{ID:%q, Labels:%#v}", d.ID, d.Labels)
}

// LogValue keeps slog's handlers, the JSON one included, from printing the secrets.
func (d Entry) LogValue() slog.Value {
	return slog.StringValue(d.String())
}

// MarshalJSON keeps encoding/json from printing the secrets.
func (d Entry) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID     string            `json:"id"`
		Labels map[string]string `json:"labels,omitempty"`
	}{d.ID, d.Labels})
}

// List is a parsed watch file.
type List struct {
	Documents []Entry // in file order
	// Envelopes are the envelopes: entries, in file order. An entry has a
	// document's fields: its id and AuthToken are the envelope's, and its
	// labels go to every document listed in it.
	Envelopes  []Entry
	LabelNames []string // sorted union of every entry's label names
}

// Secrets are the list's AuthTokens and ContextIdentifiers, for a client to
// redact should an answer echo them.
func (l *List) Secrets() []string {
	var out []string
	for _, d := range slices.Concat(l.Documents, l.Envelopes) {
		out = append(out, d.AuthToken)
		if d.ContextIdentifier != "" {
			out = append(out, d.ContextIdentifier)
		}
	}
	return out
}

// envelopeReservedLabelNames are set on the envelope's own series.
var envelopeReservedLabelNames = []string{"envelope_id", "order_id"}

// Load reads and parses path. Errors name the file.
// maxDocuments <= 0 means no limit.
func Load(path string, maxDocuments int) (*List, error) {
	return load(path, maxDocuments, false)
}

// load reads path under the SOAP rules, or under the REST API's when
// envelopesOnly (see ParseEnvelopesOnly).
func load(path string, maxDocuments int, envelopesOnly bool) (*List, error) {
	// A FIFO or device would block the open, or the read, for ever.
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("watch list: %w", err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("watch list: %w", err)
	}
	defer f.Close()
	// Stat first so an oversized file fails without being read; the limited
	// read below still catches files that grow meanwhile.
	var buf bytes.Buffer
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		if fi.Size() > maxWatchFileSize {
			return nil, fmt.Errorf("%s: file is %d bytes, more than the 64 MiB limit", path, fi.Size())
		}
		buf.Grow(int(fi.Size()) + bytes.MinRead) // one allocation, as os.ReadFile does
	}
	if _, err := buf.ReadFrom(io.LimitReader(f, maxWatchFileSize+1)); err != nil {
		return nil, fmt.Errorf("watch list: %w", err)
	}
	if buf.Len() > maxWatchFileSize {
		return nil, fmt.Errorf("%s: file is more than the 64 MiB limit", path)
	}
	return parse(path, buf.Bytes(), maxDocuments, envelopesOnly)
}

// Parse parses data; name is used in error messages (the file path).
// maxDocuments <= 0 means no limit.
//
// Errors read "name:line: field: problem". They never hold an auth_token or
// context_identifier value, nor a key that might be one.
func Parse(name string, data []byte, maxDocuments int) (*List, error) {
	return parse(name, data, maxDocuments, false)
}

// ParseEnvelopesOnly parses data under the REST API's rules: it addresses
// envelopes by their id alone, so an envelope needs no auth_token (one given
// is accepted), and documents: entries are refused.
func ParseEnvelopesOnly(name string, data []byte, maxDocuments int) (*List, error) {
	return parse(name, data, maxDocuments, true)
}

func parse(name string, data []byte, maxDocuments int, envelopesOnly bool) (*List, error) {
	if len(data) > maxWatchFileSize {
		return nil, fmt.Errorf("%s: file is %d bytes, more than the 64 MiB limit", name, len(data))
	}
	root, err := decodeSingleDocument(name, data)
	if err != nil {
		return nil, err
	}
	p := watchListParser{name: name, envelopesOnly: envelopesOnly}
	return p.parse(root, maxDocuments)
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// decodeSingleDocument returns the one YAML document in data.
func decodeSingleDocument(name string, data []byte) (doc *yaml.Node, err error) {
	defer func() {
		// yaml.v3 panics, instead of failing, on a few malformed inputs; a bad
		// file must not take the exporter down.
		if r := recover(); r != nil {
			doc, err = nil, fmt.Errorf("%s: YAML parser failed: %v", name, r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first yaml.Node
	if err := dec.Decode(&first); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: file is empty, want a mapping with a \"documents\" key", name)
		}
		return nil, yamlSyntaxError(name, data, err)
	}
	var second yaml.Node
	switch err := dec.Decode(&second); {
	case err == nil:
		return nil, fmt.Errorf("%s:%d: more than one YAML document in the file", name, second.Line)
	case !errors.Is(err, io.EOF):
		return nil, yamlSyntaxError(name, data, err)
	}
	return &first, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlSyntaxError rewrites "yaml: line N: msg" as "name:N: ...".
func yamlSyntaxError(name string, data []byte, err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s:%s: YAML syntax error: %s", name, m[1], msg[len(m[0]):])
	}
	// The only yaml.v3 parse error quoting the input: an alias to an undefined
	// anchor. The anchor name could be a pasted token, so drop it.
	const pre, post = "yaml: unknown anchor '", "' referenced"
	if anchor, ok := strings.CutPrefix(msg, pre); ok && strings.HasSuffix(anchor, post) {
		anchor = strings.TrimSuffix(anchor, post)
		if i := bytes.Index(data, []byte("*"+anchor)); anchor != "" && i >= 0 {
			return fmt.Errorf("%s:%d: YAML aliases are not supported (this one names an undefined anchor)", name, 1+bytes.Count(data[:i], []byte("\n")))
		}
		return fmt.Errorf("%s: YAML aliases are not supported (found one naming an undefined anchor)", name)
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	switch {
	case yamlReaderErrors[msg]:
		// Bad bytes: yaml.v3 gives no position for those, so find them.
		if line := lineOfBadChar(data); line > 0 {
			return fmt.Errorf("%s:%d: YAML syntax error: %s", name, line, msg)
		}
	case !strings.HasPrefix(msg, "attempted to go past"):
		// yaml.v3 leaves out the line when it is the first one.
		return fmt.Errorf("%s:1: YAML syntax error: %s", name, msg)
	}
	return fmt.Errorf("%s: YAML syntax error: %s", name, msg)
}

// yamlReaderErrors are yaml.v3's messages for input it cannot decode.
var yamlReaderErrors = map[string]bool{
	"invalid leading UTF-8 octet":        true,
	"incomplete UTF-8 octet sequence":    true,
	"invalid trailing UTF-8 octet":       true,
	"invalid length of a UTF-8 sequence": true,
	"invalid Unicode character":          true,
	"control characters are not allowed": true,
}

// lineOfBadChar returns the line of the first byte in data that the YAML
// reader refuses (invalid UTF-8 or a character YAML does not allow), or 0.
func lineOfBadChar(data []byte) int {
	if bytes.HasPrefix(data, []byte{0xFE, 0xFF}) || bytes.HasPrefix(data, []byte{0xFF, 0xFE}) {
		return 0 // UTF-16, which the reader converts itself
	}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 || !yamlPrintable(r) {
			return 1 + bytes.Count(data[:i], []byte("\n"))
		}
		i += size
	}
	return 0
}

// yamlPrintable follows the YAML 1.2 c-printable production.
func yamlPrintable(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == 0x85:
		return true
	case 0x20 <= r && r <= 0x7E, 0xA0 <= r && r <= 0xD7FF, 0xE000 <= r && r <= 0xFFFD, 0x10000 <= r && r <= 0x10FFFF:
		return true
	}
	return false
}

type watchListParser struct {
	name          string
	envelopesOnly bool // the REST API's rules: see ParseEnvelopesOnly
}

func (p *watchListParser) errorf(n *yaml.Node, field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if field != "" {
		msg = field + ": " + msg
	}
	return fmt.Errorf("%s:%d: %s", p.name, n.Line, msg)
}

// checkKind rejects aliases (they allow billion-laughs style blow-ups of
// the label maps) and nodes of the wrong kind.
func (p *watchListParser) checkKind(n *yaml.Node, field string, want yaml.Kind) error {
	if n.Kind == yaml.AliasNode {
		return p.errorf(n, field, "YAML aliases are not supported")
	}
	if n.Kind != want {
		return p.errorf(n, field, "must be a %s, got %s", nodeKindName(want), describeNode(n))
	}
	return nil
}

// eachPair calls fn for each key and value of mapping m, rejecting keys that
// are not scalars or that repeat (yaml.v3's Node API accepts both).
func (p *watchListParser) eachPair(m *yaml.Node, field string, fn func(key string, k, v *yaml.Node) error) error {
	seen := make(map[string]int, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind == yaml.AliasNode {
			return p.errorf(k, field, "YAML aliases are not supported")
		}
		if k.Kind != yaml.ScalarNode {
			return p.errorf(k, field, "keys must be strings, got %s", describeNode(k))
		}
		if first, dup := seen[k.Value]; dup {
			return p.errorf(k, field, "duplicate key %s (first at line %d)", showWatchKey(k.Value), first)
		}
		seen[k.Value] = k.Line
		if err := fn(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

func (p *watchListParser) parse(doc *yaml.Node, maxDocuments int) (*List, error) {
	if len(doc.Content) != 1 {
		return nil, p.errorf(doc, "", "want a mapping with a \"documents\" key")
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, p.errorf(top, "", "top level must be a mapping with a \"documents\" key, got %s", describeNode(top))
	}
	var docs, envs *yaml.Node
	err := p.eachPair(top, "", func(key string, k, v *yaml.Node) error {
		switch key {
		case "documents":
			docs = v
		case "envelopes":
			envs = v
		default:
			return p.errorf(k, "", "unknown field %s", showWatchKey(key))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if docs == nil && envs == nil {
		return nil, p.errorf(top, "", "missing required field \"documents\" (or \"envelopes\")")
	}
	if p.envelopesOnly && docs != nil && !isNullNode(docs) && (docs.Kind != yaml.SequenceNode || len(docs.Content) > 0) {
		return nil, p.errorf(docs, "documents", "the REST API (--assuresign.api=rest) addresses envelopes, not documents: list each document's envelope id under \"envelopes\" instead")
	}
	wl := &List{Documents: []Entry{}}
	labelNames := map[string]struct{}{}
	room := -1
	if maxDocuments > 0 {
		room = maxDocuments
	}
	if wl.Documents, err = p.entries(docs, "documents", room, maxDocuments, labelNames); err != nil {
		return nil, err
	}
	if wl.Documents == nil {
		wl.Documents = []Entry{}
	}
	if room >= 0 {
		room -= len(wl.Documents) // each envelope holds at least one document
	}
	if wl.Envelopes, err = p.entries(envs, "envelopes", room, maxDocuments, labelNames); err != nil {
		return nil, err
	}
	for name := range labelNames {
		wl.LabelNames = append(wl.LabelNames, name)
	}
	sort.Strings(wl.LabelNames)
	return wl, nil
}

// entries parses the documents: or envelopes: sequence seq (nil when the key
// is absent) named field, adding their label names to labelNames.
// room is how many entries fit under maxDocuments (negative: no limit).
func (p *watchListParser) entries(seq *yaml.Node, field string, room, maxDocuments int, labelNames map[string]struct{}) ([]Entry, error) {
	if seq == nil || isNullNode(seq) {
		return nil, nil // absent, or "documents:" with nothing after it
	}
	if err := p.checkKind(seq, field, yaml.SequenceNode); err != nil {
		return nil, err
	}
	// Before looking at any entry, so an oversized file fails fast.
	if room >= 0 && len(seq.Content) > room {
		if field == "documents" {
			return nil, p.errorf(seq, field, "has %d documents, more than --watch.max-documents=%d", len(seq.Content), maxDocuments)
		}
		return nil, p.errorf(seq, field, "has %d envelopes, of at least one document each, and the documents leave room for %d under --watch.max-documents=%d", len(seq.Content), room, maxDocuments)
	}
	type firstSeen struct {
		index, line int
	}
	ids := make(map[string]firstSeen, len(seq.Content))
	out := make([]Entry, 0, len(seq.Content))
	for i, item := range seq.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		d, idNode, err := p.document(item, f)
		if err != nil {
			return nil, err
		}
		if first, dup := ids[d.ID]; dup {
			return nil, p.errorf(idNode, f+".id", "duplicate id %q, also %s[%d] at line %d", d.ID, field, first.index, first.line)
		}
		ids[d.ID] = firstSeen{i, idNode.Line}
		for name := range d.Labels {
			if field == "envelopes" && slices.Contains(envelopeReservedLabelNames, name) {
				return nil, p.errorf(item, f+".labels", "label name %q is reserved: the exporter sets it on the envelope's series", name)
			}
			labelNames[name] = struct{}{}
		}
		out = append(out, d)
	}
	return out, nil
}

// document parses one entry and also returns its id node, for duplicate
// reports.
func (p *watchListParser) document(n *yaml.Node, field string) (Entry, *yaml.Node, error) {
	var d Entry
	if err := p.checkKind(n, field, yaml.MappingNode); err != nil {
		return d, nil, err
	}
	var idNode, tokenNode *yaml.Node
	err := p.eachPair(n, field, func(key string, k, v *yaml.Node) error {
		var err error
		switch key {
		case "id":
			idNode = v
			d.ID, err = p.guid(v, field+".id", false)
			d.ID = strings.ToUpper(d.ID)
		case "auth_token":
			tokenNode = v
			d.AuthToken, err = p.guid(v, field+".auth_token", true)
		case "context_identifier":
			if p.envelopesOnly && !isNullNode(v) {
				// The REST client sends one X-AS-UserContext for every request.
				return p.errorf(v, field+".context_identifier", "the REST API (--assuresign.api=rest) takes the account's ContextIdentifier once, from $ASSURESIGN_CONTEXT_IDENTIFIER or --assuresign.context-identifier-file")
			}
			if !isNullNode(v) { // null means "use the exporter-wide one"
				d.ContextIdentifier, err = p.guid(v, field+".context_identifier", true)
			}
		case "labels":
			d.Labels, err = p.labels(v, field+".labels")
		default:
			err = p.errorf(k, field, "unknown field %s", showWatchKey(key))
		}
		return err
	})
	if err != nil {
		return d, nil, err
	}
	if idNode == nil {
		return d, nil, p.errorf(n, field, "missing required field \"id\"")
	}
	if tokenNode == nil && !p.envelopesOnly {
		return d, nil, p.errorf(n, field, "missing required field \"auth_token\"")
	}
	return d, idNode, nil
}

// guid returns the trimmed GUID in n. A secret's value is never put in the
// error: even a mistyped token is mostly the real one.
func (p *watchListParser) guid(n *yaml.Node, field string, secret bool) (string, error) {
	if err := p.checkKind(n, field, yaml.ScalarNode); err != nil {
		return "", err
	}
	if isNullNode(n) {
		return "", p.errorf(n, field, "is empty, want a GUID")
	}
	s := strings.TrimSpace(n.Value)
	if assuresign.IsGUID(s) {
		return s, nil
	}
	if secret {
		return "", p.errorf(n, field, "is not a GUID (value not shown: it is a secret)")
	}
	// A long or spaced id is likely a plain scalar that ran on into the next
	// (over-indented) lines, which may hold a token: don't show it.
	if len(s) > 40 || strings.ContainsFunc(s, unicode.IsSpace) {
		return "", p.errorf(n, field, "is not a GUID (value not shown: it is long or has white space, so may hold other fields)")
	}
	return "", p.errorf(n, field, "%q is not a GUID", s)
}

func (p *watchListParser) labels(n *yaml.Node, field string) (map[string]string, error) {
	if isNullNode(n) {
		return nil, nil
	}
	if err := p.checkKind(n, field, yaml.MappingNode); err != nil {
		return nil, err
	}
	if len(n.Content) == 0 {
		return nil, nil
	}
	labels := make(map[string]string, len(n.Content)/2)
	err := p.eachPair(n, field, func(name string, k, v *yaml.Node) error {
		if problem := checkLabelName(name); problem != "" {
			return p.errorf(k, field, "label name %s %s", showWatchKey(name), problem)
		}
		lf := field + "." + name
		if err := p.checkKind(v, lf, yaml.ScalarNode); err != nil {
			return err
		}
		// Untagged numbers, booleans and dates are taken as written, like
		// Prometheus's own label config; null is most likely a mistake, and
		// an explicit tag such as !!binary would change the value.
		if isNullNode(v) || v.Style&yaml.TaggedStyle != 0 && !textTags[v.ShortTag()] {
			return p.errorf(v, lf, "must be a string, got %s", describeNode(v))
		}
		if !utf8.ValidString(v.Value) {
			return p.errorf(v, lf, "value is not valid UTF-8")
		}
		labels[name] = v.Value
		return nil
	})
	if err != nil {
		return nil, err
	}
	return labels, nil
}

// textTags are the explicit tags under which a label value is still its text.
var textTags = map[string]bool{"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!timestamp": true}

// checkLabelName returns what is wrong with name, or "".
func checkLabelName(name string) string {
	if name == "" {
		return "is empty"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return "is invalid: must match ^[a-zA-Z_][a-zA-Z0-9_]*$"
	}
	if strings.HasPrefix(name, "__") {
		return "is invalid: names starting with \"__\" are reserved for Prometheus"
	}
	if slices.Contains(ReservedLabelNames, name) {
		return "is reserved: the exporter or Prometheus sets it"
	}
	return ""
}

func isNullNode(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func nodeKindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.ScalarNode:
		return "string"
	case yaml.AliasNode:
		return "alias"
	case yaml.DocumentNode:
		return "document"
	}
	return "node"
}

// describeNode names n's type without its value, which might be a secret.
func describeNode(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return nodeKindName(n.Kind)
	}
	switch n.ShortTag() {
	case "!!str":
		return "string"
	case "!!int":
		return "integer"
	case "!!float":
		return "float"
	case "!!bool":
		return "boolean"
	case "!!null":
		return "null"
	case "!!timestamp":
		return "timestamp"
	case "!!binary":
		return "binary"
	}
	return "a scalar with a custom tag" // the tag itself is user text
}

// showWatchKey quotes a key for an error message unless it is long or holds a
// hex run, i.e. could be (part of) a token pasted in the wrong place.
func showWatchKey(k string) string {
	if len(k) > 32 || hasHexRun(k, 8) {
		return "(name not shown: it looks like it may hold a secret)"
	}
	return strconv.Quote(k)
}

// hasHexRun reports whether s has a stretch of hex digits and dashes that
// holds at least n hex digits, as in a GUID or a fragment of one.
func hasHexRun(s string, n int) bool {
	count := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isHexDigit(c):
			count++
			if count >= n {
				return true
			}
		case c == '-':
		default:
			count = 0
		}
	}
	return false
}
