"""Where instance files live under settings.DICOM_STORAGE_DIR, and how they get there.

A file is streamed to a temporary file beside its final place (same filesystem), hashed on
the way, and only then renamed into place, so a reader never sees half a file. Paths are
built from validated UIDs only. Knows nothing of DICOM parsing, HTTP or Celery.
"""

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

CHUNK = 1024 * 1024


@dataclass
class Spooled:
    path: Path
    size: int
    sha256: str
    flushed: bool = False  # its bytes are on disk (``flush``): placing it only renames it


def root() -> Path:
    return Path(settings.DICOM_STORAGE_DIR)


def incoming_dir() -> Path:
    path = root() / ".incoming"
    path.mkdir(parents=True, exist_ok=True)
    return path


def spool_dirs() -> list[Path]:
    """Every folder of files on their way in: ``.incoming`` and any other ``.incoming-*`` a
    door writes to before it hands the file to ingest (the DICOM listener's)."""
    incoming_dir()
    return sorted(path for path in root().glob(".incoming*") if path.is_dir())


def placing_dir() -> Path:
    """Journals of placements under way (``archive.ingest.place``)."""
    path = root() / ".placing"
    path.mkdir(parents=True, exist_ok=True)
    return path


def instance_relpath(study_uid: str, series_uid: str, sop_uid: str) -> str:
    """The callers pass UIDs checked by ``uids.is_valid_uid``; digits and dots cannot escape."""
    return f"{study_uid}/{series_uid}/{sop_uid}.dcm"


class TooLarge(Exception):
    """A stream brought more bytes than its limit (clients may announce less than they send)."""

    def __init__(self, limit: int):
        super().__init__(f"more than the limit of {limit} bytes")
        self.limit = limit


class LimitedReader:
    """Wraps a stream and raises ``TooLarge`` as soon as more than ``limit`` bytes came through,
    so an upload is cut off while it streams, not after it filled the disk."""

    def __init__(self, source: BinaryIO, limit: int):
        self._source = source
        self._limit = limit
        self._count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self._count += len(data)
        if self._count > self._limit:
            raise TooLarge(self._limit)
        return data


def spool(source: BinaryIO) -> Spooled:
    """Copy a stream to a new temporary file in the storage area, hashing it on the way."""
    digest = hashlib.sha256()
    size = 0
    try:
        fd, name = tempfile.mkstemp(dir=root() / ".incoming", suffix=".part")
    except FileNotFoundError:  # the first file (a folder is made once, not checked each time)
        fd, name = tempfile.mkstemp(dir=incoming_dir(), suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except BaseException:
        os.unlink(name)
        raise
    return Spooled(Path(name), size, digest.hexdigest())


def hash_file(path: Path) -> Spooled:
    """Hash a file that is already in the storage area (a spooled upload) without copying it."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return Spooled(Path(path), size, digest.hexdigest())


def place(spooled: Spooled, relpath: str) -> Path:
    """Atomically move a spooled file to its final place, replacing what was there."""
    return place_many([(spooled, relpath)])[0]


def place_many(files: list[tuple[Spooled, str]]) -> list[Path]:
    """``place`` for many files: all of them or, when one cannot be moved, none (those already
    moved are deleted and the error raised).

    With STORAGE_FSYNC (the default, as Orthanc's SyncStorageArea) the files' bytes and the
    folder entries naming them are on disk before this returns, so before the index rows that
    point at them are committed: a power cut cannot leave a stored instance without its file.
    The files are flushed side by side, which lets the disk take them together.
    """
    finals = [root() / relpath for _, relpath in files]
    folders = {final.parent for final in finals}
    entries = _make_folders(folders)  # none when ``prepare`` made them
    flush([spooled for spooled, _ in files])
    placed = []
    try:
        for (spooled, _), final in zip(files, finals, strict=True):
            os.replace(spooled.path, final)
            placed.append(final)
    except OSError:
        for final in placed:
            final.unlink(missing_ok=True)
        raise
    if settings.STORAGE_FSYNC:
        # The folders that name the files, and the entries of any made just now; each
        # once, side by side (a slice of new studies has many).
        list(_flusher().map(_sync, dict.fromkeys([*folders, *entries])))
    return finals


def prepare(files: list[tuple[Spooled, str]]) -> None:
    """What ``place_many`` of these files can do before the transaction that places them
    begins: make the folders they go to, and (STORAGE_FSYNC) put their bytes and the new
    folders' entries on disk, all side by side. The database's locks (SQLite's one writer, a
    study's row) are then held for the renames and one flush of each folder, not for the
    disk's other writes: a new study's folders alone were three flushes inside the lock."""
    entries = _make_folders({(root() / relpath).parent for _, relpath in files})
    flush([spooled for spooled, _ in files], entries)


def _make_folders(folders: Iterable[Path]) -> list[Path]:
    """Make the folders that do not exist yet; returns what a flush must then cover for
    their entries to be on disk: each new folder, its parent (the study's) and the root."""
    new = [folder for folder in folders if not folder.exists()]
    for folder in new:
        folder.mkdir(parents=True, exist_ok=True)
    return list(dict.fromkeys(path for folder in new for path in (folder, folder.parent, root())))


def flush(files: list[Spooled], folders: Iterable[Path] = ()) -> None:
    """With STORAGE_FSYNC, put the spooled files' bytes (and these folders' entries) on
    disk, side by side."""
    pending = [spooled for spooled in files if not spooled.flushed]
    if settings.STORAGE_FSYNC and (pending or folders):
        list(_flusher().map(_sync, [*(spooled.path for spooled in pending), *folders]))
        for spooled in pending:
            spooled.flushed = True


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_flushers: dict[int, ThreadPoolExecutor] = {}
_flushers_lock = threading.Lock()


def _flusher() -> ThreadPoolExecutor:
    """This process's flushing threads (a forked child, e.g. an import worker, has none of
    its parent's: it makes its own)."""
    pid = os.getpid()
    with _flushers_lock:
        if pid not in _flushers:
            _flushers[pid] = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fsync")
        return _flushers[pid]


def discard(path: Path) -> None:
    Path(path).unlink(missing_ok=True)


def delete(relpath: str) -> None:
    """Remove a stored file and the folders it leaves empty (series, then study)."""
    final = root() / relpath
    final.unlink(missing_ok=True)
    for folder in (final.parent, final.parent.parent):
        try:
            folder.rmdir()
        except OSError:
            break


def delete_tree(study_uid: str, series_uid: str | None = None) -> None:
    folder = root() / study_uid if series_uid is None else root() / study_uid / series_uid
    shutil.rmtree(folder, ignore_errors=True)
    if series_uid is not None:
        with contextlib.suppress(OSError):
            (root() / study_uid).rmdir()
