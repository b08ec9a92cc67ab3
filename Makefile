# EcoAI developer commands. `make run` and `make test` bootstrap first; the bootstrap is incremental
# (stamp files), so a second run reinstalls nothing.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= python3.11
SOLC_VERSION := $(shell sed -n 's/^  version: *//p' ape-config.yaml | head -n1)
SOLCX_DIR := $(or $(SOLCX_BINARY_PATH),$(HOME)/.solcx)
SOLC_SHIM := $(SOLCX_DIR)/solc-v$(SOLC_VERSION)
# The shim embeds this checkout's path: rewrite it when the checkout moved.
SOLC_SHIM_STALE := $(shell grep -qsF '"$(CURDIR)/scripts/solc_cli.js"' '$(SOLC_SHIM)' || echo FORCE)

# anvil, circom2 and snarkjs come from node_modules; ecoai and ape from the venv.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: bootstrap run test bench clean FORCE
.DEFAULT_GOAL := help

help:
	@echo "make run        bootstrap, then start the local stack (ecoai up)"
	@echo "make test       bootstrap, then run the whole pytest suite (contracts on anvil, browser, ...)"
	@echo "make bench      bootstrap, then run every benchmark in bench/ (prints figures)"
	@echo "make bootstrap  install .venv, node_modules and the offline solc shim when missing or stale"
	@echo "make clean      remove build outputs and runtime state (.build, .ecoai); keeps installs"

bootstrap: $(VENV)/.installed node_modules/.installed $(SOLC_SHIM)

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(SOLC_SHIM): scripts/solc_cli.js node_modules/.installed $(SOLC_SHIM_STALE)
	mkdir -p '$(SOLCX_DIR)'
	printf '#!/bin/sh\n# Installed by EcoAI make bootstrap: offline solc over npm solc-js.\nexec node "%s/scripts/solc_cli.js" "$$@"\n' '$(CURDIR)' > '$@'
	chmod +x '$@'

FORCE:

run: bootstrap
	$(VENV)/bin/ecoai up

test: bootstrap
	$(PY) -m pytest $(PYTEST_ARGS)

bench: bootstrap
	@set -e; for f in bench/*.py; do echo "== $$f"; $(PY) $$f; done

clean:
	rm -rf .build .ecoai .pytest_cache
