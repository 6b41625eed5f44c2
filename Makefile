# meshatlas — make demo, make test. Each target sets up what it needs.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: all demo test lint format clean system-deps

# Debian packages the tests use (graphviz renders the graph exports).
APT_PACKAGES := graphviz


all: test

# A virtualenv with meshatlas installed in editable mode plus the test tools.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/meshatlas demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

system-deps:
	@if ! command -v dot >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); \
		else echo "install these Debian packages first: $(APT_PACKAGES)"; exit 1; fi; \
	fi

test: $(STAMP) system-deps lint
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache meshatlas-demo
