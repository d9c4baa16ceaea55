// Package e2e holds end-to-end tests that run the exporter and the AssureSign
// simulator binaries together with a real Prometheus and Alertmanager, and
// check the example rules, alerts and dashboard in examples/ against them.
//
// The tests need prometheus, promtool, prometheus-alertmanager and amtool on
// PATH (Debian: apt-get install prometheus prometheus-alertmanager). Without
// them they are skipped, unless CI=true, where that is a failure.
package e2e
