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

.PHONY: help setup test lint typecheck validate statelint checkov pytest build publish-config demo bench local-up clean

help:
	@echo "make demo   - run a release end to end on the embedded local cloud (moto)"
	@echo "make test   - every check: ruff, mypy, sam validate --lint, cfn-lint, statelint, pytest with coverage"
	@echo "make bench  - the benchmark (bench/results.json)"
	@echo "make build  - sam build (python3.13, arm64)"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

test: setup lint typecheck validate statelint checkov pytest

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
	$(BIN)/python -m slipway.cli lint-asl

pytest: setup
	$(BIN)/pytest --cov --cov-report=term --cov-fail-under=90

build: setup
	PYENV_VERSION=$(SAM_PYENV) $(BIN)/sam build --template template.yaml

# Validates config/, then copies it to the stack's ConfigLocation (functions re-read it within a minute).
publish-config: setup
	@test -n "$(CONFIG_LOCATION)" || { echo "usage: make publish-config CONFIG_LOCATION=s3://bucket/prefix"; exit 2; }
	$(BIN)/slipway publish-config --config config $(CONFIG_LOCATION)

demo: setup
	$(BIN)/slipway local demo $(ARGS)

bench: setup
	$(BIN)/python bench/run.py

local-up: setup
	$(BIN)/slipway local up

clean:
	rm -rf .aws-sam .slipway .pytest_cache .mypy_cache .ruff_cache .coverage
