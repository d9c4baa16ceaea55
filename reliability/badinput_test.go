package reliability

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

type badInput struct {
	name string
	// setup puts the bad input at path; contents are YAML unless setup is set.
	yaml  string
	setup func(t *testing.T, path string)
	line  int // the line the error must name; 0 when none applies
	// lineFrom, when set, accepts any line from lineFrom to line: yaml.v3
	// names the line before an unclosed construct's first line (its
	// 0-based context line), not the line where the problem shows.
	lineFrom int
	want     string // a phrase the error must hold
	// viaSIGHUP reloads by signal (the error is then read from the log).
	viaSIGHUP bool
	rootSkip  bool // meaningless as root
}

func TestBadWatchFiles(t *testing.T) {
	t.Parallel()
	docs := newDocs(3, "bad-input")
	dir, ctxPath, sim := newAccount(t, docs)
	path := filepath.Join(dir, "watch.yml")
	good := watchYAML(docs)
	testenv.ReplaceFile(t, path, good)
	e := startExporter(t, exporterOpts{watchFile: path, endpoint: sim.Endpoint(), contextFile: ctxPath,
		flags: map[string]string{"watch.max-documents": "5", "refresh.interval": "2s", "refresh.terminal-interval": "2s"}})
	testenv.Eventually(t, 20*time.Second, "the first round", func() (bool, string) { return statusesMatch(e.scrape(), docs) })

	token := docs[0].Token
	mangled := token[:35] + "Z" // a mistyped token is mostly the real one
	secrets.Add("mistyped AuthToken", mangled)
	anchorSecret := secretGUID("anchor name")
	keySecret := secretGUID("AuthToken pasted as a key")
	head := "documents:\n  - id: " + docs[0].ID + "\n"
	cases := []badInput{
		{name: "broken YAML (unclosed flow sequence)", yaml: head + "    auth_token: [" + token + "\n    labels: {a: b\n", lineFrom: 2, line: 4, want: "YAML syntax error"},
		{name: "broken YAML (bad indentation)", yaml: head + "    auth_token: " + token + "\n   labels:\n      a: b\n", lineFrom: 1, line: 4, want: "YAML syntax error"},
		{name: "wrong type: documents is a number", yaml: "documents: 42\n", line: 1, want: "documents: must be a sequence, got integer"},
		{name: "wrong type: labels is a list", yaml: head + "    auth_token: " + token + "\n    labels: [a, b]\n", line: 4, want: "labels: must be a mapping, got sequence"},
		{name: "wrong type: auth_token is a mapping", yaml: head + "    auth_token: {x: " + token + "}\n", line: 3, want: "auth_token: must be a string, got mapping"},
		{name: "bad GUID: id", yaml: "documents:\n  - id: not-a-guid\n    auth_token: " + token + "\n", line: 2, want: `"not-a-guid" is not a GUID`},
		{name: "bad GUID: auth_token (mistyped, not echoed)", yaml: head + "    auth_token: " + mangled + "\n", line: 3, want: "value not shown"},
		{name: "bad GUID: context_identifier", yaml: head + "    auth_token: " + token + "\n    context_identifier: nope\n", line: 4, want: "context_identifier: is not a GUID"},
		{name: "duplicate id", yaml: string(good) + "  - id: " + strings.ToLower(docs[1].ID) + "\n    auth_token: " + token + "\n", line: 2*3 + 2 + 1, want: "duplicate id"},
		{name: "duplicate key", yaml: head + "    auth_token: " + token + "\n    auth_token: " + token + "\n", line: 4, want: `duplicate key "auth_token"`},
		{name: "unknown key", yaml: head + "    auth_tokn: " + token + "\n", line: 3, want: `unknown field "auth_tokn"`},
		{name: "unknown top-level key", yaml: string(good) + "extra: 1\n", line: 2*3 + 2 + 1, want: `unknown field "extra"`},
		{name: "AuthToken pasted as a key (not echoed)", yaml: head + "    auth_token: " + token + "\n    " + keySecret + ": x\n", line: 4, want: "name not shown"},
		{name: "undefined alias named like a token (not echoed)", yaml: head + "    auth_token: *" + anchorSecret + "\n", line: 3, want: "aliases are not supported"},
		{name: "YAML alias (billion-laughs style)", yaml: head + "    auth_token: " + token + "\n    labels: &l0 {a: lol}\n  - id: " + docs[1].ID + "\n    auth_token: " + token + "\n    labels: *l0\n", line: 7, want: "aliases are not supported"},
		{name: "invalid UTF-8", yaml: head + "    auth_token: " + token + "\n    labels: {team: \"\xff\xfe\"}\n", line: 4, want: "YAML syntax error"},
		{name: "empty file", yaml: "", want: "file is empty"},
		{name: "more documents than --watch.max-documents=5", yaml: string(watchYAML(newDocs(6, "bad-input"))), line: 3, want: "has 6 documents, more than --watch.max-documents=5"},
		{name: "over 64 MiB (sparse file)", setup: func(t *testing.T, p string) {
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write(good); err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(65 << 20); err != nil {
				t.Fatal(err)
			}
		}, want: "more than the 64 MiB limit"},
		{name: "over 64 MiB via SIGHUP", setup: func(t *testing.T, p string) {
			if err := os.WriteFile(p, bytes.Repeat([]byte("# padding to make the file too large\n"), (64<<20)/36+10), 0o600); err != nil {
				t.Fatal(err)
			}
		}, want: "more than the 64 MiB limit", viaSIGHUP: true},
		{name: "file vanished", setup: func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}, want: "no such file or directory"},
		{name: "unreadable: a directory in place of the file", setup: func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
		}, want: "not a regular file"},
		{name: "unreadable: chmod 000", setup: func(t *testing.T, p string) {
			if err := os.Chmod(p, 0); err != nil {
				t.Fatal(err)
			}
		}, want: "permission denied", rootSkip: true},
		{name: "symlink to a missing target", setup: func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(filepath.Dir(p), "..data", "gone.yml"), p); err != nil {
				t.Fatal(err)
			}
		}, want: "no such file or directory"},
		{name: "broken YAML via SIGHUP", yaml: "documents:\n  - id: [\n", lineFrom: 2, line: 3, want: "YAML syntax error", viaSIGHUP: true},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fig := BadInputFigure{Name: tc.name}
			defer func() {
				fig.Rejected = !t.Failed() && !t.Skipped()
				if !t.Skipped() {
					Figures.AddBadInput(fig)
				}
			}()
			if tc.rootSkip && os.Geteuid() == 0 {
				Figures.AddBadInput(BadInputFigure{Name: tc.name, Skipped: true, Message: "running as root, which reads a mode-000 file anyway (the directory case covers an unreadable path)"})
				t.Skip("running as root: root reads a mode-000 file, so there is no error to see (the directory case covers an unreadable path)")
			}
			t.Cleanup(func() {
				_ = os.Chmod(path, 0o600)
				_ = os.RemoveAll(path)
				testenv.ReplaceFile(t, path, good)
				if code, body := e.reload(); code != 200 {
					t.Errorf("restoring the good file: %d %s", code, body)
				}
			})
			if tc.setup != nil {
				tc.setup(t, path)
			} else {
				testenv.ReplaceFile(t, path, []byte(tc.yaml))
			}
			fig.Message = reloadExpectingError(t, e, tc.viaSIGHUP)
			checkBadInputError(t, fig.Message, path, tc.lineFrom, tc.line, tc.want)
			// The last good list stays, with its statuses.
			s := e.scrape()
			if s.reloadOK() != 0 {
				t.Errorf("assuresign_watchlist_last_reload_successful = %v, want 0", s.reloadOK())
			}
			if n := s.value("assuresign_watched_documents"); n != float64(len(docs)) {
				t.Errorf("assuresign_watched_documents = %v, want %d", n, len(docs))
			}
			if ok, why := statusesMatch(s, docs); !ok {
				t.Errorf("the old list's statuses are gone: %s", why)
			}
			if !e.Alive() {
				t.Fatalf("the exporter exited:\n%s", e.Output)
			}
			fig.Message = strings.ReplaceAll(fig.Message, dir, "$DIR")
		})
	}

	t.Run("symlink swap during reloads", func(t *testing.T) { symlinkSwap(t, sim, ctxPath, docs) })

	// A page past the end, up to one whose offset overflows, is the last page:
	// no negative range, no link to a page of nothing.
	for _, page := range []string{"9223372036854775807", "92233720368547758"} {
		t.Run("landing page "+page, func(t *testing.T) {
			fig := BadInputFigure{Name: "landing page ?page=" + page}
			defer func() { fig.Rejected = !t.Failed(); Figures.AddBadInput(fig) }()
			code, body, err := e.get("/?page=" + page)
			if err != nil || code != 200 {
				t.Fatalf("GET /?page=%s: %d %v", page, code, err)
			}
			shown := regexp.MustCompile(`Showing [^<]*? of \d+`).Find(body)
			fig.Message = string(shown) + "; pager: " + string(regexp.MustCompile(`(?s)<p class="pager">.*?</p>`).Find(body))
			if want := fmt.Sprintf("Showing 1–%d of %d", len(docs), len(docs)); string(shown) != want {
				t.Errorf("%q, want %q", shown, want)
			}
			if bytes.Contains(body, []byte("?page=")) {
				t.Errorf("a link to another page of a one-page list: %s", fig.Message)
			}
		})
	}

	t.Run("bad file at start-up", func(t *testing.T) {
		fig := BadInputFigure{Name: "bad file at start-up: exits non-zero"}
		defer func() { fig.Rejected = !t.Failed(); Figures.AddBadInput(fig) }()
		bad := filepath.Join(t.TempDir(), "start.yml")
		testenv.ReplaceFile(t, bad, []byte("documents:\n  - id: "+docs[0].ID+"\n    auth_token: "+mangled+"\n"))
		e := testenv.ExporterOptions{NoWait: true}.Start(t, "--web.listen-address=127.0.0.1:0", "--watch.file="+bad,
			"--assuresign.endpoint="+sim.Endpoint(), "--assuresign.context-identifier-file="+ctxPath, "--log.level=debug")
		code := e.ExitCode(t, 30*time.Second)
		out := []byte(e.Output.String())
		captureOutput(t, "exporter start-up log", out)
		if code == 0 {
			t.Fatalf("exit code 0, want non-zero\n%s", out)
		}
		m := regexp.MustCompile(`msg=exiting err="(.*)"`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("no exiting line:\n%s", out)
		}
		fig.Message = strings.ReplaceAll(string(m[1]), filepath.Dir(bad), "$DIR")
		msg, err := strconv.Unquote(`"` + string(m[1]) + `"`)
		if err != nil {
			t.Fatalf("unquoting %s: %v", m[1], err)
		}
		checkBadInputError(t, msg, bad, 0, 3, "value not shown")
	})
}

