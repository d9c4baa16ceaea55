package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSummarize reads a recorded `go test -json ./...` of four packages: a
// passes with two skips (one a subtest), b fails one test and skips one, c
// fails to build, d has no tests.
func TestSummarize(t *testing.T) {
	f, err := os.Open("testdata/go-test.json")
	require.NoError(t, err)
	defer f.Close()
	var out strings.Builder
	summarize(f, &out)
	assert.Equal(t, "    b_test.go:5: wrong answer\n"+
		"--- FAIL: TestFails (0.00s)\n"+
		"FAIL\texample.com/rec/b\t0.003s\n"+
		"ok  \texample.com/rec/a\t0.007s\n"+
		"# example.com/rec/c [example.com/rec/c.test]\n"+
		"c/c_test.go:5:28: undefined: undefined\n"+
		"FAIL\texample.com/rec/c [build failed]\n"+
		"?   \texample.com/rec/d\t[no test files]\n"+
		"\n3 tests skipped:\n"+
		"SKIP example.com/rec/a TestNeedsPrometheus: a_test.go:8: prometheus not found on PATH: install it (Debian: apt-get install prometheus)\n"+
		"SKIP example.com/rec/a TestSub/with_chromium: a_test.go:12: chromium not found\n"+
		"SKIP example.com/rec/b TestSkipsToo: b_test.go:7: looking for amtool\n",
		out.String())
}

// A test that never ends (here go test's -timeout) sends its output and no
// verdict: the output is printed when its package fails, not lost.
func TestSummarizeTimeout(t *testing.T) {
	var out strings.Builder
	summarize(strings.NewReader(`{"Action":"run","Package":"p","Test":"TestHangs"}
{"Action":"output","Package":"p","Test":"TestHangs","Output":"panic: test timed out after 2s\n"}
{"Action":"output","Package":"p","Test":"TestHangs","Output":"\trunning tests:\n\t\tTestHangs (2s)\n"}
{"Action":"output","Package":"p","Output":"FAIL\tp\t2.006s\n"}
{"Action":"fail","Package":"p","Elapsed":2.006}
`), &out)
	assert.Equal(t, "FAIL\tp\t2.006s\npanic: test timed out after 2s\n\trunning tests:\n\t\tTestHangs (2s)\n", out.String())
}

func TestSummarizeNothingSkipped(t *testing.T) {
	var out strings.Builder
	summarize(strings.NewReader(`{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}`+"\nnot json\n"), &out)
	assert.Equal(t, "ok  \tp\t0.1s\nnot json\n", out.String(), "no summary when nothing was skipped")
}

// TestMakeUnitSummarizes: `make unit` (and so `make test`) runs the tests
// through testsummary.
func TestMakeUnitSummarizes(t *testing.T) {
	out, err := exec.Command("make", "-s", "-n", "-C", "../..", "unit").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Regexp(t, `(?m)^go run \./tools/testsummary .*\./\.\.\.$`, string(out))
}
