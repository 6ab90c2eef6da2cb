# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test lint typecheck unit browser bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "fraudstream needs Python >= 3.11"'
	@echo "first run: installing into $(VENV) (about 1 GB of packages, a few minutes; later runs start at once)"
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# Stamps: re-install only when pyproject.toml changes.
$(VENV)/.runtime: $(BIN)/python pyproject.toml
	$(PIP) install -e .
	touch $@

$(VENV)/.dev: $(BIN)/python pyproject.toml
	$(PIP) install -e '.[dev]'
	touch $@ $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(BIN)/fraudstream demo

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.dev
	$(BIN)/mypy

# The dashboard tests drive Debian's chromium; CI installs it when it is missing.
browser:
	@if [ "$$CI" = "true" ] && [ ! -x /usr/bin/chromium ]; then \
		echo "installing chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

unit: $(VENV)/.dev browser
	$(BIN)/pytest -q

test: lint typecheck unit

bench: $(VENV)/.dev
	$(BIN)/python bench/simulate.py
	$(BIN)/python bench/features.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
