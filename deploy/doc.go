// Package deploy holds no code: its tests check the deployment files of
// assuresign_exporter (deploy/kubernetes, examples/systemd, mixin) against
// each other, against examples/ and against the exporter's own flags.
//
// It is a module of its own so that the exporter's go.mod does not carry the
// Kubernetes, prometheus-operator and jsonnet dependencies. Run ./test.sh.
package deploy
