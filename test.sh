#!/usr/bin/env bash
# Run the whole test suite. Sets up what it needs first (same .venv as run.sh, plus test
# tools, Debian's Chromium for the browser tests, dcmtk and Orthanc for the DICOM network tests).
#
# Pass 1: PostgreSQL + Redis (TEST_DATABASE_URL, TEST_REDIS_URL, TEST_CACHE_URL; default: the
#         local servers, the cache in Redis database 1), when reachable; every test.
# Pass 2: the embedded default, SQLite + filesystem broker; every test but the browser ones
#         and the fault suite (they ran in pass 1; the fault suite runs a deployment as
#         compose does, on PostgreSQL and Redis), beside passes 1 and 3; or every test when
#         pass 1 could not run.
# Pass 3 (with pass 1): STORAGE_BACKEND=s3 against SeaweedFS (tests/seaweed/), the tests that
#         store and read files (tests/dicomweb, tests/worklist; not the browser ones).
# Extra arguments go to pytest in every pass, e.g. ./test.sh -k ingest. Pass 1 prints its 25
# slowest tests, to keep the suite within its 15 minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh test

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian's chromium for the browser tests"
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    echo "!! chromium is not installed: the browser tests will be skipped (apt-get install chromium)"
  fi
fi

# Real DICOM peers for the DIMSE tests: dcmtk's tools (storescu, findscu, movescu, getscu,
# storescp) and Orthanc.
if ! command -v storescu >/dev/null 2>&1 || [ ! -x /usr/sbin/Orthanc ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian's dcmtk and orthanc for the DICOM network tests"
    apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=600 dcmtk orthanc >/dev/null
  else
    echo "!! dcmtk or orthanc is not installed: DICOM network tests with them will be skipped"
  fi
fi

# The fault suite (-m faults) starts Redis servers of its own, on free ports.
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian's redis-server for the fault tests"
    apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=600 redis-server >/dev/null
  else
    echo "!! redis-server is not installed: the fault tests will fail (apt-get install redis-server)"
  fi
fi

echo "==> ruff"
.venv/bin/ruff check .

pg_url=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
redis_url=${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}
# The shared cache, in another database of the same server; keys carry this run's prefix.
cache_url=${TEST_CACHE_URL:-${redis_url%/*}/1}
reachable() { .venv/bin/python - "$1" <<'PY'
import socket, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
try:
    socket.create_connection((u.hostname, u.port), timeout=2).close()
except OSError:
    sys.exit(1)
PY
}

work=$(mktemp -d)
pass2_pid=""
# An interrupted run stops pass 2 too (SIGINT: pytest tears its fixtures down, workers and
# peers included).
trap '[ -n "$pass2_pid" ] && pkill -INT -P "$pass2_pid"; wait; rm -rf "$work"' EXIT
status=0

# Pass 2 runs beside passes 1 and 3 when they run: the suite spends most of its time waiting
# (browsers, workers, peers), about a fifth of two cores busy on average, so side by side
# they take the time of the longest instead of the sum. Its output follows theirs.
pass2() {
  env -u DATABASE_URL -u CELERY_BROKER_URL -u REDIS_URL -u CACHE_URL DATA_DIR="$work/sqlite" \
    .venv/bin/pytest --basetemp="$work/pytest-sqlite" "$@"
}

if reachable "$pg_url" && reachable "$redis_url"; then
  echo "==> pass 2 (SQLite + filesystem broker, the embedded default) starts beside pass 1; its output comes after pass 3"
  pass2 -m "not browser and not faults" "$@" >"$work/pass2.log" 2>&1 &
  pass2_pid=$!
  echo "==> pass 1: PostgreSQL + Redis"
  DATA_DIR="$work/pg" DATABASE_URL="$pg_url" CELERY_BROKER_URL="$redis_url" \
    CACHE_URL="$cache_url" CACHE_KEY_PREFIX="test-$$" \
    .venv/bin/pytest --basetemp="$work/pytest-pg" --durations=25 "$@" || status=$?
  echo "==> pass 3: PostgreSQL + Redis, files in an S3 bucket (SeaweedFS): the tests that store and read files"
  TEST_STORAGE_BACKEND=s3 DATA_DIR="$work/s3" DATABASE_URL="$pg_url" CELERY_BROKER_URL="$redis_url" \
    CACHE_URL="$cache_url" CACHE_KEY_PREFIX="test-s3-$$" \
    .venv/bin/pytest --basetemp="$work/pytest-s3" -m "not browser" tests/dicomweb tests/worklist "$@" \
    || status=$?
  pass2_status=0
  wait "$pass2_pid" || pass2_status=$?
  pass2_pid=""
  echo "==> pass 2: SQLite + filesystem broker (embedded default), run beside passes 1 and 3"
  cat "$work/pass2.log"
  [ "$pass2_status" = 0 ] || status=$pass2_status
else
  echo "!! PostgreSQL ($pg_url) or Redis ($redis_url) not reachable: pass 1 skipped"
  echo "==> pass 2: SQLite + filesystem broker (embedded default), every test"
  pass2 "$@" || status=$?
fi
exit $status
