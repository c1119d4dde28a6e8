# Two commands set everything up on a fresh machine: `make run` and `make test`.
# Both create .venv and install the pinned requirements when missing or changed:
# `make run` only what local mode runs on (requirements-local.txt: the app's
# requirements.txt and moto), `make test` the rest too (requirements-dev.txt).
# Each set has its own stamp, so running never waits for the test tools.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: run test lint typecheck unit bench clean package deploy messages translations

# Deploy tooling: osls (package.json, package-lock.json), installed by `npm ci`. Without
# npm, the osls checks in tests/test_deploy.py skip (and fail under CI=true).
NPM := $(shell command -v npm 2>/dev/null)
NODE_STAMP := node_modules/.installed
OSLS := node_modules/.bin/osls
STAGE ?= dev
SLS_FLAGS = --stage $(STAGE) $(if $(REGION),--region $(REGION))
ifneq ($(NPM),)
NODE_DEPS := $(NODE_STAMP)
endif

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): requirements.txt requirements-local.txt | $(PY)
	$(PIP_INSTALL) -r requirements-local.txt
	@touch $(RUN_STAMP)

$(DEV_STAMP): $(RUN_STAMP) requirements-dev.txt
	$(PIP_INSTALL) -r requirements-dev.txt
	@touch $(DEV_STAMP)

# checkov (the IaC scanner on the generated template) needs a venv of its own: its
# pins (boto3 1.35, packaging < 24, networkx < 2.7) clash with the app's and moto's.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
$(CHECKOV_STAMP): requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $(CHECKOV_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

# Translations: the .po files are the source (edited by hand, committed); the .mo
# files Flask-Babel reads are compiled from them here and by the Lambda build, never
# committed. `make messages` refreshes messages.pot and the .po files from the code.
PYBABEL := $(VENV)/bin/pybabel
TRANSLATIONS := webapp/translations
PO_FILES := $(wildcard $(TRANSLATIONS)/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)
EXTRACT_FLAGS := -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output --omit-header

%.mo: %.po $(RUN_STAMP)
	$(PYBABEL) compile --statistics -i $< -o $@

## translations: compile the .po catalogs into the .mo files the app reads
translations: $(MO_FILES)

## messages: extract every message into messages.pot and merge it into each .po
messages: $(RUN_STAMP)
	$(PYBABEL) -q extract $(EXTRACT_FLAGS) -o $(TRANSLATIONS)/messages.pot .
	$(PYBABEL) -q update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) --no-fuzzy-matching --ignore-obsolete -w 100

## run: start the app on an embedded local AWS (moto) with demo users and data
run: $(RUN_STAMP) $(MO_FILES)
	$(PY) -m webapp.local

## test: lint, type-check and run the whole test suite
test: lint typecheck unit

lint: $(DEV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(DEV_STAMP)
	$(PY) -m mypy

# One pytest worker per core (pytest-xdist), each with its own moto server; the tests
# of one group (tests/conftest.py: WORKER_GROUPS) take turns on one worker.
TEST_WORKERS ?= auto

unit: $(DEV_STAMP) $(NODE_DEPS) $(CHECKOV_STAMP) $(MO_FILES)
	$(PY) -m pytest -n $(TEST_WORKERS)

## bench: the benchmarks in bench/ (tables on stdout)
bench: $(DEV_STAMP)
	@for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

## package: build build/lambda.zip and the CloudFormation template (.serverless/); STAGE=dev REGION=...
package: $(DEV_STAMP) $(NODE_STAMP)
	$(PY) .ci/package_lambda.py
	$(OSLS) package $(SLS_FLAGS)

## deploy: build the zip and deploy the whole stack (AWS credentials and the SSM secret first: README)
deploy: $(DEV_STAMP) $(NODE_STAMP)
	$(PY) .ci/package_lambda.py
	$(OSLS) deploy $(SLS_FLAGS)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) build .pytest_cache .mypy_cache .ruff_cache
