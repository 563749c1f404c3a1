# storfleet: the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= ./var
HOST ?= 127.0.0.1
PORT ?= 8190

.PHONY: run test deps venv dev lint check-migrations bench clean

$(BIN)/storfleet: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.dev: $(BIN)/storfleet
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

venv: $(BIN)/storfleet
dev: $(VENV)/.dev

## Start the embedded server (SQLite under $(DATA_DIR)) on $(HOST):$(PORT).
run: venv
	mkdir -p $(DATA_DIR)
	$(BIN)/storfleet serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

## Install/start every system part the test suite needs (apt packages, PostgreSQL, Redis).
deps:
	./scripts/deps.sh

lint: dev
	$(BIN)/ruff check storfleet tests bench

## The model and the migrations must not drift (alembic check on SQLite and PostgreSQL).
check-migrations: dev
	./scripts/check_migrations.sh

## The whole suite, including the tests against real PostgreSQL and Redis.
test: deps dev lint check-migrations
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: dev
	$(BIN)/python bench/sync.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
