# Two commands: `make demo` starts the product, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# `make demo PORT=8001` and friends: the demo's ports and data folder.
PORT ?= 8000
STRIPE_PORT ?= 12111
SMTP_PORT ?= 1025
DATA_DIR ?= .data

.PHONY: demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/medgrader demo --port $(PORT) --stripe-port $(STRIPE_PORT) --smtp-port $(SMTP_PORT) \
		--data-dir $(DATA_DIR)

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(BIN)/.installed
	$(BIN)/python -m bench.spend
	$(BIN)/python -m bench.webhooks
	$(BIN)/python -m bench.holds

clean:
	rm -rf $(VENV) .data .pytest_cache
