#!/usr/bin/env bash
# The production shape on one machine: gunicorn (with whitenoise static files), a Celery
# worker and Celery beat, against DATABASE_URL and CELERY_BROKER_URL, supervised by
# deploy/supervise.py: a process that exits is restarted (with backoff), the others keep
# running; Ctrl-C or SIGTERM stops all three. In production, systemd units (deploy/systemd/)
# or one container per process do the supervising instead; see the README's operations section.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${DATABASE_URL:?Set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/leadhub}"
: "${CELERY_BROKER_URL:?Set CELERY_BROKER_URL, e.g. redis://127.0.0.1:6379/0}"
: "${DJANGO_SECRET_KEY:?Set DJANGO_SECRET_KEY (python -c 'import secrets; print(secrets.token_urlsafe(50))')}"
export DEBUG="${DEBUG:-0}"
export DJANGO_ALLOWED_HOSTS="${DJANGO_ALLOWED_HOSTS:-127.0.0.1,localhost}"
PY="${PY:-.venv/bin/python}"
RUN_DIR="${RUN_DIR:-$(mktemp -d -t leadhub-serve.XXXXXX)}"
export RUN_DIR
WORKER_CONCURRENCY="${WORKER_CONCURRENCY:-2}"

"$PY" manage.py migrate --no-input -v 0
"$PY" manage.py collectstatic --no-input -v 0

# The worker runs without gossip, mingle and worker heartbeats: leadhub uses none of them, and
# gossip's clean-up after a lost Redis connection is what crashed workers with
# "AttributeError: 'NoneType' object has no attribute 'hostname'" during a broker outage.
echo "leadhub: web on ${BIND:-127.0.0.1:${PORT:-8000}}, worker and beat supervised (pids in $RUN_DIR)"
exec "$PY" deploy/supervise.py --run-dir "$RUN_DIR" \
  "web=$PY -m gunicorn -c deploy/gunicorn.conf.py" \
  "worker=$PY -m celery -A leadhub worker -l info --concurrency=$WORKER_CONCURRENCY --without-gossip --without-mingle --without-heartbeat" \
  "beat=$PY -m celery -A leadhub beat -l info --schedule=$RUN_DIR/beat-schedule"
