# registry-checks: `make` builds, `make test` runs everything (unit + integration
# against the local stack it brings up), `make demo` shows the suite working.
GO       ?= go
MODULE   := github.com/registry-checks/registry-checks
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X $(MODULE)/lib/version.Version=$(VERSION)
STACK    := test/stack/stack
# Every folder under checks/ and remediate/ with a main.go is one binary.
CMDS     := $(patsubst %/main.go,%,$(wildcard checks/*/main.go remediate/*/main.go))
BINS     := $(addprefix build/,$(notdir $(CMDS)))
GOTEST_TIMEOUT ?= 20m

.PHONY: all build test test-short test-integration lint bench demo package clean stack-up stack-down fuzz rehearse

all: build

build:
	@mkdir -p build
	@for d in $(CMDS); do \
		echo "go build $$d -> build/$$(basename $$d)"; \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o build/$$(basename $$d) ./$$d || exit 1; \
	done

# Unit tests only: no servers, well under a minute.
test-short:
	$(GO) test -short -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The whole suite: lint, build, unit tests, then the local stack (installed
# and started if it is not already up) and every integration test against it.
# The stack is brought down again only if this run started it. Packages run
# one at a time (-p 1): integration tests break and restore the shared stack
# (stop a node, lose a tarball), which must not happen under another test.
test: lint build
	@started=0; \
	if ! $(STACK) status >/dev/null 2>&1; then started=1; $(STACK) up || { $(STACK) down; exit 1; }; fi; \
	$(STACK) status; \
	REGISTRY_CHECKS_REQUIRE_STACK=1 $(GO) test -p 1 -parallel 4 -count=1 -timeout $(GOTEST_TIMEOUT) ./...; rc=$$?; \
	if [ $$started = 1 ]; then $(STACK) down; fi; \
	exit $$rc

# The promotion drill (docs/promote_couch_replica.md): on the local stack, a
# writer puts documents into the primary while promote_couch_replica
# --rehearse promotes replica1, rewires replica2, verifies and rolls back;
# prints the time of each step and documents written against present on
# every node. `make test` runs it too (TestRehearseIntegration on PouchDB Server, and the
# registry drill once); this target runs it alone, verbosely, with issue
# 22's 20 rehearsals of the registry drill in a row and an --execute and
# back (REGISTRY_CHECKS_REHEARSALS=N for another count).
rehearse: build
	@started=0; \
	if ! $(STACK) status >/dev/null 2>&1; then started=1; $(STACK) up || { $(STACK) down; exit 1; }; fi; \
	REGISTRY_CHECKS_REQUIRE_STACK=1 REGISTRY_CHECKS_REHEARSALS=$${REGISTRY_CHECKS_REHEARSALS:-20} $(GO) test -count=1 -v -timeout 60m \
		-run '^(TestRehearseIntegration|TestRehearseRegistryIntegration|TestExecuteAndBackRegistryIntegration)$$' ./remediate/promote_couch_replica/; rc=$$?; \
	if [ $$started = 1 ]; then $(STACK) down; fi; \
	exit $$rc

stack-up:
	$(STACK) up

stack-down:
	$(STACK) down

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseRange -fuzztime 60s ./lib/nagios
	$(GO) test -run '^$$' -fuzz FuzzRedactThenCut -fuzztime 30s ./lib/plugin

# Go benchmarks of the hot paths, then (when the local stack is up) the
# whole-process comparison with monitoring-plugins, whose table replaces the
# generated part of BENCHMARKS.md. BENCH_FLAGS go to bench/compare
# (e.g. BENCH_FLAGS='-runs 41').
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	@if $(STACK) status >/dev/null 2>&1; then \
		$(GO) run ./bench/compare -update BENCHMARKS.md $(BENCH_FLAGS); \
	else \
		echo "bench: the local stack is not up ($(STACK) status fails): whole-process comparison skipped; run $(STACK) up, then make bench"; \
		$(GO) run ./bench/compare -hostile-only -update BENCHMARKS.md; \
	fi

demo: build
	test/stack/demo

# .deb and .rpm in dist/, built by nfpm as a Go library (packaging/mkpkg):
# binaries, man pages, the NRPE conffile, Nagios/Icinga 2/Telegraf/Grafana files.
package: build
	@rm -f dist/*.deb dist/*.rpm # only this version's packages: apt-get install ./dist/*.deb
	$(GO) run ./packaging/mkpkg -bin build -out dist -version '$(VERSION)'

clean:
	rm -rf build dist
