// Command testsummary runs `go test -json` with the arguments it is given and
// prints what plain `go test` would (each package's result line, the output
// of failing tests and failed builds), then, at the end, every skipped test
// and why: without -v, a machine without prometheus, amtool or chromium would
// otherwise look fully tested. It exits as go test did.
//
//	go run ./tools/testsummary -race -count=1 ./...
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
)

func main() {
	cmd := exec.Command("go", append([]string{"test", "-json"}, os.Args[1:]...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	summarize(out, os.Stdout)
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// summarize copies go test -json's events from r to w as plain go test would
// print them, and then lists the skipped tests, "SKIP package Test: reason".
// A line that is not an event is copied as it is.
func summarize(r io.Reader, w io.Writer) {
	type key struct{ pkg, test string }
	output := map[key][]string{} // a running test's output so far
	var skips []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintln(w, sc.Text())
			continue
		}
		k := key{e.Package, e.Test}
		switch {
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output)
		case e.Test == "" && e.Action == "fail":
			// Tests that never ended (a timeout's panic, a crash): their
			// output is the only word of what happened.
			for _, k := range slices.SortedFunc(maps.Keys(output), func(a, b key) int { return strings.Compare(a.test, b.test) }) {
				if k.pkg == e.Package {
					fmt.Fprint(w, strings.Join(output[k], ""))
					delete(output, k)
				}
			}
		case e.Test == "" && e.Action == "output":
			if e.Output != "PASS\n" && e.Output != "FAIL\n" { // go test prints these with -v only
				fmt.Fprint(w, e.Output)
			}
		case e.Test == "":
		case e.Action == "output":
			if !strings.HasPrefix(e.Output, "=== ") { // -v's RUN, PAUSE, CONT, NAME lines
				output[k] = append(output[k], e.Output)
			}
		case e.Action == "fail":
			fmt.Fprint(w, strings.Join(output[k], ""))
			delete(output, k)
		case e.Action == "skip":
			skips = append(skips, fmt.Sprintf("SKIP %s %s: %s", e.Package, e.Test, skipReason(output[k])))
			delete(output, k)
		case e.Action == "pass":
			delete(output, k)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(w, "testsummary: reading go test's output:", err)
	}
	if len(skips) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%d tests skipped:\n", len(skips))
	for _, s := range skips {
		fmt.Fprintln(w, s)
	}
}

// skipReason is what a skipped test logged, without go test's own lines.
func skipReason(lines []string) string {
	var reason []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "--- SKIP: ") {
			continue
		}
		reason = append(reason, l)
	}
	if len(reason) == 0 {
		return "no reason given"
	}
	return strings.Join(reason, "; ")
}