var reloadFailedRE = regexp.MustCompile(`(?m)^.*msg="reload failed; keeping the previous configuration" err=(".*"|\S+)$`)

// reloadExpectingError reloads and returns the error, which must also be in the log.
func reloadExpectingError(t *testing.T, e *exporter, viaSIGHUP bool) string {
	t.Helper()
	before := len(reloadFailedRE.FindAllString(e.Output.String(), -1))
	var msg string
	if viaSIGHUP {
		e.Signal(t, syscall.SIGHUP)
	} else {
		code, body := e.reload()
		if code != 500 {
			t.Fatalf("POST /-/reload: %d %q, want 500", code, body)
		}
		msg = strings.TrimSpace(strings.TrimPrefix(body, "reload failed: "))
	}
	var logged string
	testenv.Eventually(t, 10*time.Second, "the reload error in the log", func() (bool, string) {
		all := reloadFailedRE.FindAllStringSubmatch(e.Output.String(), -1)
		if len(all) <= before {
			return false, "no new line"
		}
		logged = all[len(all)-1][1]
		return true, ""
	})
	if strings.HasPrefix(logged, `"`) {
		var err error
		if logged, err = strconv.Unquote(logged); err != nil {
			t.Fatalf("unquoting the logged error: %v", err)
		}
	}
	if msg == "" {
		msg = logged
	} else if logged != msg {
		t.Errorf("the log says %q, the response %q", logged, msg)
	}
	return msg
}

