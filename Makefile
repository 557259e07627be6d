# Arena — the two commands are `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet

# Tests always run on PostgreSQL and Redis; these are the defaults when the environment sets none.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/arena
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

# The browser tests drive the system Chromium, and Chinese text needs a CJK font: both come from Debian
# packages, installed by `make test` when missing (as root, with apt-get).
CHROMIUM ?= /usr/bin/chromium
CJK_FONT ?= /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
APT_GET ?= apt-get
browser_missing = $(strip $(if $(wildcard $(CHROMIUM)),,chromium) $(if $(wildcard $(CJK_FONT)),,fonts-wqy-microhei))
browser_help = the browser tests need the Debian packages $(browser_missing); install them as root with: apt-get install $(browser_missing)
can_install = $(and $(filter 0,$(shell id -u)),$(shell command -v $(APT_GET)))

.PHONY: run test lint typecheck pytest browser-deps bench format lock messages schema clean help

help:
	@echo "make run    install (first time), migrate, load the demo and run web + worker + beat"
	@echo "make test   lint, type checks and the whole test suite (PostgreSQL and Redis on 127.0.0.1)"
	@echo "make bench  benchmarks on large data (minutes); prints BENCH <name> <value> <unit>"

$(VENV)/.runtime-installed: requirements.txt
	@test -x $(BIN)/python || { echo "[1/2] creating the virtual environment in $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "[2/2] installing the packages of requirements.txt (the first time takes a minute or two)"
	@started=$$(date +%s); $(PIP) install -r requirements.txt && \
		echo "      installed in $$(( $$(date +%s) - started )) s"
	@touch $@

$(VENV)/.dev-installed: $(VENV)/.runtime-installed requirements-dev.txt
	$(PIP) install -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime-installed
	$(BIN)/python manage.py arena_run $(ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The type checker and the schema generator load the settings without serving anything: a throwaway key.
TOOLS_KEY = SECRET_KEY=$${SECRET_KEY:-tools-only-not-a-server-key-0123456789abcdefghij}

typecheck: $(VENV)/.dev-installed
	DATABASE_URL=$(TEST_DATABASE_URL) $(TOOLS_KEY) $(BIN)/mypy .

pytest: browser-deps $(VENV)/.dev-installed
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(BIN)/python -m pytest $(if $(CI),--create-db) $(PYTEST_ARGS)

test: browser-deps lint typecheck pytest

# Nothing to do (and nothing printed) when both are there; one line saying what to install when they
# are missing and cannot be installed here.
browser-deps:
ifeq ($(browser_missing),)
	@:
else
	$(if $(can_install),,$(error $(browser_help)))
	@echo "installing $(browser_missing) for the browser tests"
	@export DEBIAN_FRONTEND=noninteractive; $(APT_GET) update -qq && $(APT_GET) install -y -qq $(browser_missing) >/dev/null \
		|| { echo "apt-get failed: $(browser_help)" >&2; exit 1; }
	@test -x $(CHROMIUM) -a -f $(CJK_FONT) || { echo "still missing after apt-get: $(browser_help)" >&2; exit 1; }
endif

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
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(TOOLS_KEY) $(BIN)/python manage.py spectacular --lang en --file openapi.yaml --validate
