# PyExec: `make run` starts the service, `make test` runs the tests; both install what is missing.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Debian packages the tests and benchmarks start throwaway servers from (tests/services.py).
SERVICE_PACKAGES := redis-server postgresql
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test bench lint install services clean sandbox-tools docs

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Kernels are sandboxed with bubblewrap where it is installed (README, "Isolation").
sandbox-tools:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends bubblewrap) >/dev/null; } \
		|| echo "warning: bubblewrap is not installed; kernels get a weaker file-system sandbox" >&2

run: $(STAMP) sandbox-tools
	$(BIN)/pyexec serve

# Installs Redis and PostgreSQL when missing; the tests start and stop their own servers.
services:
	@if ! command -v redis-server >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "installing $(SERVICE_PACKAGES) for the tests"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(SERVICE_PACKAGES); \
	fi

test: $(STAMP) sandbox-tools services
	$(BIN)/ruff check .
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $$(mktemp -d)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit tests/integration

bench: $(STAMP) services
	$(BIN)/python -m tests.benchmarks.bench

# The reference pages generated from the code, then the site (into ./site).
docs: $(STAMP)
	$(BIN)/python docs/generate.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) data site .pytest_cache .ruff_cache
