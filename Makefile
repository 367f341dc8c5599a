# slipway: `make demo` and `make test` set everything up on a fresh machine (python3 >= 3.11 on PATH).
SHELL := /bin/bash
export SAM_CLI_TELEMETRY := 0
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKOV_STAMP := .venv-checkov/.installed
SAM_STAMP := .venv-sam/.installed
SAM := .venv-sam/bin/sam
UV_COMPILE := --universal --python-version 3.11 --generate-hashes --custom-compile-command "make lock" $(LOCK_ARGS)
# sam build needs a python3.13 for the Lambda runtime; pyenv provides one on this machine and CI.
SAM_PYENV ?= 3.11.7:3.12.1:3.13.0

# make demo PIPELINE=api: the example config's ECS-native pipeline (web-app deploys through CodeDeploy).
PIPELINE ?= web-app

.PHONY: help setup lock sam-local test test-py313 lint typecheck validate statelint checkov pytest build publish-config demo bench local-up clean config-reference

help:
	@echo "make demo   - run a release end to end on the embedded local cloud (moto)"
	@echo "make config-reference - regenerate config/schema.json and docs/configuration.md"
	@echo "make test   - every check: ruff, mypy, sam validate --lint, cfn-lint, statelint, pytest with coverage"
	@echo "make bench  - the benchmark (bench/out/results.json)"
	@echo "make build  - sam build (python3.13, arm64)"
	@echo "make sam-local - sam local invoke (Docker) of every sample event against the local cloud"
	@echo "make lock   - re-resolve the lock files (uv) after changing a dependency"

# Every virtualenv is built from a lock file with hashes (`make lock` writes them; docs/dependencies.md).
# .venv holds the layer's exact pins (layers/slipway/requirements.txt, which `sam build` installs too) plus the
# dev tools; a changed lock rebuilds it from scratch, so nothing stale survives.
RUNTIME_LOCK := layers/slipway/requirements.txt
DEV_LOCK := requirements/dev.txt
LOCAL_LOCK := requirements/local.txt

$(STAMP): pyproject.toml $(RUNTIME_LOCK) $(DEV_LOCK)
	rm -rf $(VENV) && $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

test: setup lint typecheck validate statelint checkov pytest test-py313

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

validate: setup $(SAM_STAMP)
	$(SAM) validate --lint --template template.yaml --region eu-west-2
	$(BIN)/cfn-lint template.yaml target-account.yaml

