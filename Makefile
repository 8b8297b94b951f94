# Two commands: `make demo` starts the product, `make test` runs every test (`make test-fast`:
# the fast tier alone).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# `make demo PORT=8001` and friends: the demo's ports and data folder.
PORT ?= 8000
STRIPE_PORT ?= 12111
SMTP_PORT ?= 1025
DATA_DIR ?= .data

# The browser tests drive Debian's chromium (Playwright's own browser download does not work
# here); a fresh machine gets it from apt. Root in CI; sudo elsewhere.
CHROMIUM ?= /usr/bin/chromium

# The tests start about sixty Python processes (the app, workers, commands, benchmarks): each
# would compile the product's modules again where the environment sets PYTHONDONTWRITEBYTECODE
# (this machine's does), about 0.25 s of CPU each on a CPU-bound run; compiled once, they read
# __pycache__ (git-ignored).
unexport PYTHONDONTWRITEBYTECODE

# pytest-xdist workers: one per core and one more (each has its own databases, see
# tests/conftest.py): the end-to-end tests spend much of their time waiting on the processes
# they start, and the extra worker uses it (on 2 cores, 2026-12-04: about 210 s instead of
# 240 s; the run has since grown CPU-bound, with about 30 s of idle CPU left in it).
PYTEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 1)')
# The OpenAPI contract test's time budget in seconds (tests/contract).
SCHEMATHESIS_MAX_TIME ?= 30

.PHONY: demo test test-fast lint bench clean

# The product with its dev tools, then the Stripe emulator (its own distribution, emulator/:
# development, the demo and the tests need it; the product's wheel does not carry it). The
# emulator comes second: reinstalling a product that used to carry it removes the
# stripe-emulator command the old product listed.
$(BIN)/.installed: pyproject.toml emulator/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet -e ./emulator
	touch $@

demo: $(BIN)/.installed
	$(BIN)/medgrader demo --port $(PORT) --stripe-port $(STRIPE_PORT) --smtp-port $(SMTP_PORT) \
		--data-dir $(DATA_DIR)

$(CHROMIUM):
	@echo "Installing Debian's chromium for the browser tests..."
	@if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium

# Both tiers in parallel: the fast tier in-process and the end-to-end tier (tests marked e2e:
# live HTTP, SMTP, the browser, several processes, faults). `loadgroup` keeps each xdist_group
# (the browser's tests, the fault server's) in one worker. CI runs exactly this.
test: $(BIN)/.installed $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	SCHEMATHESIS_MAX_TIME=$(SCHEMATHESIS_MAX_TIME) $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

# The fast tier alone: every test not marked e2e, in-process, about a minute.
test-fast: $(BIN)/.installed
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup -m "not e2e"

lint: $(BIN)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

bench: $(BIN)/.installed
	$(BIN)/python -m bench.spend
	$(BIN)/python -m bench.webhooks
	$(BIN)/python -m bench.holds
	$(BIN)/python -m bench.dashboard

clean:
	rm -rf $(VENV) .data .pytest_cache emulator/.pytest_cache .artifacts
