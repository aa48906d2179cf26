# Two commands a newcomer needs:  make run   and   make test   (see README.md).
# Both create the virtualenv and install what they need from the lock files on first use.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install browser run test test-sqlite lint migrate demo clean

# Dependencies: one hashed lock per group (pip checks every hash), compiled by `make lock`
# from requirements/*.in, which say what each package is for. A stamp per group:
#   runtime  requirements.txt        web, workers, beat
#   dev      requirements/dev.txt    make run, make lint, make lock
#   test     requirements/test.txt   the suite
#   bench    requirements/bench.txt  make bench, make soak
$(VENV)/.installed-runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements/dev.txt $(VENV)/.installed-runtime
$(VENV)/.installed-test: requirements/test.txt $(VENV)/.installed-dev
$(VENV)/.installed-bench: requirements/bench.txt $(VENV)/.installed-dev
$(VENV)/.installed-dev $(VENV)/.installed-test $(VENV)/.installed-bench:
	$(BIN)/python -m pip install --quiet -r $<
	touch $@

## install: a developer's virtualenv: runtime, dev and test (the bench's group comes with make bench)
install: $(VENV)/.installed-test

## lock: recompile every lock file from requirements/*.in, keeping the pinned versions
## where the .in files allow them (UPGRADE=1: move everything to the newest allowed)
.PHONY: lock
PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes --strip-extras \
	--allow-unsafe --no-emit-index-url --no-emit-find-links $(if $(UPGRADE),--upgrade,)
lock: $(VENV)/.installed-dev
	$(PIP_COMPILE) --output-file requirements.txt requirements/base.in
	$(PIP_COMPILE) --output-file requirements/dev.txt requirements/dev.in
	$(PIP_COMPILE) --output-file requirements/test.txt requirements/test.in
	$(PIP_COMPILE) --output-file requirements/bench.txt requirements/bench.in

## browser: Debian's chromium for the browser tests (they skip, saying why, when none can be had)
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) ; } \
	  || echo "No chromium and no way to install it here: the browser tests will be skipped."

## wrk: Debian's wrk, the bench's low-CPU HTTP client for the web path (its rows are skipped without it)
.PHONY: wrk
wrk:
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get update -qq && apt-get install -y -qq wrk >/dev/null) ; } \
	  || echo "No wrk and no way to install it here: the bench skips its wrk rows."

## run: set up, migrate, load demo data and start web + workers + beat (SQLite by default).
## Development: DEBUG=1 (the settings default to production); the key is made once in var/.
run: export DEBUG = 1
run: $(VENV)/.installed-dev
	$(BIN)/python -m tools.ensure_redis
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python -m tools.seed_demo
	rm -rf var/prometheus  # the metrics files of the last run's processes (docs/observability.md)
	@echo "Starting web (http://127.0.0.1:$${PORT:-8000}/api/), workers and beat; Ctrl-C stops them."
	$(BIN)/honcho start -f Procfile.dev --port $${PORT:-8000}

## prod: the production process set (Procfile) here: DEBUG=0 on PostgreSQL (DATABASE_URL, default db
## shop_prod, created if missing), the release step (migrate, collectstatic), then gunicorn on
## $PORT (8000), the workers and beat. What it sets and why: tools/localprod.py, docs/deploy.md.
.PHONY: prod
prod: $(VENV)/.installed-dev
	$(BIN)/python -m tools.localprod

# lint's manage.py checks (migrations, system checks) need no production secret: development mode.
lint: export DEBUG = 1

## test: set up and run the whole suite (PostgreSQL when DATABASE_URL says so, else SQLite)
test: $(VENV)/.installed-test lint browser
	DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/python -m tools.ensure_redis
	$(BIN)/pytest -m "not own_broker" $(PYTEST_ARGS)
	@# These stop and restart a Redis of their own and repoint this process's Celery at
	@# it: they get a pytest session of their own, apart from the flow tests' worker.
	$(BIN)/pytest -m own_broker $(PYTEST_ARGS)

## screenshots: rewrite the README's console screenshots (docs/screenshots/) from the browser test
.PHONY: screenshots
screenshots: $(VENV)/.installed-test browser
	DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/python -m tools.ensure_redis
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/e2e $(PYTEST_ARGS)

## test-sqlite: the no-oversell races, the refund guarantees and retention on SQLite, whatever DATABASE_URL says
test-sqlite: install
	DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/python -m tools.ensure_redis
	env -u DATABASE_URL $(BIN)/pytest -m "race or refund or retention" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=1 $(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py check

clean:
	rm -rf var/*.sqlite3* var/celerybeat-schedule* .pytest_cache

## bench: start a private stack (PostgreSQL db shop_bench, Redis db 12, gunicorn :8099, workers, beat),
## run the load scenarios, write docs/benchmarks.md and docs/bench/saga.png (QUICK=1: under 5 minutes)
.PHONY: bench
bench: $(VENV)/.installed-bench wrk
	$(BIN)/python -m tools.bench $(if $(QUICK),--quick,)

## soak: a private stack (PostgreSQL db shop_soak, its own Redis, gunicorn, workers, beat) under mixed load
## with workers SIGKILLed every 20–40 s, Redis and beat restarted once; then the invariants (MINUTES=10)
.PHONY: soak
soak: $(VENV)/.installed-bench
	$(BIN)/python -m tools.soak --minutes $(or $(MINUTES),10)
