"""The lock files setup.sh installs from: made from pyproject.toml's current dependency lists,
pinning each with hashes, and what this test runs on is what they pin."""

import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import dependencies  # noqa: E402

PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)(?:\s*;\s*(.*?))?\s*\\?$")
LOCKS = {"requirements.lock": "", "requirements-test.lock": "test"}


def pins(lock: str) -> dict[str, str]:
    """name -> version for this interpreter (a universal lock may pin one per Python)."""
    found = {}
    for line in (ROOT / lock).read_text().splitlines():
        if (match := PIN.match(line)) and (not match[3] or Marker(match[3]).evaluate()):
            found[canonicalize_name(match[1])] = match[2]
    return found


@pytest.mark.parametrize("lock", LOCKS)
def test_the_lock_was_made_from_the_current_dependency_lists(lock):
    recorded = (ROOT / lock).read_text().splitlines()[1]
    assert recorded == f"# pyproject-dependencies: {dependencies.digest()}", (
        "pyproject.toml's dependencies changed since the lock was made: run scripts/lock.sh"
    )


@pytest.mark.parametrize("lock, extra", LOCKS.items())
def test_every_requirement_is_pinned_with_hashes(lock, extra):
    pinned = pins(lock)
    for requirement in map(Requirement, dependencies.requirements(extra)):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not in {lock}"
        assert requirement.specifier.contains(pinned[name], prereleases=True)
    text = (ROOT / lock).read_text()
    assert text.count("==") <= text.count("--hash=sha256:")


def test_the_product_lock_has_the_test_locks_versions():
    test_pins = pins("requirements-test.lock")
    assert all(test_pins[name] == v for name, v in pins("requirements.lock").items())


def test_what_runs_the_tests_is_what_the_test_lock_pins():
    installed = {}
    for name in pins("requirements-test.lock"):
        try:
            installed[name] = version(name)
        except PackageNotFoundError:
            installed[name] = None
    assert installed == pins("requirements-test.lock")
