# PyExec: `make run` starts the service, `make test` runs the tests; both install what is missing.
# They work from a checkout anywhere (under /tmp, /root or a home dir, through a symlink, on a
# path with spaces), as root or as a normal user; the data dir is PYEXEC_DATA_DIR (default
# ./data).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# What the service needs; the tests' tools come on top (`make test`).
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

# Debian packages the tests and benchmarks start throwaway servers from (tests/services.py),
# and the interpreter the tests run an unprivileged service with
# (tests/integration/sandbox/runtimes.py).
SERVICE_PACKAGES := redis-server postgresql python3.11
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test bench lint install services clean sandbox-tools

# A venv made for another directory (a moved or copied checkout) imports that one's code:
# the stamp holds the directory it was made for, and a mismatch makes it again.
ifneq ($(shell cat $(STAMP) 2>/dev/null),$(CURDIR))
$(shell rm -f $(STAMP) $(DEV_STAMP))
endif

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || "$(PYTHON)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@echo "$(CURDIR)" > $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(DEV_STAMP)

# Kernels are sandboxed with bubblewrap where it is installed (docs/isolation.md).
sandbox-tools:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends bubblewrap) >/dev/null; } \
		|| echo "warning: bubblewrap is not installed; kernels get a weaker file-system" \
			"sandbox (install it: sudo apt-get install bubblewrap; see docs/isolation.md)" >&2

# `python -m pyexec`, not the venv's `pyexec` script: its first line names the directory the
# venv was made in.
run: $(STAMP) sandbox-tools
	$(BIN)/python -m pyexec serve

# Installs Redis, PostgreSQL and Debian's Python when missing; the tests start and stop their
# own servers.
services:
	@if ! command -v redis-server >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		|| ! [ -x /usr/bin/python3.11 ]; then \
		echo "installing $(SERVICE_PACKAGES) for the tests"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(SERVICE_PACKAGES); \
	fi

test: $(DEV_STAMP) sandbox-tools services
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit tests/integration

bench: $(DEV_STAMP) services
	$(BIN)/python -m tests.benchmarks.bench

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
