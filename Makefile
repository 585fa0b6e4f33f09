# Two entry points: `make run` (demo catalog) and `make test` (whole suite).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
export CATALOG_DATABASE_URL ?= sqlite:///$(CURDIR)/var/catalog.db

.PHONY: run test test-slow test-data lint install dev pg redis browsers java node screenshots clean

# torch first and pinned: the CPU build comes from local disk; a looser pin downloads CUDA.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[ranker]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[ranker,dev,spark]'
	touch $@

# The pages' JavaScript from npm as package-lock.json pins it, into node_modules/ (ignored by
# git; nothing of it is committed): swagger-ui-dist for /api/docs and dagre for the lineage
# graph; `make dev` adds the dev dependencies (axe-core, which the browser tests inject). No
# package's install scripts (telemetry) are run.
API_DOCS := node_modules/swagger-ui-dist/swagger-ui-bundle.js
WEB_DEV := node_modules/axe-core/axe.min.js

$(API_DOCS): package.json package-lock.json | node
	npm ci --omit=dev --ignore-scripts --no-audit --no-fund
	touch $@

$(WEB_DEV): package.json package-lock.json | node
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@ $(API_DOCS)

# npm (and node) from Debian when missing.
node:
	@command -v npm >/dev/null || (apt-get update && apt-get install -y nodejs npm)

install: $(VENV)/.installed $(API_DOCS)
dev: $(VENV)/.installed-dev $(WEB_DEV)

# Migrate, serve, and run the demo loop (synthetic data -> pipeline -> train -> promote -> score ->
# feedback) into the catalog; prints an admin login and token.
run: install
	mkdir -p var
	$(BIN)/catalog db upgrade
	$(BIN)/catalog demo --host $(HOST) --port $(PORT)

# PostgreSQL must be reachable: the database suite runs on it as well as on SQLite.
pg:
	@pg_isready -q -h 127.0.0.1 -p 5432 || \
	  (command -v pg_ctlcluster >/dev/null && \
	   pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start; sleep 2; \
	   pg_isready -h 127.0.0.1 -p 5432) || \
	  (echo "PostgreSQL is not reachable at 127.0.0.1:5432" >&2; exit 1)

# Redis must be reachable too: the run queue's tests use a real one (CATALOG_TEST_REDIS_URL, default
# 127.0.0.1:6379) and fail, never skip, without it. Started here (installed first if need be).
redis:
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || \
	  ((command -v redis-server >/dev/null || (apt-get update && apt-get install -y redis-server)) && \
	   redis-server --daemonize yes --bind 127.0.0.1 --port 6379 >/dev/null; \
	   for i in 1 2 3 4 5 6 7 8 9 10; do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && exit 0; \
	     sleep 0.5; done; exit 1) || \
	  (echo "Redis is not reachable at 127.0.0.1:6379" >&2; exit 1)

# The Spark engine's tests (pyspark 4 in the `spark` extra) need Java 17: Debian's, when missing.
java:
	@command -v java >/dev/null || (apt-get update && apt-get install -y openjdk-17-jre-headless)

# The browser tests drive Debian's Chromium through Playwright; they fail without it.
browsers:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

# The default suite needs nothing beside the clone: its data files are made by the tests.
test: dev pg redis browsers java
	$(BIN)/python -m pytest -q -m "not slow and not real_data"

test-slow: dev pg redis browsers java
	$(BIN)/python -m pytest -q -m "slow and not real_data"

# The tests on the real data sets in ../shared/data (CATALOG_TEST_SHARED_DATA to point
# elsewhere); they fail, not skip, when the data is missing.
test-data: dev pg
	$(BIN)/python -m pytest -q -m real_data

# Refresh the README's screenshots: `make run`'s demo on a fresh database, photographed by Chromium.
screenshots: dev browsers
	$(BIN)/python docs/screenshots.py

lint: dev
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var node_modules
