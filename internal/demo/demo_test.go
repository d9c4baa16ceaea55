package demo

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDemoCheckProgram(t *testing.T) {
	for exe, want := range map[string]string{
		"/tmp/go-build2159638305/b001/exe/assuresign_exporter":   "go run .",
		"/home/me/.cache/go-build/4f/4f0c-d/assuresign_exporter": "go run .",
		"/usr/local/bin/assuresign_exporter":                     "/usr/local/bin/assuresign_exporter",
		"/home/me/go-builds/assuresign_exporter":                 "/home/me/go-builds/assuresign_exporter",
		"/opt/my exporter/assuresign_exporter":                   "'/opt/my exporter/assuresign_exporter'",
		"/home/me/src/assuresign_exporter/assuresign_exporter":   "/home/me/src/assuresign_exporter/assuresign_exporter",
	} {
		assert.Equal(t, want, checkProgram(exe), exe)
	}
}