func checkBadInputError(t *testing.T, msg, path string, lineFrom, line int, want string) {
	t.Helper()
	if !strings.Contains(msg, path) {
		t.Errorf("error %q does not name the file %s", msg, path)
	}
	if line > 0 {
		named := false
		for l := max(lineFrom, line); l >= max(lineFrom, 1) && l <= line; l-- {
			named = named || strings.Contains(msg, fmt.Sprintf("%s:%d:", path, l))
			if lineFrom == 0 {
				break
			}
		}
		if !named {
			t.Errorf("error %q does not name line %d (or from %d)", msg, line, lineFrom)
		}
	}
	if !strings.Contains(msg, want) {
		t.Errorf("error %q does not say %q", msg, want)
	}
}

// symlinkSwap points the watch path, a symlink as Kubernetes mounts it, at two
// lists in turn, as fast as possible, while reloading: every reload must see
// one whole list or the other, never a mix, never an error.
func symlinkSwap(t *testing.T, sim *simulatorProc, ctxPath string, docs []doc) {
	fig := BadInputFigure{Name: "symlink swapped during reloads"}
	defer func() { fig.Rejected = !t.Failed(); Figures.AddBadInput(fig) }()
	path := filepath.Join(t.TempDir(), "watch.yml")
	testenv.ReplaceFile(t, path, watchYAML(docs))
	e := startExporter(t, exporterOpts{watchFile: path, endpoint: sim.Endpoint(), contextFile: ctxPath,
		flags: map[string]string{"refresh.interval": "2s", "refresh.terminal-interval": "2s"}})
	testenv.Eventually(t, 20*time.Second, "the first round", func() (bool, string) { return statusesMatch(e.scrape(), docs) })
	dir := filepath.Join(filepath.Dir(path), "..data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Two lists of 2,000 documents, so a read takes long enough to be
	// overtaken by a swap; they share the original three documents.
	listA := append(slices.Clone(docs), newDocs(1997, "swap A")...)
	listB := append(slices.Clone(docs), newDocs(1997, "swap B")...)
	fileA, fileB := filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yml")
	testenv.ReplaceFile(t, fileA, watchYAML(listA))
	testenv.ReplaceFile(t, fileB, watchYAML(listB))
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(fileA, path); err != nil {
		t.Fatal(err)
	}
	var (
		stop  atomic.Bool
		swaps atomic.Int64
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			target := fileA
			if i%2 == 1 {
				target = fileB
			}
			tmp := path + ".swap"
			_ = os.Remove(tmp)
			if err := os.Symlink(target, tmp); err != nil {
				t.Error(err)
				return
			}
			if err := os.Rename(tmp, path); err != nil { // atomic, as kubelet's swap
				t.Error(err)
				return
			}
			swaps.Add(1)
			time.Sleep(time.Millisecond)
		}
	})
	sawA, sawB := 0, 0
	const reloads = 30
	for i := 0; i < reloads; i++ {
		code, body := e.reload()
		if code != 200 {
			t.Errorf("reload %d during swaps: %d %s", i, code, body)
			continue
		}
		s := e.scrape()
		n := s.value("assuresign_watched_documents")
		hasA, hasB := s.hasDocument(listA[len(listA)-1].ID), s.hasDocument(listB[len(listB)-1].ID)
		switch {
		case n == 2000 && hasA && !hasB:
			sawA++
		case n == 2000 && hasB && !hasA:
			sawB++
		default:
			t.Errorf("reload %d: a torn list: %v documents, last of A %v, last of B %v", i, n, hasA, hasB)
		}
		if ok, why := statusesMatch(s, docs); !ok {
			t.Errorf("reload %d: kept documents lost their status: %s", i, why)
		}
	}
	stop.Store(true)
	wg.Wait()
	fig.Message = fmt.Sprintf("%d reloads during %d swaps: %d saw list A, %d list B, %d torn or failed", reloads, swaps.Load(), sawA, sawB, reloads-sawA-sawB)
}

