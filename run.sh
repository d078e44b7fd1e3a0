#!/usr/bin/env bash
# Set everything up and run the archive: web server on http://127.0.0.1:${PORT:-8000}/ and a
# Celery worker. With no environment variables it runs embedded (SQLite, files and broker
# under var/); see the README for DATABASE_URL, CELERY_BROKER_URL and the rest.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh

py=.venv/bin/python
$py manage.py migrate --noinput -v 0
$py manage.py collectstatic --noinput -v 0
$py manage.py ensure_admin

$py -m celery -A ohifsite worker -l INFO --concurrency "${WORKER_CONCURRENCY:-2}" &
worker=$!
# On exit the worker gets a warm shutdown (it finishes its task); should it hang, it is killed
# after 15 s, which is safe: tasks are acknowledged late and idempotent, so they run again.
stop_worker() {
  kill -TERM "$worker" 2>/dev/null || return 0
  for _ in $(seq 30); do
    kill -0 "$worker" 2>/dev/null || return 0
    sleep 0.5
  done
  echo "==> the worker did not stop in 15 s; killing it"
  kill -KILL "$worker" 2>/dev/null || true
}
trap stop_worker EXIT INT TERM

echo "==> serving on http://${HOST:-127.0.0.1}:${PORT:-8000}/  (Ctrl-C stops web server and worker)"
.venv/bin/gunicorn ohifsite.wsgi --bind "${HOST:-127.0.0.1}:${PORT:-8000}" \
  --workers "${WEB_CONCURRENCY:-2}" --threads 4 --timeout 300 --access-logfile -
