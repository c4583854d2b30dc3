# `make run` and `make test` are the README's two commands; both set up .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench e2e-deps oidc-deps browser-deps

$(BIN)/python:
	@echo "creating a Python virtual environment in $(VENV) (pip and the gateway's dependencies follow)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "installing the gateway and its dependencies into $(VENV) from PyPI"
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	@echo "installing the gateway with its dev extras (pytest, mypy, ruff, playwright…; about 645 MB) into $(VENV) from PyPI"
	$(BIN)/pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

# NO_INSTALL=1 uses $(VENV) as it is (a venv made elsewhere: `make run VENV=/path/.venv NO_INSTALL=1`).
RUN_DEPS := $(if $(NO_INSTALL),,$(VENV)/.installed)

# The gateway's packages (pyproject's [tool.setuptools.packages.find] include, less templates).
PACKAGES := proxy_project runtime providers routing clients gateway dashboard configuration audit sso

# The gateway, dashboard, Celery worker and beat in one process tree; Ctrl-C stops them all.
# Byte-compiled first: where PYTHONDONTWRITEBYTECODE is set (this repository's Dockerfile, many
# CI and sandbox images) every process would otherwise compile the gateway's modules from source
# on every start (+0.3-0.5 s to ready for each of web, worker and beat). Up to date, it takes 0.1 s.
run: $(RUN_DEPS)
	$(BIN)/python -m compileall -q $(PACKAGES) || echo "(byte-compiling failed: the gateway still starts, only slower)"
	$(BIN)/python manage.py serve

# The Claude Code CLI for the end-to-end tests (from the npm registry, into .cache/).
e2e-deps:
	@command -v npm >/dev/null || { echo "npm is required for the Claude Code end-to-end test"; exit 1; }
	@test -x .cache/claude-code/node_modules/.bin/claude || { \
		echo "installing the Claude Code CLI (@anthropic-ai/claude-code, about 235 MB) into .cache/claude-code with npm"; \
		npm install --silent --no-audit --no-fund --prefix .cache/claude-code @anthropic-ai/claude-code; }

# node-oidc-provider, the real OpenID provider the SSO tests sign in through (npm registry, into .cache/).
oidc-deps:
	@if ! command -v npm >/dev/null; then \
		echo "npm not found: the SSO sign-in tests will be skipped (REQUIRE_E2E=1 makes them fail)"; \
	elif [ ! -f .cache/oidc-provider/node_modules/oidc-provider/lib/index.js ]; then \
		echo "installing oidc-provider@9 (an OpenID provider for the SSO tests) into .cache/oidc-provider"; \
		npm install --silent --no-audit --no-fund --prefix .cache/oidc-provider oidc-provider@9; \
	fi

# Debian's Chromium for the dashboard browser test (Playwright's own browser download cannot work here).
browser-deps:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		echo "installing Debian's chromium system-wide with apt-get (root; for the dashboard browser test)" && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium not installed: the browser test will be skipped (REQUIRE_E2E=1 makes it fail)"

# Test files run in TEST_WORKERS parallel processes (pytest-xdist; a file stays on one worker, so its
# module fixtures start once). Most of the suite waits on subprocesses, so 4 workers fit 2 cores.
TEST_WORKERS ?= 4

test: $(VENV)/.installed-dev e2e-deps oidc-deps browser-deps
	$(BIN)/ruff check .
	$(BIN)/python -m compileall -q $(PACKAGES)  # the suite's many gateway processes load these (see run:)
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/mypy .

bench: $(VENV)/.installed
	$(BIN)/python bench/run.py
