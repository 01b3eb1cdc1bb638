# The two commands of the README: `make up` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export CDK_DISABLE_CLI_TELEMETRY := true
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: up test install synth rehearse bench lock clean

# Create the virtual environment and install the pinned dependencies, the project and the CDK CLI.
$(STAMP): requirements.txt requirements-cdk.txt requirements-dev.txt constraints.txt pyproject.toml package.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps -e .
	npm ci --no-audit --no-fund --silent
	touch $(STAMP)

install: $(STAMP)

## make up: train locally (real data when reachable, the shipped sample otherwise), then serve the API on :8080
up: $(STAMP)
	$(BIN)/headlines up --port 8080

## make test: every test (unit, contract, CDK synthesis, end-to-end local, fuzzing)
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

synth: $(STAMP)
	cdk synth --quiet

rehearse: $(STAMP)
	$(BIN)/python -m headlines.rehearsal

bench: $(STAMP)
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/serving.py

# Re-resolve the transitive pins after changing a requirements file.
lock:
	rm -rf /tmp/headlines-lock && $(PYTHON) -m venv /tmp/headlines-lock
	/tmp/headlines-lock/bin/pip install --quiet -r requirements-dev.txt
	(echo '# Every transitive pin of requirements-dev.txt, from `pip freeze` (make lock regenerates it).'; /tmp/headlines-lock/bin/pip freeze) > constraints.txt

clean:
	rm -rf $(VENV) node_modules cdk.out .headlines .pytest_cache
