package main

import (
	"runtime/debug"
	"slices"

	"github.com/prometheus/common/version"
)

// A build without `make build`'s -ldflags (go run, go install, go build)
// reports the module's version, as Go stamps it, instead of nothing.
func init() {
	if version.Version == "" {
		version.Version = moduleVersion(debug.ReadBuildInfo())
	}
}

// moduleVersion is the main module's version from the build information: a
// tag or pseudo-version when Go could stamp one, else "devel".
func moduleVersion(info *debug.BuildInfo, ok bool) string {
	if !ok || info.Main.Version == "" || info.Main.Version == "(devel)" {
		return "devel"
	}
	return info.Main.Version
}

// versionText is what kingpin shows as the version: all of version.Print for
// --version, but the version alone for --help-man, whose header line (.TH)
// takes one word there.
func versionText(args []string) string {
	if slices.Contains(args, "--help-man") {
		return version.Version
	}
	return version.Print(exporterName)
}
