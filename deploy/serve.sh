#!/usr/bin/env bash
# The production shape on one machine: gunicorn (with whitenoise static files), a Celery
# worker and Celery beat, against DATABASE_URL and CELERY_BROKER_URL. Ctrl-C stops all three.
# Scale out by running more of these (or just more workers) against the same database and broker.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${DATABASE_URL:?Set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/leadhub}"
: "${CELERY_BROKER_URL:?Set CELERY_BROKER_URL, e.g. redis://127.0.0.1:6379/0}"
: "${DJANGO_SECRET_KEY:?Set DJANGO_SECRET_KEY (python -c 'import secrets; print(secrets.token_urlsafe(50))')}"
export DEBUG="${DEBUG:-0}"
export DJANGO_ALLOWED_HOSTS="${DJANGO_ALLOWED_HOSTS:-127.0.0.1,localhost}"
PY="${PY:-.venv/bin/python}"
RUN_DIR="${RUN_DIR:-$(mktemp -d -t leadhub-serve.XXXXXX)}"
WORKER_CONCURRENCY="${WORKER_CONCURRENCY:-2}"

"$PY" manage.py migrate --no-input -v 0
"$PY" manage.py collectstatic --no-input -v 0

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

"$PY" -m gunicorn -c deploy/gunicorn.conf.py --pid "$RUN_DIR/web.pid" & pids+=($!)
"$PY" -m celery -A leadhub worker -l info --concurrency="$WORKER_CONCURRENCY" --pidfile="$RUN_DIR/worker.pid" & pids+=($!)
"$PY" -m celery -A leadhub beat -l info --pidfile="$RUN_DIR/beat.pid" --schedule="$RUN_DIR/beat-schedule" & pids+=($!)
echo "leadhub: web on ${BIND:-127.0.0.1:${PORT:-8000}}, worker and beat running (pids in $RUN_DIR)"
# Stop everything when any one of them exits.
wait -n
