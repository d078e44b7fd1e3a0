# Sourced by run.sh and test.sh: makes .venv and installs what pyproject.toml (and, for the
# viewer, package.json) asks for. Idempotent: a stamp of the dependency files skips the work
# when nothing changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
extras=${1:-}

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)"
# An install with extras (test.sh's) has what one without them (run.sh's) needs.
if [ ! -f "$stamp${extras:+-$extras}" ] && { [ -n "$extras" ] || ! compgen -G "$stamp*" >/dev/null; }; then
  echo "==> installing Python dependencies${extras:+ (with $extras)}"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
  touch "$stamp${extras:+-$extras}"
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
