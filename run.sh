#!/usr/bin/env bash
# Set everything up and run the archive: web server on http://127.0.0.1:${PORT:-8000}/, a
# Celery worker and the DICOM listener on port ${DICOM_PORT:-11112}. With no environment variables it runs embedded (SQLite, files and broker
# under var/); see the README for DATABASE_URL, CELERY_BROKER_URL and the rest.
#
# The processes run under scripts/supervise.py, which takes this script's pid (exec): TERM,
# INT (Ctrl-C) or HUP to it stops every one of them within STOP_TIMEOUT seconds (default 10),
# and one that exits on its own is restarted.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh

py=.venv/bin/python
$py manage.py migrate --noinput -v 0
$py manage.py collectstatic --noinput -v 0
$py manage.py ensure_admin

# One line per process: NAME=COMMAND (gunicorn's other settings are in gunicorn.conf.py).
processes=(
  "web=.venv/bin/gunicorn ohifsite.wsgi --bind ${HOST:-127.0.0.1}:${PORT:-8000}"
  "worker=$py -m celery -A ohifsite worker -l INFO --concurrency ${WORKER_CONCURRENCY:-2}"
)
# The DICOM listener (C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET), unless DICOM_PORT is 0.
[ "${DICOM_PORT:-11112}" = 0 ] || processes+=("dicom=$py manage.py dicom_listener")

echo "==> serving on http://${HOST:-127.0.0.1}:${PORT:-8000}/  (pid $$; Ctrl-C or kill $$ stops everything)"
exec $py scripts/supervise.py "${processes[@]}"
