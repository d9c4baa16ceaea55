# assuresign_exporter: build, test, fuzz and measure.
GO       ?= go
BIN      ?= assuresign_exporter
FUZZTIME ?= 1m
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w \
	-X github.com/prometheus/common/version.Version=$(VERSION) \
	-X github.com/prometheus/common/version.Revision=$(REVISION) \
	-X github.com/prometheus/common/version.Branch=main

# Fuzz targets as package:FuzzName.
FUZZ_TARGETS := \
	./assuresign:FuzzParseCheckStatusResponse \
	./assuresign:FuzzParseNotification \
	./collector:FuzzParseWatchList

.PHONY: all build test lint unit rules fuzz bench reliability demo clean

all: lint build test

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

demo:
	$(GO) run . --demo

## test: every test: lint, unit, integration and end-to-end (needs prometheus, promtool, prometheus-alertmanager, amtool).
test: lint unit rules

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 15m ./...

rules:
	examples/check.sh

## fuzz: each fuzz target for FUZZTIME.
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
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

clean:
	rm -f $(BIN)
