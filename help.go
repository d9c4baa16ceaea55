package main

import (
	"strings"

	"github.com/alecthomas/kingpin/v2"
)

// appSummary and appDescription say what the program is, in --help and in
// the man page (--help-man): its NAME line and its DESCRIPTION.
const (
	appSummary     = "A Prometheus exporter and alerting sidecar for AssureSign e-signature documents."
	appDescription = appSummary + " It asks AssureSign about the documents (DocumentNOW CheckStatus) and envelopes (ListEnvelopeDocuments) that the watch files list, " +
		"in batches and in a slow background round, and serves their statuses from its cache on /metrics, with a landing page on /; " +
		"a DocumentTRAK notification has a document checked at once. With --check it asks once, prints a table and exits; " +
		"with --demo it runs against a built-in simulator. Documentation: https://github.com/assuresign-exporter/assuresign_exporter"
)

func init() {
	kingpin.CommandLine.Help = appDescription
	// kingpin's NAME section is the bare name; man(7) wants "name \- summary".
	kingpin.ManPageTemplate = strings.Replace(kingpin.ManPageTemplate,
		".SH \"NAME\"\n{{.App.Name}}\n", ".SH \"NAME\"\n{{.App.Name}} \\- "+appSummary+"\n", 1)
}
