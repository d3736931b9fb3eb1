# vras_keras: the two commands are `make run` and `make test`; everything else is here for developers.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
RUN_ARGS ?=
# The browser test drives Debian's Chromium (no browser download); `make test` installs it when missing.
CHROMIUM := /usr/bin/chromium
TEST_WORKERS ?= 2
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

.PHONY: install lint browser test test-all test-browser run bench fashion-mnist clean help

help:
	@echo "make run       install, train + export the demo models if needed, start the Streamlit demo"
	@echo "make test      install if needed, lint (ruff), run the test suite (slow tests excluded)"
	@echo "make test-all  lint + the whole suite, slow tests included"
	@echo "make lint      ruff check . (configuration in pyproject.toml)"
	@echo "make bench     run benchmarks/ and rewrite benchmarks/RESULTS.md"
	@echo "make install   create .venv and install requirements + the package (editable)"
	@echo "make test-browser  only the real-browser test of the demo (headless Chromium)"

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' \
	  || { echo "error: need Python 3.11 (set PYTHON=/path/to/python3.11)"; exit 1; }
	@if ! $(PYTHON) -m venv --help >/dev/null 2>&1 || ! $(PYTHON) -c 'import ensurepip' >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's python3-venv (the venv module is missing)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; \
	  else echo "error: the Python venv module is missing: sudo apt-get install python3-venv"; exit 1; fi; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .

browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium (for the demo's browser test)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "warning: $(CHROMIUM) is missing and this is not root: the browser test will fail (sudo apt-get install -y chromium)"; fi; \
	fi

test: install browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m "not slow" -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-all: install browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-browser: install browser
	$(BIN)/python -m pytest -m browser -q $(PYTEST_ARGS)

run: install
	$(BIN)/vras demo $(RUN_ARGS)

bench: install fashion-mnist
	$(BIN)/python benchmarks/run_all.py

# The real photographs of benchmarks/own_data.py (Debian package, ~30 MB; needs root or sudo).
fashion-mnist:
	@test -d /usr/share/datasets/fashion-mnist || { apt-get install -y dataset-fashion-mnist || sudo apt-get install -y dataset-fashion-mnist; }

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