// TestBadPersistenceFiles gives --persistence.file what is no state file: a
// FIFO (opening one blocks until a writer comes), a symlink to /dev/zero
// (read until memory runs out) and a sparse file over the size limit that
// --watch.max-documents sets. Each is a warning: the exporter starts empty,
// serves, and stops on SIGTERM.
func TestBadPersistenceFiles(t *testing.T) {
	t.Parallel()
	docs := newDocs(3, "bad-persistence")
	dir, ctxPath, sim := newAccount(t, docs)
	testenv.BuildBinary(t, testenv.ExporterPkg) // before the clock starts
	watch := filepath.Join(dir, "watch.yml")
	testenv.ReplaceFile(t, watch, watchYAML(docs))
	for _, tc := range []struct {
		name, want string
		setup      func(t *testing.T, path string)
	}{
		{"persistence file: a FIFO", "not a regular file (p", func(t *testing.T, p string) {
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"persistence file: a symlink to /dev/zero", "not a regular file (D", func(t *testing.T, p string) {
			if err := os.Symlink("/dev/zero", p); err != nil {
				t.Fatal(err)
			}
		}},
		{"persistence file: over its limit (sparse)", "more than the limit of", func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte("assuresign_exporter-state 1 crc32c=00000000 length=1\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, 64<<20); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fig := BadInputFigure{Name: tc.name}
			defer func() { fig.Rejected = !t.Failed(); Figures.AddBadInput(fig) }()
			path := filepath.Join(t.TempDir(), "state")
			tc.setup(t, path)
			start := time.Now()
			e := startExporter(t, exporterOpts{watchFile: watch, endpoint: sim.Endpoint(), contextFile: ctxPath,
				flags: map[string]string{"persistence.file": path, "watch.max-documents": "10"}})
			took := time.Since(start)
			testenv.Eventually(t, 20*time.Second, "the first round", func() (bool, string) { return statusesMatch(e.scrape(), docs) })
			m := regexp.MustCompile(`msg="cannot use the persistence file; starting empty" file=\S+ reason="?([^"\n]*)`).FindStringSubmatch(e.Output.String())
			if m == nil {
				t.Fatalf("no warning in the log:\n%s", e.Output.String())
			}
			if !strings.Contains(m[0], path) || !strings.Contains(m[1], tc.want) {
				t.Errorf("warning %q does not name %s and say %q", m[0], path, tc.want)
			}
			fig.Message = fmt.Sprintf("%s (warning; started empty, listening after %.1fs)", m[1], took.Seconds())
			if took := e.stop(); took > 5*time.Second {
				t.Errorf("SIGTERM took %s", took)
			}
			if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("the shutdown write did not replace it with a state file: %v %v", fi, err)
			}
		})
	}
}
