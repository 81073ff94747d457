# `make run`: the platform with demo data on embedded defaults (SQLite, filesystem broker).
# `make test`: the whole suite on PostgreSQL and Redis. `make bench`, `make lint`.
SHELL := /bin/bash
# The interpreter of .venv: the distribution's where it has one (3.11 or newer, with venv), else
# python3 from PATH. Distributions build theirs with PGO and LTO and link the interpreter statically,
# as the python:3.11-slim image production runs is built; a plain source build (pyenv's default:
# no PGO, a shared libpython) runs the platform's Python about 15% slower (bench/payments.py, server
# CPU per flow). `make install PYTHON=...` picks another; remove .venv to rebuild it.
# (Linux only: macOS's /usr/bin/python3 is a stub that may offer to install Xcode's tools.)
SYSTEM_PYTHON := $(shell [ "$$(uname -s)" = Linux ] && /usr/bin/python3 -c \
	'import sys, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo /usr/bin/python3)
PYTHON ?= $(or $(SYSTEM_PYTHON),python3)
VENV := .venv
BIN := $(VENV)/bin
# The test and benchmark path: PostgreSQL and Redis on this machine unless told otherwise.
PG_URL ?= postgres://postgres@127.0.0.1:5432/payments
REDIS ?= redis://127.0.0.1:6379/0
TEST_ENV := PLATFORM_ENV=test DATABASE_URL=$${DATABASE_URL:-$(PG_URL)} REDIS_URL=$${REDIS_URL:-$(REDIS)} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(REDIS)}
PYTEST_WORKERS ?= 2

.PHONY: install run test fuzz bench lint format clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/.installed

run: install
	bash scripts/run.sh

# The API fuzzing runs in a pytest of its own: under pytest-xdist, schemathesis' per-operation
# items report as one and the others go unreported (the run still says "passed").
test: install
	$(TEST_ENV) $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --ignore=tests/fuzz $(PYTEST_ARGS)
	$(TEST_ENV) $(BIN)/pytest -p no:xdist tests/fuzz

# `make fuzz`: the API fuzzing of tests/fuzz/ at length (FUZZ_EXAMPLES cases per operation, plus
# schemathesis' coverage phase); `make test` runs the same tests with a dozen cases each.
FUZZ_EXAMPLES ?= 200
fuzz: install
	$(TEST_ENV) FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_COVERAGE=1 $(BIN)/pytest -p no:xdist tests/fuzz $(PYTEST_ARGS)

# `make bench`: every benchmark of bench/ (bench/run_all.py), then one combined table and JSON line.
# `make bench BENCH_QUICK=1`: short runs and small data sets, a smoke check. BENCH_ARGS: more options
# of the runner, e.g. BENCH_ARGS="--only ledger,history --markdown var/bench/figures.md".
BENCH_QUICK ?=
BENCH_ARGS ?=
bench: install
	$(TEST_ENV) BENCH_QUICK=$(BENCH_QUICK) $(BIN)/python bench/run_all.py $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf var .pytest_cache .ruff_cache .hypothesis
