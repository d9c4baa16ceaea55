#!/usr/bin/env bash
# Tests the deployment files: the Kubernetes kustomizations (needs kubectl;
# without it those tests skip, except under CI=true), the Helm chart (linted
# and rendered with the Helm Go SDK, no helm binary needed), the systemd units
# (systemd-analyze verify when present), the mixin, and the flags they use
# against a freshly built exporter. A Go module of its own (deploy/go.mod).
# Extra arguments go to `go test`, e.g. deploy/test.sh -run TestKustomizations -v
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exec go test -count=1 ./... "$@"
