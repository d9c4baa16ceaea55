# assuresign_exporter: build, test, lint, fuzz, measure and package.
# `make help` lists the targets.
GO       ?= go
BIN      ?= assuresign_exporter
FUZZTIME ?= 1m
PKG      := github.com/assuresign-exporter/assuresign_exporter

# Build information, as promu stamps it (see .promu.yml). Each may be given on
# the command line or in the environment (the Dockerfile does: its context
# has no .git); an empty value counts as unset.
ifeq ($(strip $(VERSION)),)
override VERSION := $(shell cat VERSION 2>/dev/null || git describe --tags --always --dirty 2>/dev/null || echo unknown)
endif
ifeq ($(strip $(REVISION)),)
override REVISION := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
endif
ifeq ($(strip $(BRANCH)),)
override BRANCH := $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
endif
ifeq ($(strip $(BUILD_USER)),)
override BUILD_USER := $(or $(USER),$(shell id -un 2>/dev/null),unknown)@$(or $(shell hostname 2>/dev/null),$(shell uname -n 2>/dev/null),unknown)
endif
# SOURCE_DATE_EPOCH (reproducible builds) fixes the build date when set.
BUILD_EPOCH := $(or $(SOURCE_DATE_EPOCH),$(shell date -u +%s))
epoch_date   = $(shell date -u -d "@$(BUILD_EPOCH)" +$(1) 2>/dev/null || date -u -r "$(BUILD_EPOCH)" +$(1))
ifeq ($(strip $(BUILD_DATE)),)
override BUILD_DATE := $(call epoch_date,%Y%m%d-%H:%M:%S)
endif
# The same instant in RFC 3339, for the image's org.opencontainers.image.created.
ifeq ($(strip $(CREATED)),)
override CREATED := $(call epoch_date,%Y-%m-%dT%H:%M:%SZ)
endif

VERSION_PKG := github.com/prometheus/common/version
LDFLAGS := -s -w \
	-X $(VERSION_PKG).Version=$(VERSION) \
	-X $(VERSION_PKG).Revision=$(REVISION) \
	-X $(VERSION_PKG).Branch=$(BRANCH) \
	-X $(VERSION_PKG).BuildUser=$(BUILD_USER) \
	-X $(VERSION_PKG).BuildDate=$(BUILD_DATE)

# golangci-lint, pinned, installed into .bin/ when missing or of another version.
LOCALBIN              := $(CURDIR)/.bin
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT         := $(LOCALBIN)/golangci-lint

# The image `make docker` builds. DOCKER_PLATFORM (linux/arm64, say) sets
# TARGETOS/TARGETARCH for the build stage; DOCKER_BUILD may be
# "docker buildx build" with --push for several platforms at once.
DOCKER          ?= docker
DOCKER_BUILD    ?= $(DOCKER) build
DOCKER_IMAGE    ?= assuresign_exporter
DOCKER_TAG      ?= $(subst +,-,$(VERSION))
DOCKER_PLATFORM ?=

.PHONY: all help build demo test test-short lint golangci-lint unit rules deploy fuzz bench reliability docker clean

all: lint build test

## help: this list.
help:
	@awk '/^## [A-Za-z0-9_-]+:/ { sub(/^## /, ""); t = $$0; sub(/:.*/, "", t); sub(/^[^:]*: */, ""); printf "  %-14s %s\n", t, $$0; next } \
		/^## / { sub(/^## /, ""); printf "  %-14s %s\n", "", $$0 }' $(firstword $(MAKEFILE_LIST))

## build: the static binary, stamped with version, revision, branch, build user and date.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

## demo: the exporter against the built-in simulator (see README, "Try it").
demo:
	$(GO) run . --demo

## test: every test: lint, unit, integration and end-to-end (needs prometheus, promtool,
## prometheus-alertmanager, amtool).
test: lint unit rules deploy

## test-short: the unit tests only (go test -short), in well under a minute.
test-short:
	$(GO) test -race -short -count=1 ./...

## lint: gofmt, go vet and golangci-lint (GOLANGCI_LINT_VERSION, installed into .bin/).
lint: golangci-lint
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.bin/*'))"; \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOLANGCI_LINT) run ./...

## golangci-lint: install golangci-lint GOLANGCI_LINT_VERSION into .bin/ unless it is there.
golangci-lint:
	@if ! "$(GOLANGCI_LINT)" version 2>/dev/null | grep -q "has version $(GOLANGCI_LINT_VERSION:v%=%) "; then \
		echo "installing golangci-lint $(GOLANGCI_LINT_VERSION) into $(LOCALBIN) (a few minutes)"; \
		GOBIN="$(LOCALBIN)" $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION); \
	fi

## unit: go test -race ./..., the end-to-end and reliability tests included.
unit:
	$(GO) test -race -count=1 -timeout 15m ./...

## rules: promtool checks and tests of the alerting and recording rules.
rules:
	examples/check.sh

## deploy: the deployment files' tests (deploy/test.sh: kustomize manifests, Helm chart, PrometheusRule, mixin,
## systemd units, flags; its own Go module, needs kubectl).
deploy:
	deploy/test.sh

## fuzz: each fuzz target (every func Fuzz* in a _test.go file) for FUZZTIME.
fuzz:
	@set -e; for t in $$(grep -r --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*' . | \
			sed -E 's|^(.*)/[^/]*:func (Fuzz.*)$$|\1:\2|' | sort); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME); \
	done

## bench: the Go benchmarks, then the load driver (tools/perf; see docs/performance.md).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./tools/perf

## reliability: the reliability suite (faults, bad input, HTTP abuse, load, secrets) against the
## real binaries, verbose, then its figures table again. See docs/reliability.md.
reliability:
	@log=$$(mktemp); \
	{ $(GO) test -count=1 -v -timeout 10m -run . ./reliability/ 2>&1; echo $$? > $$log.rc; } | tee $$log; \
	rc=$$(cat $$log.rc); echo; \
	sed -n '/^== reliability figures/,/^== end of reliability figures/p' $$log; \
	rm -f $$log $$log.rc; exit $$rc

## docker: the image DOCKER_IMAGE:DOCKER_TAG (assuresign_exporter:VERSION) with this build
## information; DOCKER_PLATFORM=linux/arm64 (say) to cross-build.
docker:
	$(DOCKER_BUILD) \
		$(if $(DOCKER_PLATFORM),--platform "$(DOCKER_PLATFORM)") \
		--build-arg VERSION="$(VERSION)" \
		--build-arg REVISION="$(REVISION)" \
		--build-arg BRANCH="$(BRANCH)" \
		--build-arg BUILD_USER="$(BUILD_USER)" \
		--build-arg BUILD_DATE="$(BUILD_DATE)" \
		--build-arg CREATED="$(CREATED)" \
		-t "$(DOCKER_IMAGE):$(DOCKER_TAG)" .

## clean: remove the built binary (not .bin/).
clean:
	rm -f $(BIN)
