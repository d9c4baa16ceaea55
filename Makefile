# assuresign_exporter: build, test, lint, fuzz, measure and package.
# `make help` lists the targets.
GO       ?= go
BIN      ?= assuresign_exporter
# A count of executions, not a duration: with a duration, Go 1.26's fuzz
# coordinator can fail a clean run with "context deadline exceeded" as the
# time runs out (go.dev/issue/75804, fixed in Go 1.27).
FUZZTIME ?= 250000x
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

# Build tags: a static binary's pure-Go DNS resolver and user lookup (the
# default without cgo, said out loud). --version prints them ("tags:").
BUILD_TAGS ?= netgo,osusergo

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

# The image `make docker` builds and `make docker-publish` pushes: the
# published name and "v" + VERSION, as every manifest names it (deploy's
# tests hold them together). DOCKER_PLATFORM (linux/arm64, say) sets
# TARGETOS/TARGETARCH for the build stage.
DOCKER           ?= docker
DOCKER_BUILD     ?= $(DOCKER) build
DOCKER_IMAGE     ?= ghcr.io/assuresign-exporter/assuresign_exporter
DOCKER_TAG       ?= v$(subst +,-,$(VERSION))
DOCKER_PLATFORM  ?=
# The platforms of the published (multi-arch) image.
DOCKER_PLATFORMS ?= linux/amd64,linux/arm64

# Releases: the platforms `make crossbuild` builds and `make tarballs` packs,
# the same as .promu.yml's crossbuild.platforms (a test holds them together),
# and the files each tarball carries beside the binary (.promu.yml's
# tarball.files). Binaries go to BUILD_DIR, tarballs and sha256sums.txt to
# RELEASE_DIR, as promu does.
PLATFORMS     ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
TARBALL_FILES := LICENSE NOTICE README.md CHANGELOG.md examples
BUILD_DIR     ?= .build
RELEASE_DIR   ?= .tarballs

DOCKER_BUILD_ARGS = \
		--build-arg VERSION="$(VERSION)" \
		--build-arg REVISION="$(REVISION)" \
		--build-arg BRANCH="$(BRANCH)" \
		--build-arg BUILD_USER="$(BUILD_USER)" \
		--build-arg BUILD_DATE="$(BUILD_DATE)" \
		--build-arg CREATED="$(CREATED)"

.PHONY: all help build demo test test-short lint golangci-lint unit rules deploy fuzz bench reliability \
	crossbuild tarballs image docker docker-publish clean

all: lint build test

## help: this list.
help:
	@awk '/^## [A-Za-z0-9_-]+:/ { sub(/^## /, ""); t = $$0; sub(/:.*/, "", t); sub(/^[^:]*: */, ""); printf "  %-14s %s\n", t, $$0; next } \
		/^## / { sub(/^## /, ""); printf "  %-14s %s\n", "", $$0 }' $(firstword $(MAKEFILE_LIST))

## build: the static binary, stamped with version, revision, branch, build user and date.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(BUILD_TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN) .

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

## unit: go test -race ./..., the end-to-end and reliability tests included, then every skipped
## test and why (tools/testsummary: a missing prometheus or chromium shows without -v).
unit:
	$(GO) run ./tools/testsummary -race -count=1 -timeout 15m ./...

## rules: promtool checks and tests of the alerting and recording rules.
rules:
	examples/check.sh

## deploy: the deployment files' tests (deploy/test.sh: kustomize manifests, Helm chart, PrometheusRule, mixin,
## systemd units, flags; its own Go module, needs kubectl).
deploy:
	deploy/test.sh

## fuzz: each fuzz target (every func Fuzz* in a _test.go file) for FUZZTIME executions.
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

## crossbuild: the static binary for each of PLATFORMS, stamped as by build, into
## BUILD_DIR/OS-ARCH/ (.exe on windows).
crossbuild:
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; if [ "$$os" = windows ]; then ext=.exe; fi; \
		echo ">> building $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -tags '$(BUILD_TAGS)' -ldflags '$(LDFLAGS)' \
			-o "$(BUILD_DIR)/$$os-$$arch/$(BIN)$$ext" .; \
	done

## tarballs: crossbuild, then one BIN-VERSION.OS-ARCH.tar.gz per platform (promu's layout: a
## directory of that name with the binary and TARBALL_FILES) and their sha256sums.txt, in RELEASE_DIR.
tarballs: crossbuild
	@set -e; mkdir -p "$(RELEASE_DIR)"; \
	for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; name="$(BIN)-$(VERSION).$$os-$$arch"; \
		stage=$$(mktemp -d); mkdir "$$stage/$$name"; \
		cp "$(BUILD_DIR)/$$os-$$arch/"$(BIN)* "$$stage/$$name/"; \
		cp -R $(TARBALL_FILES) "$$stage/$$name/"; \
		echo ">> packing $(RELEASE_DIR)/$$name.tar.gz"; \
		tar -C "$$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$(BUILD_EPOCH)" -cf - "$$name" | \
			gzip -9n > "$(RELEASE_DIR)/$$name.tar.gz"; \
		rm -rf "$$stage"; \
	done; \
	cd "$(RELEASE_DIR)" && rm -f sha256sums.txt && \
		{ sha256sum *.tar.gz 2>/dev/null || shasum -a 256 *.tar.gz; } > sha256sums.txt.tmp && mv sha256sums.txt.tmp sha256sums.txt

## image: print the image reference the docker targets build, DOCKER_IMAGE:DOCKER_TAG.
image:
	@echo "$(DOCKER_IMAGE):$(DOCKER_TAG)"

## docker: the image DOCKER_IMAGE:DOCKER_TAG (ghcr.io/assuresign-exporter/assuresign_exporter:vVERSION)
## with this build information; DOCKER_PLATFORM=linux/arm64 (say) to cross-build.
docker:
	$(DOCKER_BUILD) \
		$(if $(DOCKER_PLATFORM),--platform "$(DOCKER_PLATFORM)") \
		$(DOCKER_BUILD_ARGS) \
		-t "$(DOCKER_IMAGE):$(DOCKER_TAG)" .

## docker-publish: build the image for DOCKER_PLATFORMS at once with docker buildx, then push
## it as DOCKER_IMAGE:DOCKER_TAG and :latest (the release workflow runs it on a v* tag).
docker-publish:
	$(DOCKER) buildx build --platform "$(DOCKER_PLATFORMS)" --push \
		$(DOCKER_BUILD_ARGS) \
		-t "$(DOCKER_IMAGE):$(DOCKER_TAG)" -t "$(DOCKER_IMAGE):latest" .

## clean: remove the built binaries and release tarballs (not .bin/).
clean:
	rm -rf $(BIN) $(BUILD_DIR) $(RELEASE_DIR)
