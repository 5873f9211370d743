# nanobatch: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
NB     := $(VENV)/bin/nanobatch
DEMO_PORT ?= 8765

.PHONY: install test test-fast lint demo worker bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q -p no:cacheprovider tests

lint: install
	$(VENV)/bin/ruff check batch workers tests bench migrations
	$(VENV)/bin/mypy

demo: install
	@bash scripts/demo.sh "$(NB)" "$(DEMO_PORT)"

worker: install
	$(NB) worker

bench: install
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .nanobatch out
