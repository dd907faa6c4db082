# Every target sets up .venv itself when it is missing or pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: serve test lint format bench soak clean

$(STAMP): pyproject.toml client/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e ./client
	@touch $@

## Run the service on the embedded default: SQLite ./opensure.db + Maildir ./outbox, one process.
serve: $(STAMP)
	$(BIN)/opensure serve

## Run the whole test suite (set OPENSURE_TEST_POSTGRES_URL to include PostgreSQL).
test: lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy --strict client/src
	$(BIN)/mypy src/opensure

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench.api

## Five minutes of mixed load on the production shape (PostgreSQL: OPENSURE_BENCH_POSTGRES_URL).
soak: $(STAMP)
	$(BIN)/python -m bench.soak

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
