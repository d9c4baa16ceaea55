package deploy

import (
	"regexp"
	"strings"
	"testing"
)

// checkFlags fails the test for every flag in args that the exporter does not
// know.
func checkFlags(t *testing.T, where string, args []string) {
	t.Helper()
	known := binaryFlags(t)
	seen := 0
	for _, a := range args {
		name, _, ok := argFlag(a)
		if !ok {
			continue
		}
		seen++
		if !known[name] {
			t.Errorf("%s: the exporter has no flag --%s (see its --help)", where, name)
		}
	}
	if seen == 0 {
		t.Errorf("%s: no flags found", where)
	}
}

// dockerCmd is the exec form of the Dockerfile's CMD.
var dockerCmd = regexp.MustCompile(`(?m)^CMD\s+\[(.*)\]\s*$`)

func TestDockerfileFlags(t *testing.T) {
	m := dockerCmd.FindSubmatch(readRepoFile(t, "Dockerfile"))
	if m == nil {
		t.Fatal("Dockerfile: no CMD [...]")
	}
	var args []string
	for _, a := range strings.Split(string(m[1]), ",") {
		args = append(args, strings.Trim(strings.TrimSpace(a), `"`))
	}
	checkFlags(t, "Dockerfile CMD", args)
}
