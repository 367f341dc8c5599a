# slipway: `make demo` and `make test` set everything up on a fresh machine (python3 >= 3.11 on PATH).
SHELL := /bin/bash
export SAM_CLI_TELEMETRY := 0
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKOV_STAMP := .venv-checkov/.installed
# sam build needs a python3.13 for the Lambda runtime; pyenv provides one on this machine and CI.
SAM_PYENV ?= 3.11.7:3.12.1:3.13.0

.PHONY: help setup test test-py313 lint typecheck validate statelint checkov pytest build publish-config demo bench local-up clean config-reference

help:
	@echo "make demo   - run a release end to end on the embedded local cloud (moto)"
	@echo "make config-reference - regenerate config/schema.json and docs/configuration.md"
	@echo "make test   - every check: ruff, mypy, sam validate --lint, cfn-lint, statelint, pytest with coverage"
	@echo "make bench  - the benchmark (bench/results.json)"
	@echo "make build  - sam build (python3.13, arm64)"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

test: setup lint typecheck validate statelint checkov pytest test-py313

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

validate: setup
	$(BIN)/sam validate --lint --template template.yaml --region eu-west-2
	$(BIN)/cfn-lint template.yaml

# checkov pins its own dependencies (some clash with the project's), so it lives in a virtualenv of its own.
$(CHECKOV_STAMP):
	test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --upgrade pip
	.venv-checkov/bin/python -m pip install --quiet 'checkov==3.3.30'
	touch $(CHECKOV_STAMP)

checkov: $(CHECKOV_STAMP)
	.venv-checkov/bin/checkov --config-file .checkov.yaml -f template.yaml

statelint: setup
	$(BIN)/python -m slipway_dev.cli lint-asl

pytest: setup
	$(BIN)/pytest --cov --cov-report=term --cov-fail-under=90

# Lambda runs python3.13: the unit and integration tests run there too when a python3.13 can be found
# (pyenv's on this machine and CI), in a venv of its own with the runtime and test dependencies only.
# (a pyenv shim answers `command -v` even when it cannot run, so ask for a version instead)
PY313 ?= $(shell for p in $$(ls -d $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13 2>/dev/null) python3.13; do \
  $$p -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null && { echo $$p; break; }; done)
PY313_STAMP := .venv-py313/.installed

$(PY313_STAMP): pyproject.toml
	test -x .venv-py313/bin/python || $(PY313) -m venv .venv-py313
	.venv-py313/bin/python -m pip install --quiet --upgrade pip
	.venv-py313/bin/python -m pip install --quiet -e '.[local]' pytest pytest-socket hypothesis statelint==3.1.0 grimp==3.20
	touch $(PY313_STAMP)

test-py313:
	@if [ -z "$(PY313)" ]; then echo "test-py313: no python3.13 found; skipped"; else \
	  $(MAKE) --no-print-directory $(PY313_STAMP) && \
	  .venv-py313/bin/python -m pytest tests/unit tests/integration -q -p no:cacheprovider -o addopts='--strict-markers'; fi

build: setup
	PYENV_VERSION=$(SAM_PYENV) $(BIN)/sam build --template template.yaml

# Validates config/, checks the stack (STACK, default slipway-dev) covers it, then copies it to the stack's
# ConfigLocation and removes what is no longer there (functions re-read it within a minute).
publish-config: setup
	@test -n "$(CONFIG_LOCATION)" || { echo "usage: make publish-config CONFIG_LOCATION=s3://bucket/prefix [STACK=name]"; exit 2; }
	$(BIN)/slipway publish-config --config config $(if $(STACK),--stack $(STACK)) $(CONFIG_LOCATION)

# The first `make demo` installs only what the demo runs (the runtime and the local cloud, `.[local]`), showing
# pip's progress; `make test` installs the rest. A full install (the setup stamp, newer than pyproject.toml) is
# enough as it is.
DEMO_STAMP := $(VENV)/.installed-demo

$(DEMO_STAMP): pyproject.toml
	@if [ -f $(STAMP) ] && [ $(STAMP) -nt pyproject.toml ]; then touch $(DEMO_STAMP); else \
	  echo "make demo: installing what the demo needs into $(VENV) (.[local]: boto3, pydantic, Powertools, moto, rich)"; \
	  test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	  $(BIN)/python -m pip install --upgrade pip && \
	  $(BIN)/python -m pip install -e '.[local]' && touch $(DEMO_STAMP); fi

demo: $(DEMO_STAMP)
	$(BIN)/slipway local demo $(ARGS)

# config/schema.json and docs/configuration.md, from the config models (a test fails when they drift).
config-reference: setup
	$(BIN)/python -m slipway_dev.config_reference

bench: setup
	$(BIN)/python bench/run.py

local-up: setup
	$(BIN)/slipway local up

clean:
	rm -rf .aws-sam .slipway .pytest_cache .mypy_cache .ruff_cache .coverage
