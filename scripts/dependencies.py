"""What pyproject.toml asks for, for setup.sh and lock.sh: `digest` names the dependency
lists a lock file was made from (recorded in it, so setup.sh can tell a stale lock), `list
[EXTRA]` prints the requirements one a line. Stdlib only: it runs before anything is installed.
"""

import hashlib
import json
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def project() -> dict:
    return tomllib.loads(PYPROJECT.read_text())["project"]


def digest() -> str:
    """Of the dependency lists only: other edits of pyproject.toml do not stale the lock."""
    lists = {"": project().get("dependencies", []), **project().get("optional-dependencies", {})}
    return hashlib.sha256(json.dumps(lists, sort_keys=True).encode()).hexdigest()[:16]


def requirements(extra: str = "") -> list[str]:
    wanted = list(project().get("dependencies", []))
    if extra:
        wanted += project().get("optional-dependencies", {})[extra]
    return wanted


if __name__ == "__main__":
    match sys.argv[1:]:
        case ["digest"]:
            print(digest())
        case ["list", *extra]:
            print("\n".join(requirements(*extra)))
        case _:
            sys.exit(__doc__)
