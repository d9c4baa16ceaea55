// Package deploy holds no code: its tests check the deployment files of
// assuresign_exporter (deploy/kubernetes, deploy/helm, examples/systemd,
// mixin) against each other, against examples/ and against the exporter's own
// flags. The Helm chart is linted and rendered with the Helm Go SDK.
//
// It is a module of its own so that the exporter's go.mod does not carry the
// Kubernetes, Helm, prometheus-operator and jsonnet dependencies. Run ./test.sh.
package deploy
