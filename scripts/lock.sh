#!/usr/bin/env bash
# Makes the lock files setup.sh installs from, after a change of the dependencies in
# pyproject.toml (whose ranges stay, for those who install the package):
#   requirements.lock        what the product needs (run.sh, the container image)
#   requirements-test.lock   that plus the test extras (test.sh); same versions for both
# with every package's hashes, for Python 3.11+ on any platform. Pins already in the lock files
# are kept where pyproject.toml still allows them; pass uv's options to move them:
#   scripts/lock.sh                          # after adding or changing a dependency
#   scripts/lock.sh --upgrade-package celery # one package to its newest allowed version
#   scripts/lock.sh --upgrade                # everything
# Commit both files. Uses uv (installed into .venv if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
[ -x .venv/bin/uv ] || .venv/bin/python -m pip install --quiet uv
digest=$(.venv/bin/python scripts/dependencies.py digest)

compile() {  # OUTPUT [uv options]
  local out=$1; shift
  .venv/bin/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
    --generate-hashes --no-header --output-file "$out" "$@"
  { echo "# Made by scripts/lock.sh from pyproject.toml; do not edit (README, \"Dependencies\")."
    echo "# pyproject-dependencies: $digest"
    cat "$out"; } > "$out.new"
  mv "$out.new" "$out"
}
# The test lock first (the superset), then the product lock held to its versions.
compile requirements-test.lock --extra test "$@"
compile requirements.lock --constraint requirements-test.lock
echo "==> requirements.lock and requirements-test.lock made for pyproject-dependencies $digest"
