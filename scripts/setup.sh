# Sourced by run.sh and test.sh (`source scripts/setup.sh test` adds the test extras): makes
# .venv and installs the locked Python dependencies and, for the viewer, package.json's OHIF.
# Idempotent: stamps of the lock files skip the work when nothing changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
extras=${1:-}

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
# The exact versions of requirements.lock (requirements-test.lock with the test extras), checked
# against their hashes; a stamp of the lock skips the work when nothing changed. The lock
# records which dependency lists of pyproject.toml it was made from: when they have changed
# since (a dependency added without running scripts/lock.sh), the lock is installed and then
# what pyproject.toml asks for beyond it, unpinned, with a warning.
lock=requirements${extras:+-$extras}.lock
[ -f "$lock" ] || { echo "!! $lock is missing: run scripts/lock.sh"; exit 1; }
stamp_of() { echo ".venv/.installed-$(cat "$1" pyproject.toml | sha256sum | cut -c1-16)"; }
stale=
if ! grep -qx "# pyproject-dependencies: $(.venv/bin/python scripts/dependencies.py digest)" "$lock"; then
  stale=1
  echo "!! $lock was made from other dependencies than pyproject.toml lists now: run"
  echo "!! scripts/lock.sh and commit the lock files. Meanwhile what is new is installed unpinned."
fi
if [ ! -f "$(stamp_of "$lock")" ]; then
  echo "==> installing Python dependencies from $lock"
  .venv/bin/python -m pip install --quiet --require-hashes --no-deps -r "$lock"
  if [ -n "$stale" ]; then
    .venv/bin/python -m pip install --quiet -r <(.venv/bin/python scripts/dependencies.py list $extras)
  fi
  touch "$(stamp_of "$lock")"
  # The test lock holds the product lock's versions and more: run.sh has nothing to add.
  [ -n "$stale" ] || touch "$(stamp_of requirements.lock)"
fi

# The OHIF viewer: the exact @ohif/app build pinned in package.json / package-lock.json (the
# lock lists that one package, so npm fetches only its tarball, checked against the lock's
# integrity hash, and none of its build-time dependencies). Skipped when already installed.
# With the test extras, also the second build the browser tests run against (its own
# package.json and lock in tests/e2e/ohif314/; never served by run.sh).
install_ohif() {
  local folder=$1 pin have
  pin=$(.venv/bin/python -c 'import json, sys; print(json.load(open(sys.argv[1]))["dependencies"]["@ohif/app"])' "$folder/package.json")
  have=$(.venv/bin/python -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$folder/node_modules/@ohif/app/package.json" 2>/dev/null || true)
  if [ "$have" != "$pin" ] || [ ! -f "$folder/node_modules/@ohif/app/dist/index.html" ]; then
    command -v npm >/dev/null || { echo "!! npm is needed to install the OHIF viewer (apt-get install npm)"; exit 1; }
    echo "==> installing the OHIF viewer (@ohif/app $pin) in $folder"
    (cd "$folder" && npm ci --ignore-scripts --no-audit --no-fund --engine-strict=false --loglevel=error)
  fi
}
install_ohif .
.venv/bin/python manage.py compress_ohif --skip-checks
if [ "$extras" = test ]; then
  install_ohif tests/e2e/ohif314
  OHIF_BUILD_DIR=tests/e2e/ohif314/node_modules/@ohif/app/dist \
    .venv/bin/python manage.py compress_ohif --skip-checks
fi
