# leadhub: `make run` serves the app with demo data; `make test` runs the whole suite.
SHELL := /bin/bash
PORT ?= 8000
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The newest Python 3.12+ on this machine: python3.13, python3.12, then python3.
# pyenv shims for versions not selected fail to run, so their installs are tried directly too.
define find_python
for c in python3.13 python3.12 python3 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do \
  if "$$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then command -v "$$c"; exit 0; fi; \
done; exit 1
endef

.PHONY: run serve smoke test test-fast test-pg browser-deps screenshots bench migrate lint clean

$(STAMP): requirements.txt
	@python=$$($(find_python)) || { echo "leadhub needs Python 3.12 or newer (tried python3.13, python3.12, python3); install one and run make again." >&2; exit 1; }; \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	  echo "Creating $(VENV) with $$python"; rm -rf $(VENV); "$$python" -m venv $(VENV) || exit 1; fi
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

# The default run: SQLite file, Celery tasks eager (no broker), DEBUG on, demo data.
RUN_ENV := DEBUG=1 DATABASE_URL=sqlite:///$(CURDIR)/db.sqlite3 CELERY_BROKER_URL=

run: $(STAMP)
	$(RUN_ENV) $(PY) manage.py migrate --no-input -v 0
	$(RUN_ENV) $(PY) manage.py seed_demo --if-empty
	@echo ""
	@echo "  leadhub is at http://127.0.0.1:$(PORT)/"
	@echo "  Sign in as sdr1, sdr2, sdr3, marketer, manager or admin; password: leadhub-demo"
	@echo ""
	@# No beat in the default run: the SLA check (breaches, escalations) runs every minute beside the server.
	$(RUN_ENV) bash -c '(while sleep 60; do $(PY) manage.py check_sla >/dev/null 2>&1; done) & loop=$$!; \
	  trap "kill $$loop 2>/dev/null" EXIT INT TERM; $(PY) manage.py runserver 127.0.0.1:$(PORT)'

# The production shape on this machine: gunicorn + Celery worker + beat on PostgreSQL and Redis.
# Override DATABASE_URL, CELERY_BROKER_URL, PORT, WEB_CONCURRENCY, WORKER_CONCURRENCY as needed.
SERVE_ENV := DEBUG=0 SECURE_SSL_REDIRECT=0 SECURE_COOKIES=0 \
  DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/leadhub} \
  CELERY_BROKER_URL=$${CELERY_BROKER_URL:-redis://127.0.0.1:6379/0} \
  DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-$$(cat .secret-key 2>/dev/null || (python3 -c 'import secrets; print(secrets.token_urlsafe(50))' | tee .secret-key))}

# deploy/supervise.py restarts a process that exits; only the database DATABASE_URL names is created.
serve: $(STAMP)
	$(SERVE_ENV) $(PY) deploy/ensure_database.py
	$(SERVE_ENV) PORT=$(PORT) deploy/serve.sh

migrate: $(STAMP)
	$(RUN_ENV) $(PY) manage.py migrate

# Browser tests drive Debian's Chromium; install it when missing (needs root and apt).
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    (apt-get install -y -q chromium >/dev/null || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)); \
	  else echo "The browser tests need /usr/bin/chromium: run 'sudo apt-get install chromium'." >&2; exit 1; fi; \
	fi

# The suite runs in parallel (pytest-xdist): WORKERS processes, each with its own test database
# (test_<name>_gw0, _gw1, ... on PostgreSQL), browser, live server and private Redis. Tests are
# handed out one at a time, so the long ones do not queue up behind each other.
# WORKERS=0 runs in one process (for a debugger).
WORKERS ?= auto
XDIST = $(if $(filter 0,$(WORKERS)),,-n $(WORKERS) --dist worksteal)

# The whole suite: unit, API and browser tests. DATABASE_URL picks the database (SQLite by default).
test: $(STAMP) browser-deps
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

# Everything but the browser tests.
test-fast: $(STAMP)
	$(PY) -m pytest $(XDIST) -m "not browser" $(PYTEST_ARGS)

test-pg: $(STAMP) browser-deps
	DATABASE_URL=$${PG_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/leadhub} $(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

screenshots: $(STAMP) browser-deps
	$(PY) docs/screenshots.py

# Every benchmark on PostgreSQL at a size that takes about 10 minutes; BENCH_ARGS=--full for 1M leads.
bench: $(STAMP)
	$(PY) bench/run_all.py $(BENCH_ARGS)

# The linter and the formatter's check (what the pre-commit hooks run: .pre-commit-config.yaml),
# the import contract and the type check (pyproject.toml [tool.mypy] lists the modules).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

# The production shape (gunicorn, Celery worker and beat) on PostgreSQL and Redis, started,
# exercised and stopped: deploy/smoke.py.
smoke: $(STAMP)
	$(PY) deploy/smoke.py

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache
