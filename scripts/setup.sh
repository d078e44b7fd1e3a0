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
ohif_pin=$(.venv/bin/python -c 'import json; print(json.load(open("package.json"))["dependencies"]["@ohif/app"])')
ohif_have=$(.venv/bin/python -c 'import json; print(json.load(open("node_modules/@ohif/app/package.json"))["version"])' 2>/dev/null || true)
if [ "$ohif_have" != "$ohif_pin" ] || [ ! -f node_modules/@ohif/app/dist/index.html ]; then
  command -v npm >/dev/null || { echo "!! npm is needed to install the OHIF viewer (apt-get install npm)"; exit 1; }
  echo "==> installing the OHIF viewer (@ohif/app $ohif_pin)"
  npm ci --ignore-scripts --no-audit --no-fund --engine-strict=false --loglevel=error
fi
.venv/bin/python manage.py compress_ohif --skip-checks
