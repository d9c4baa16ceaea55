package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var updateDemoAlerts = flag.Bool("update-demo-alerts", false, "rewrite examples/demo/alerts.yml from examples/alerts.yml instead of comparing them")

// demoAlertsFor are the `for:` of the alerts that the demo's documents set
// off, cut so that they fire within minutes of starting the demo instead of
// after 15 minutes (Stuck, Silent), 30 (Exceptions) or an hour
// (CannotBeChecked).
var demoAlertsFor = map[string]string{
	"AssureSignDocumentStuck":           "1m",
	"AssureSignDocumentExceptions":      "1m",
	"AssureSignDocumentCannotBeChecked": "1m",
	"AssureSignDocumentTRAKSilent":      "1m",
}

// demoAlertsWindow are the windows written in alerts' expressions, cut as
// their `for:`: Silent waits 2 minutes without a notification, not 12 hours,
// so that stopping the demo simulator's notifications shows it.
var demoAlertsWindow = map[string][2]string{
	"AssureSignDocumentTRAKSilent": {"> 12 * 3600", "> 2 * 60 # the demo's; see examples/alerts.yml"},
}

const demoAlertsFile = "examples/demo/alerts.yml"

// demoAlerts is examples/alerts.yml with demoAlertsFor's `for:` lines and
// demoAlertsWindow's windows changed, and nothing else.
func demoAlerts(src string) (string, error) {
	alert := regexp.MustCompile(`^      - alert:\s*(\S+)\s*$`)
	forLine := regexp.MustCompile(`^        for:\s*\S+\s*$`)
	lines := strings.Split(src, "\n")
	name, cut, windows := "", 0, 0
	for i, l := range lines {
		if m := alert.FindStringSubmatch(l); m != nil {
			name = m[1]
			continue
		}
		if d, ok := demoAlertsFor[name]; ok && forLine.MatchString(l) {
			lines[i] = "        for: " + d + " # the demo's; see examples/alerts.yml"
			cut++
		}
		if w, ok := demoAlertsWindow[name]; ok && strings.HasSuffix(l, w[0]) {
			lines[i] = strings.TrimSuffix(l, w[0]) + w[1]
			windows++
		}
	}
	if cut != len(demoAlertsFor) || windows != len(demoAlertsWindow) {
		return "", fmt.Errorf("changed %d `for:` lines and %d windows, want one for each of %d and %d alerts: examples/alerts.yml changed shape",
			cut, windows, len(demoAlertsFor), len(demoAlertsWindow))
	}
	return "# GENERATED from examples/alerts.yml for the demo (`go run . --demo`): do not edit.\n" +
		"# The same rules, but the alerts the demo sets off wait 1m, not 15m, 30m\n" +
		"# or 1h, before they fire, and Silent's window is 2m, not 12h.\n" +
		"# examples/demo/prometheus.yml loads it.\n" +
		"# Regenerate with: go test -run TestDemoAlerts -update-demo-alerts .\n" +
		strings.Join(lines, "\n"), nil
}

// TestDemoAlerts holds examples/demo/alerts.yml to examples/alerts.yml: only
// the demo's alerts' `for:` differ. examples/check.sh tests it with promtool.
func TestDemoAlerts(t *testing.T) {
	src := readDoc(t, filepath.Join("examples", "alerts.yml"))
	want, err := demoAlerts(src)
	require.NoError(t, err)
	if *updateDemoAlerts {
		require.NoError(t, os.WriteFile(demoAlertsFile, []byte(want), 0o644))
	}
	got, err := os.ReadFile(demoAlertsFile)
	require.NoError(t, err)
	assert.Equal(t, want, string(got), "%s drifted from examples/alerts.yml; run: go test -run TestDemoAlerts -update-demo-alerts .", demoAlertsFile)

	var changed []string
	before, after := strings.Split(src, "\n"), strings.Split(want, "\n")[5:]
	require.Len(t, after, len(before))
	for i := range before {
		if before[i] != after[i] {
			changed = append(changed, strings.TrimSpace(before[i])+" -> "+strings.TrimSpace(after[i]))
		}
	}
	assert.Equal(t, []string{
		"for: 15m -> for: 1m # the demo's; see examples/alerts.yml", // Stuck
		"for: 30m -> for: 1m # the demo's; see examples/alerts.yml", // Exceptions
		"for: 1h -> for: 1m # the demo's; see examples/alerts.yml",  // CannotBeChecked
		"time() - assuresign_webhook_last_notification_timestamp_seconds > 12 * 3600 -> " + // Silent
			"time() - assuresign_webhook_last_notification_timestamp_seconds > 2 * 60 # the demo's; see examples/alerts.yml",
		"for: 15m -> for: 1m # the demo's; see examples/alerts.yml", // Silent
	}, changed)
}