# checkov and the SAM CLI pin their own dependencies (boto3 among them, which would then decide the layer's),
# so each lives in a virtualenv of its own, built from its own lock.
$(CHECKOV_STAMP): requirements/checkov.txt
	rm -rf .venv-checkov && $(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements/checkov.txt
	touch $(CHECKOV_STAMP)

$(SAM_STAMP): requirements/sam.txt
	rm -rf .venv-sam && $(PYTHON) -m venv .venv-sam
	.venv-sam/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements/sam.txt
	touch $(SAM_STAMP)

# Re-resolves every lock from its .in list (and pyproject.toml's extras for the dev lock) with uv.
lock: setup
	$(BIN)/uv pip compile requirements/runtime.in $(UV_COMPILE) -o $(RUNTIME_LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra dev -c $(RUNTIME_LOCK) $(UV_COMPILE) -o $(DEV_LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra local -c $(DEV_LOCK) $(UV_COMPILE) -o $(LOCAL_LOCK)
	$(BIN)/uv pip compile requirements/sam.in $(UV_COMPILE) -o requirements/sam.txt
	$(BIN)/uv pip compile requirements/checkov.in $(UV_COMPILE) -o requirements/checkov.txt

checkov: $(CHECKOV_STAMP) setup
	.venv-checkov/bin/checkov --config-file .checkov.yaml -f template.yaml
	.venv-checkov/bin/checkov --config-file .checkov.yaml -f target-account.yaml
	$(BIN)/python -m slipway_dev.iam translate .slipway/template.translated.json
	.venv-checkov/bin/checkov --config-file .checkov.yaml -f .slipway/template.translated.json

statelint: setup
	$(BIN)/python -m slipway_dev.cli lint-asl

# The whole suite, so the IAM check (tests/support/iam.py) also fails on a grant no call used (--iam-unused).
pytest: setup
	$(BIN)/pytest --cov --cov-report=term --cov-fail-under=90 --iam-unused

# Lambda runs python3.13: the unit and integration tests run there too when a python3.13 can be found
# (pyenv's on this machine and CI), in a venv of its own with the runtime and test dependencies only.
# (a pyenv shim answers `command -v` even when it cannot run, so ask for a version instead)
PY313 ?= $(shell for p in $$(ls -d $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13 2>/dev/null) python3.13; do \
  $$p -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null && { echo $$p; break; }; done)
PY313_STAMP := .venv-py313/.installed

$(PY313_STAMP): pyproject.toml $(RUNTIME_LOCK) $(DEV_LOCK)
	rm -rf .venv-py313 && $(PY313) -m venv .venv-py313
	.venv-py313/bin/python -m pip install --quiet --require-hashes --no-deps -r $(DEV_LOCK)
	.venv-py313/bin/python -m pip install --quiet --no-deps -e .
	touch $(PY313_STAMP)

test-py313:
	@if [ -z "$(PY313)" ]; then echo "test-py313: no python3.13 found; skipped"; else \
	  $(MAKE) --no-print-directory $(PY313_STAMP) && \
	  .venv-py313/bin/python -m pytest tests/unit tests/integration -q -p no:cacheprovider -o addopts='--strict-markers'; fi

# ARCH=x86_64 builds for x86 hosts (`sam local invoke` there); the layer must hold exactly the runtime lock's pins.
ARCH ?= arm64
build: setup $(SAM_STAMP)
	PYENV_VERSION=$(SAM_PYENV) $(SAM) build --template template.yaml --parameter-overrides Architecture=$(ARCH)
	$(BIN)/python -m slipway_dev.locks layer .aws-sam/build/SlipwayLayer/python

# Every sample event through `sam local invoke` (Docker) against the local cloud; says SKIPPED without Docker.
sam-local: setup $(SAM_STAMP)
	PYENV_VERSION=$(SAM_PYENV) SAM=$(SAM) $(BIN)/python -m slipway_dev.sam_local

# Validates config/, checks the stack (STACK, default slipway-dev) covers it, then copies it to the stack's
# ConfigLocation and removes what is no longer there (functions re-read it within a minute).
publish-config: setup
	@test -n "$(CONFIG_LOCATION)" || { echo "usage: make publish-config CONFIG_LOCATION=s3://bucket/prefix [STACK=name]"; exit 2; }
	$(BIN)/slipway publish-config --config config $(if $(STACK),--stack $(STACK)) $(CONFIG_LOCATION)

# The first `make demo` installs only what the demo runs (the runtime and the local cloud, `.[local]`, from its own
# lock, requirements/local.txt: the same versions as the dev lock), showing pip's progress; `make test` installs the
# rest. A full install (the setup stamp, newer than the locks) is enough as it is.
DEMO_STAMP := $(VENV)/.installed-demo

$(DEMO_STAMP): pyproject.toml $(RUNTIME_LOCK) $(LOCAL_LOCK)
	@if [ -f $(STAMP) ] && [ $(STAMP) -nt $(LOCAL_LOCK) ]; then touch $(DEMO_STAMP); else \
	  echo "make demo: installing what the demo needs into $(VENV) (.[local]: boto3, pydantic, Powertools, moto, rich)"; \
	  rm -rf $(VENV) && $(PYTHON) -m venv $(VENV) && \
	  $(BIN)/python -m pip install --progress-bar on --require-hashes --no-deps -r $(LOCAL_LOCK) && \
	  $(BIN)/python -m pip install --quiet --no-deps -e . && touch $(DEMO_STAMP); fi

demo: $(DEMO_STAMP)
	$(BIN)/slipway local demo --pipeline $(PIPELINE) $(ARGS)

# config/schema.json and docs/configuration.md, from the config models (a test fails when they drift).
config-reference: setup
	$(BIN)/python -m slipway_dev.config_reference

bench: setup
	$(BIN)/python bench/run.py

local-up: setup
	$(BIN)/slipway local up

clean:
	rm -rf .aws-sam .slipway .pytest_cache .mypy_cache .ruff_cache .coverage
