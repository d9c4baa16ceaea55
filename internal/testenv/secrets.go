package testenv

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/assuresign-exporter/assuresign_exporter/internal/guid"
)

// FragmentLen is the shortest piece of a secret GUID that Secrets reports:
// eight hex digits narrow a token down too far to be shown anywhere.
const FragmentLen = 8

// Secrets is the one secret scanner every test uses. A GUID secret is found
// whole or in part (any FragmentLen or more of its hex digits in a row), in
// any case, with hyphens dropped or moved; any other secret is found whole,
// in any case. It is safe for concurrent use.
type Secrets struct {
	// fragment is the hex-run length looked up; fragments maps each of a
	// GUID's windows of that length to the secret's label.
	fragment  int
	mu        sync.RWMutex
	fragments map[string]string
	plain     map[string]string // lower case → label
}

// NewSecrets returns a scanner that reports fragments of fragment hex digits
// or more (at least FragmentLen; a scan of hundreds of megabytes of random
// ids wants a longer one, or chance matches show up) and knows values.
func NewSecrets(fragment int, values ...string) *Secrets {
	s := &Secrets{fragment: max(fragment, FragmentLen), fragments: map[string]string{}, plain: map[string]string{}}
	for _, v := range values {
		s.Add(v, v)
	}
	return s
}

// Add registers a secret under label, the name findings give it.
func (s *Secrets) Add(label, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := hexDigits(v); len(h) == 32 {
		for i := 0; i+s.fragment <= len(h); i++ {
			s.fragments[h[i:i+s.fragment]] = label
		}
		return
	}
	s.plain[strings.ToLower(v)] = label
}

// Find returns a finding for each place in data that holds a secret or a
// fragment of one; overlapping windows of one occurrence count once.
func (s *Secrets) Find(source string, data []byte) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var findings []string
	report := func(label string, at int) {
		lo, hi := max(at-60, 0), min(at+100, len(data))
		findings = append(findings, fmt.Sprintf("%s: %s in …%q…", source, label, data[lo:hi]))
	}
	run := make([]byte, 0, 64)
	pos := make([]int, 0, 64)
	flush := func() {
		for i := 0; i+s.fragment <= len(run); i++ {
			if label, ok := s.fragments[string(run[i:i+s.fragment])]; ok {
				report(label, pos[i])
				break // one finding per run
			}
		}
		run, pos = run[:0], pos[:0]
	}
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case isHex(c):
			run = append(run, lowerHex(c))
			pos = append(pos, i)
		case c == '-':
		default:
			flush()
		}
	}
	flush()
	if len(s.plain) > 0 {
		folded := bytes.ToLower(data)
		for v, label := range s.plain {
			if i := bytes.Index(folded, []byte(v)); i >= 0 {
				report(label, i)
			}
		}
	}
	return findings
}

// AssertNone fails t for every secret, or fragment of one, in text.
func (s *Secrets) AssertNone(t testing.TB, what, text string) {
	t.Helper()
	for _, f := range s.Find(what, []byte(text)) {
		t.Errorf("secret leaked: %s", f)
	}
}

// hexDigits returns v's hex digits in lower case when v is only hex digits
// and hyphens, else "".
func hexDigits(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if c := v[i]; isHex(c) {
			b.WriteByte(lowerHex(c))
		} else if c != '-' {
			return ""
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func lowerHex(c byte) byte {
	if 'A' <= c && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

// RandomGUID returns a random version-4 GUID in upper case, as AssureSign
// writes them: a document id, or a secret to register with Add.
func RandomGUID() string { return guid.New(rand.Reader) }
