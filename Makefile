# nanobatch: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
NB     := $(VENV)/bin/nanobatch
DEMO_PORT ?= 8765
# tests run in parallel processes (most of their time is spent waiting on subprocesses and servers)
TEST_JOBS ?= 2

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# pip's notes about this machine's extra package indexes are noise for a newcomer
QUIET_PIP := 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }

.PHONY: install test lint demo demo-local worker bench clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip $(QUIET_PIP)
	$(PY) -m pip install --quiet -e '.[dev]' $(QUIET_PIP)
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_JOBS) --durations=25 tests

lint: install
	$(VENV)/bin/ruff check batch workers tests bench migrations
	$(VENV)/bin/mypy

demo: install
	@bash scripts/demo.sh "$(NB)" "$(DEMO_PORT)"

demo-local: install
	@bash scripts/demo_local.sh "$(NB)" "$(DEMO_PORT)"

worker: install
	$(NB) worker

bench: install
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .nanobatch out
