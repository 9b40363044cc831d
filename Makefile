# Warden: `make run` shows it working, `make test` runs every test. Both install what is
# missing first, so a fresh Debian machine needs nothing else.
SHELL := /bin/bash
.DEFAULT_GOAL := help

SWIFT        ?= swift
CONFIG       ?= release
BUILD_DIR    := .build/$(CONFIG)
WARDEN       := $(BUILD_DIR)/warden
SHARED       ?= $(abspath ../shared)
CONFORMANCE  := $(SHARED)/rego-conformance
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages Warden builds and runs against.
APT_PACKAGES := libgrpc-dev libprotobuf-dev protobuf-compiler libssl-dev libpq-dev \
                postgresql zlib1g-dev nghttp2-client wrk python3-venv

.PHONY: help deps build debug test test-unit test-policies conformance conformance-update run bench bench-rego proto clean

help:
	@echo "make run    - install, build, start Warden with the example policies and show it working"
	@echo "make test   - install, build and run every test"
	@echo "make bench  - benchmarks (ratios against baselines measured in the same run)"
	@echo "make deps | build | conformance | proto | clean"

## deps: install the Debian packages that are missing (apt-get, as root or with sudo).
deps: .deps-stamp
.deps-stamp: Makefile
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@touch $@

build: deps
	$(SWIFT) build -c $(CONFIG)

debug: deps
	$(SWIFT) build

## test: unit tests, the example policies' own tests, and the Rego conformance gate.
test: build test-unit test-policies conformance

test-unit: deps
	$(SWIFT) test

test-policies: build
	$(WARDEN) test -v policies

## conformance: OPA's conformance suite; fails if a case in Tests/conformance/passing.txt regresses.
conformance: build
	python3 scripts/conformance-gate.py --engine $(WARDEN) --suite $(CONFORMANCE) \
	    --passing Tests/conformance/passing.txt

## conformance-update: record the cases that pass now as the new floor.
conformance-update: build
	python3 scripts/conformance-gate.py --engine $(WARDEN) --suite $(CONFORMANCE) \
	    --passing Tests/conformance/passing.txt --update

clean:
	rm -rf .build .deps-stamp
