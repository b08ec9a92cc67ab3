# EcoAI developer commands. `make run` and `make test` bootstrap first; the bootstrap is incremental
# (stamp files), so a second run reinstalls nothing.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= python3.11
SOLC_VERSION := $(shell sed -n 's/^  version: *//p' ape-config.yaml | head -n1)
# The offline solc shim lives inside this checkout's venv, never in ~/.solcx: each clone has its own, and
# py-solc-x / ape-solidity find it through SOLCX_BINARY_PATH, which every target below inherits.
SOLCX_DIR := $(CURDIR)/$(VENV)/solcx
SOLC_SHIM := $(SOLCX_DIR)/solc-v$(SOLC_VERSION)
export SOLCX_BINARY_PATH := $(SOLCX_DIR)

# anvil, circom2 and snarkjs come from node_modules; ecoai and ape from the venv.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help bootstrap run test bench faults faults-quick image clean
.DEFAULT_GOAL := help

help:
	@echo "make run        bootstrap, then start the local stack (ecoai up)"
	@echo "make test       bootstrap, then run the whole pytest suite (contracts on anvil, browser, ...)"
	@echo "make bench      bootstrap, then run every benchmark in bench/ (prints figures)"
	@echo "make bootstrap  install .venv, node_modules and the offline solc shim when missing or stale"
	@echo "make faults     bootstrap, then the full fault campaign (fuzzed submissions, kill -9, RPC faults, hostile HTTP)"
	@echo "make image      build the container image (docker or podman; see docs/kubernetes.md)"
	@echo "make clean      remove build outputs and runtime state (.build, .ecoai); keeps installs"

bootstrap: $(VENV)/.installed node_modules/.installed $(SOLC_SHIM)

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The shim finds scripts/solc_cli.js relative to itself (.venv/solcx/ -> checkout), so a moved or copied
# checkout keeps working without a rewrite.
$(SOLC_SHIM): $(VENV)/.installed node_modules/.installed
	mkdir -p '$(SOLCX_DIR)'
	printf '#!/bin/sh\n# Installed by EcoAI make bootstrap: offline solc over npm solc-js.\nexec node "$$(dirname "$$0")/../../scripts/solc_cli.js" "$$@"\n' > '$@'
	chmod +x '$@'

run: bootstrap
	$(VENV)/bin/ecoai up

test: bootstrap
	$(PY) -m pytest $(PYTEST_ARGS)

bench: bootstrap
	@set -e; for f in bench/*.py; do echo "== $$f"; $(PY) $$f; done

faults: bootstrap
	$(PY) bench/faults.py

faults-quick: bootstrap
	$(PY) bench/faults.py --quick

IMAGE ?= ecoai:0.1.0
# Needs a container builder; machines without one (CI, this project's dev boxes) get a clear message, exit 1.
image:
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then docker build -t $(IMAGE) .; \
	elif command -v podman >/dev/null 2>&1; then podman build -t $(IMAGE) .; \
	else echo "make image: no container builder (a running docker daemon or podman) found; see docs/kubernetes.md" >&2; exit 1; fi

clean:
	rm -rf .build .ecoai .pytest_cache
