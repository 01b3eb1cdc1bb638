# The two commands of the README: `make up` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The SageMaker-shaped second environment (Python 3.8 + AWS's container toolkits), see requirements-sagemaker.txt.
SM_VENV := .venv-sagemaker
SM_STAMP := $(SM_VENV)/.installed
PYTHON38 ?= $(shell PYENV_VERSION=3.8.18 command -v python3.8 >/dev/null 2>&1 && echo 'env PYENV_VERSION=3.8.18 python3.8' || echo python3.8)
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
# MkDocs 1.6 prints a banner about MkDocs 2 on every build; the pinned 1.6 is what builds the site.
export NO_MKDOCS_2_WARNING := 1
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)
# make deploy STACKS=HeadlinesPipeline deploys one stack; the default is both, in order.
STACKS ?= --all

.PHONY: up test check install browser page-assets docs reference synth bootstrap preflight deploy destroy lint rehearse bench lock clean

# Create the virtual environment and install the project with its pinned dependencies
# (pyproject.toml's dev extra: local mode, the CDK app, tests and linters) and the CDK CLI.
$(STAMP): pyproject.toml setup.py constraints.txt package.json package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11, 4) <= sys.version_info[:3] < (3, 12) else 1)' || \
	  { echo "error: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); the project needs 3.11.4 or a later 3.11 (tarfile's extraction filter): e.g. 'pyenv install 3.11.7', or make PYTHON=python3.11"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	npm ci --no-audit --no-fund --silent
	touch $(STAMP)

# Skipped with one line when Python 3.8 is absent (the parity tests then skip and say why).
$(SM_STAMP): requirements-sagemaker.txt constraints-sagemaker.txt
	@if ! $(PYTHON38) -c 'import sys; assert sys.version_info[:2] == (3, 8)' >/dev/null 2>&1; then \
	  echo "note: Python 3.8 not found (install it, e.g. 'pyenv install 3.8.18'); the SageMaker-shaped environment is not built"; \
	else \
	  test -x $(SM_VENV)/bin/python || $(PYTHON38) -m venv $(SM_VENV); \
	  $(SM_VENV)/bin/pip install --quiet --upgrade pip==24.3.1 && \
	  $(SM_VENV)/bin/pip install --quiet -r requirements-sagemaker.txt -c constraints-sagemaker.txt && \
	  touch $(SM_STAMP); \
	fi

install: $(STAMP) $(SM_STAMP)

# The browser tests (tests/browser/) drive Debian's chromium through chromedriver. Installed
# here when missing and possible (root with apt-get); otherwise one line, and those tests skip.
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver
browser:
	@if [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium and chromium-driver for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	    || echo "note: chromium could not be installed; the browser tests skip"; \
	else \
	  echo "note: no $(CHROMIUM)/$(CHROMEDRIVER) (as root: apt-get install -y chromium chromium-driver); the browser tests skip"; \
	fi

## make page-assets: copy Swagger UI from node_modules (the version package.json pins) and the
## contract as JSON into functions/api/web/ (committed; the tests check they are up to date)
page-assets: $(STAMP)
	$(BIN)/python -m devtools.page_assets

## make up: train locally (real data when reachable, the shipped sample otherwise), then serve the API on :8080
up: $(STAMP) $(SM_STAMP)
	$(BIN)/headlines up --port 8080

## make test: the code checks (ruff, mypy, import layers), the documentation site's strict build,
##   then every test (unit, contract, CDK synthesis, container parity, end-to-end local, fuzzing,
##   the page in a headless browser, the docs' commands and facts)
test: $(STAMP) $(SM_STAMP) browser check docs
	$(BIN)/python -m pytest -n 2 --dist loadgroup

## make check: ruff (lint), mypy (types) and import-linter (imports flow one way), as configured in pyproject.toml
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/mypy training inference functions/api functions/ingest functions/model_identity functions/model_approval
	$(BIN)/lint-imports

## make docs: the documentation site (mkdocs.yml, docs/) into site/, strictly: a broken link or
##   anchor, or a page missing from the navigation, fails the build. Offline: no CDN, no web fonts.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

## make reference: write docs/configuration.md from the one schema (headlines/config.py,
##   training/hyperparameters.py) and cdk.json's defaults; tests/docs fail while it is stale
reference: $(STAMP)
	$(BIN)/python -m devtools.config_reference

synth: $(STAMP)
	cdk synth --quiet

## make bootstrap: once per account and region, CDK's bootstrap with the project's template
##   (infra/bootstrap-template.yaml: CDK's own, plus the deploy role reading the serving-model SSM
##   parameter that CloudFormation resolves with it; infra/bootstrap_template.py says why)
##   FORCE=1 replaces a bootstrap of another variant (CDK's default one): without --force the
##   CLI keeps it and only warns
bootstrap: $(STAMP)
	cdk bootstrap --template infra/bootstrap-template.yaml $(if $(FORCE),--force,)

## make preflight: read-only checks of the AWS account before a deploy (needs AWS credentials):
##   bootstrap, the deploy role, SageMaker quotas, images, API Gateway's logging role (docs/preflight.md)
preflight: $(STAMP)
	$(BIN)/headlines preflight

## make deploy: the README's AWS deploy (needs AWS credentials): the pipeline stack, then serving
##   (serving stops with one line until `headlines pipeline start --wait` has approved a model)
deploy: $(STAMP)
	cdk deploy $(STACKS)

## make destroy: every stack the deploy created (serving first, then the pipeline)
destroy: $(STAMP)
	cdk destroy --all --force

## make lint: the code checks, then cfn-lint, cdk-nag and the IAM policy linter over the synthesized templates
lint: check
	$(BIN)/python -m pytest -q -n 0 tests/infra/test_infra_compliance.py tests/infra/test_infra_permissions.py

## make rehearse: the README's deploy / update / destroy / redeploy offline against moto (STAGE=prod for prod)
rehearse: $(STAMP)
	$(BIN)/python -m devtools.rehearsal --stage $(or $(STAGE),dev)

bench: $(STAMP)
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/serving.py

# Re-resolve the transitive pins after changing a requirements file.
lock:
	rm -rf /tmp/headlines-lock && $(PYTHON) -m venv /tmp/headlines-lock
	/tmp/headlines-lock/bin/pip install --quiet '.[dev]'
	(echo "# Every transitive pin of pyproject.toml's dev extra, from \`pip freeze\` (make lock regenerates it)."; /tmp/headlines-lock/bin/pip freeze --exclude headlines-mlops) > constraints.txt
	rm -rf /tmp/headlines-lock38 && $(PYTHON38) -m venv /tmp/headlines-lock38
	/tmp/headlines-lock38/bin/pip install --quiet -r requirements-sagemaker.txt
	(echo '# Every transitive pin of requirements-sagemaker.txt (Python 3.8), from `pip freeze` (make lock regenerates it).'; /tmp/headlines-lock38/bin/pip freeze) > constraints-sagemaker.txt

clean:
	rm -rf $(VENV) $(SM_VENV) node_modules cdk.out .headlines .pytest_cache site
