"""The pinned OHIF build on disk: which version the project pins, which one is installed, and
the gzip copies made once after installing so that the big bundles go out compressed without
compressing them per request. Knows nothing of HTTP.

The pin lives in package.json / package-lock.json at the repository root; ``npm ci
--ignore-scripts`` installs exactly that tarball (the lock file carries its integrity hash).
"""

import gzip
import json
import os
from pathlib import Path

# The command that installs (or repairs) the build; system checks print it.
INSTALL_COMMAND = "bash scripts/setup.sh"
PACKAGE = "@ohif/app"

# Text-like files worth compressing; images and fonts (woff2) are compressed already.
COMPRESSIBLE = (".js", ".mjs", ".css", ".html", ".json", ".wasm", ".svg", ".map", ".txt", ".xml")
# Marks a finished precompression of one installed version (a half-done run is redone).
STAMP = ".ohifsite-gzip"


def pinned_version(root: Path) -> str:
    """The exact version package.json asks for (no ranges: the pin must be exact)."""
    wanted = json.loads((root / "package.json").read_text())["dependencies"][PACKAGE]
    return wanted


def installed_version(build_dir: Path) -> str | None:
    """Version of the package whose ``dist/`` is ``build_dir``, or None if it is not there."""
    package_json = build_dir.parent / "package.json"
    if not (build_dir / "index.html").is_file() or not package_json.is_file():
        return None
    return json.loads(package_json.read_text()).get("version")


def is_precompressed(build_dir: Path) -> bool:
    stamp = build_dir / STAMP
    return stamp.is_file() and stamp.read_text() == (installed_version(build_dir) or "")


def precompress(build_dir: Path, level: int = 6) -> int:
    """Write ``<file>.gz`` beside every compressible file that gains from it; idempotent.

    Returns the number of files written. A ``.gz`` is kept only when it is at least 10%
    smaller, so the server can send whichever exists.
    """
    if is_precompressed(build_dir):
        return 0
    written = 0
    for folder, _, names in os.walk(build_dir):
        for name in names:
            if not name.endswith(COMPRESSIBLE):
                continue
            path = Path(folder) / name
            data = path.read_bytes()
            packed = gzip.compress(data, compresslevel=level, mtime=0)
            target = path.with_name(name + ".gz")
            if len(packed) < len(data) * 0.9:
                tmp = target.with_name(target.name + ".tmp")
                tmp.write_bytes(packed)
                tmp.replace(target)
                written += 1
            elif target.exists():
                target.unlink()
    (build_dir / STAMP).write_text(installed_version(build_dir) or "")
    return written
