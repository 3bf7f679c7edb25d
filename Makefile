# Atom: `make run` starts everything, `make test` checks everything. Only Python 3.11 and make needed.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test check lint format bench migrate clean browser-deps verify report audit wheelhouse

# Wheels of every pinned runtime requirement: the tests that build a venv the way `make run` does
# install from here with --no-index, so they never reach a package index. ATOM_WHEELHOUSE moves it
# (several checkouts of one machine can share one).
WHEELHOUSE := $(or $(ATOM_WHEELHOUSE),var/wheelhouse)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(PY)
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt requirements.txt | $(PY)
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

## wheelhouse: wheels of requirements.txt under var/wheelhouse, pytest and pytest-reportlog among them (make test fills it first)
wheelhouse: $(WHEELHOUSE)/.filled

$(WHEELHOUSE)/.filled: requirements.txt | $(PY)
	@# requirements.txt pins pytest and pytest-reportlog, which every suite venv Atom builds installs besides its
	@# own requirements (ATOM_ENV_PIP_ARGS can point here).
	$(PIP) wheel --quiet --quiet --wheel-dir $(WHEELHOUSE) -r requirements.txt
	touch $@

migrate: $(VENV)/.runtime-installed
	$(PY) manage.py migrate --noinput

## run: install, migrate, demo data, admin user, then web, worker and beat of the Procfile under one
## supervisor: each named in the log; when one dies all stop with a message; Ctrl-C or SIGTERM stops all.
## The system checks (and their warnings) run once, with migrate.
run: migrate
	$(PY) manage.py seed_demo --skip-checks
	$(PY) manage.py ensure_admin --skip-checks
	@echo "Atom: admin at http://$(HOST):$(PORT)/admin/  API at http://$(HOST):$(PORT)/api/v1/  (Ctrl-C stops everything)"
	@ATOM_HOST=$(HOST) ATOM_PORT=$(PORT) exec $(PY) -m atom.supervise

## lint: ruff (lint + format check), mypy, the architecture contracts (import-linter), and bandit
## (medium severity and above; findings print on stdout)
lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/bandit -q -c pyproject.toml -r atom accounts governance episodes bugs console notifications --severity-level medium 2>/dev/null

## audit: pip-audit of every pinned requirement against PyPI's advisory data (needs that service reachable).
## --strict: a requirement it could not look up fails the audit instead of passing unchecked.
audit: $(VENV)/.dev-installed
	$(VENV)/bin/pip-audit --strict --progress-spinner off --no-deps --disable-pip -r requirements.txt -r requirements-dev.txt

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## browser-deps: Debian's Chromium for the browser tests, installed when missing and possible (root + apt)
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
	      || echo "Could not install chromium: browser tests will skip (and fail under CI)"; \
	  else echo "Chromium not installed and cannot be installed here: browser tests will skip"; fi; }

## check: the fast inner loop: lint, then every test that needs no Celery worker and no browser
check: lint
	$(PY) -m pytest -q -x -m "not worker and not browser" $(PYTEST_ARGS)

## test: venv, dev install, lint, migrations check, the whole pytest suite, then the hardening loop
test: wheelhouse lint browser-deps
	$(PY) manage.py makemigrations --check --dry-run --settings atom.settings_test
	$(PY) -m pytest $(PYTEST_ARGS)
	$(MAKE) verify

## verify: Atom's own catalog through Atom's own loop (commits, real runner and worker, report); fails on
## a failing regression test, an unresolved P0, or a stale docs/bug_triage_report.md
verify: $(VENV)/.dev-installed
	$(PY) manage.py verify_hardening --check

## report: the same loop, refreshing docs/bug_triage_report.md
report: $(VENV)/.dev-installed
	$(PY) manage.py verify_hardening --write

## bench: the benchmarks of bench/ (ONLY=P4 runs one, BENCH_SCALE=0.1 shrinks the data)
bench: $(VENV)/.dev-installed
	$(PY) -m bench $(if $(ONLY),--only $(ONLY))

clean:
	rm -rf var/test-* var/bench var/make-run-venv .mypy_cache .ruff_cache
