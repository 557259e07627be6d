# Arena — the two commands are `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet

# Tests always run on PostgreSQL and Redis; these are the defaults when the environment sets none.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/arena
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test lint typecheck pytest bench format lock messages schema clean help

help:
	@echo "make run    install (first time), migrate, load the demo and run web + worker + beat"
	@echo "make test   lint, type checks and the whole test suite (PostgreSQL and Redis on 127.0.0.1)"
	@echo "make bench  benchmarks on large data (minutes); prints BENCH <name> <value> <unit>"

$(VENV)/.runtime-installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.runtime-installed requirements-dev.txt
	$(PIP) install -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime-installed
	$(BIN)/python manage.py arena_run

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev-installed
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/mypy .

pytest: $(VENV)/.dev-installed
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(BIN)/python -m pytest $(if $(CI),--create-db) $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(VENV)/.dev-installed
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(BIN)/python -m pytest tests/benchmarks -o python_files="bench_*.py" -s -q $(PYTEST_ARGS)

format: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Re-pin the whole dependency tree from pyproject.toml.
lock:
	rm -rf var/lock-venv
	$(PYTHON) -m venv var/lock-venv
	var/lock-venv/bin/pip install --quiet --disable-pip-version-check .
	var/lock-venv/bin/pip freeze --exclude arena > requirements.txt
	var/lock-venv/bin/pip install --quiet --disable-pip-version-check ".[dev]"
	(echo "-r requirements.txt"; var/lock-venv/bin/pip freeze --exclude arena | grep -vxFf requirements.txt) \
		> requirements-dev.txt
	rm -rf var/lock-venv build *.egg-info

messages: $(VENV)/.runtime-installed
	$(BIN)/python manage.py makemessages --locale zh_Hans --ignore "$(VENV)/*" --ignore "var/*" --ignore "tests/*" --no-obsolete
	$(BIN)/python manage.py compilemessages --locale zh_Hans --ignore "$(VENV)/*"

clean:
	rm -rf var/broker var/celerybeat-schedule* .pytest_cache .mypy_cache .ruff_cache

# Regenerate the committed OpenAPI schema (make test fails when it is out of date).
schema: $(VENV)/.runtime-installed
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(BIN)/python manage.py spectacular --lang en --file openapi.yaml --validate
