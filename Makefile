# Every target sets up .venv itself when it is missing or pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: serve test lint format bench soak clean translations

$(STAMP): pyproject.toml client/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e ./client
	@touch $@

## Run the service on the embedded default: SQLite ./opensure.db + Maildir ./outbox, one process.
serve: $(STAMP)
	$(BIN)/opensure serve

## Run the whole test suite (set OPENSURE_TEST_POSTGRES_URL to include PostgreSQL): in parallel,
## one worker per core up to four (TEST_WORKERS=1 for one), then tests/production on its own,
## because its outage test restarts the PostgreSQL server the other tests use.
TEST_WORKERS ?= auto
test: lint
	$(BIN)/pytest -n $(TEST_WORKERS) --maxprocesses 4 --ignore=tests/production
	$(BIN)/pytest tests/production

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

## The built-in texts: extract them into messages.pot and merge it into every language's .po
## (then translate what is new or fuzzy; docs/languages.md). No compile step: .po is read at run.
LOCALE := src/opensure/locale
translations: $(STAMP)
	$(BIN)/pybabel extract --no-location --sort-output --omit-header -F $(LOCALE)/babel.cfg \
		-k N_ -o $(LOCALE)/messages.pot src/opensure
	$(BIN)/pybabel update --ignore-obsolete --ignore-pot-creation-date -i $(LOCALE)/messages.pot \
		-d $(LOCALE) -D messages

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
