# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
# The first interpreter found that really runs and is 3.11 or newer.
PY ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; \
	done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-pg test-clocks lint format bench bench-pg clean

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PY)" || { echo "Huodian needs Python 3.11 or newer on PATH" >&2; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/huodian up

# The 20 slowest tests are listed at the end: what to look at when CI grows.
test: install
	$(BIN)/python -m pytest -q --durations=20

# The same suite against PostgreSQL (HUODIAN_TEST_DATABASE_URL or the local `test` database).
test-pg: install
	HUODIAN_TEST_DATABASE_URL=$${HUODIAN_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test} \
		$(BIN)/python -m pytest -q

# The SQLite suite under three shifted clocks at once (needs Debian's faketime).
test-clocks: install
	.ci/shifted-clocks

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared services

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Every benchmark against its own baseline in one run: one table of ratios, bench/results.json.
# QUICK=1: 1/100 of the rows (under a minute). The PostgreSQL cases run when
# HUODIAN_BENCH_DATABASE_URL (else HUODIAN_TEST_DATABASE_URL, else the local `test` database)
# answers, and are listed as skipped otherwise.
bench: install
	QUICK=$(QUICK) nice $(BIN)/python bench/run.py

# Kept as an alias of `bench`, which now runs the PostgreSQL cases too.
bench-pg: bench

clean:
	rm -rf $(VENV) var
