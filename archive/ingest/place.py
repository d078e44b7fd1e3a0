"""Moving spooled files to their final places (a folder or a bucket, ``stores``), with a
journal that makes a crash harmless.

Files are placed before the index rows naming them commit (a row must never point at a file
that is not there), so a process killed between the renames and the commit would leave final
files without rows. Before it places anything, ``Placement`` writes the files' paths to a
journal in ``storage.placing_dir()``; the journal goes once the rows are committed (or the
files are taken back after a rollback). A journal older than any placement can take names
files of a process that died in between: ``settle_interrupted`` removes those of them that
no row names. New files get new paths (a replacement too), so taking one back never removes a
file a committed row still names.
"""

import contextlib
import time
import uuid
from pathlib import Path

from django.db import transaction

from .. import storage, stores
from ..models import Instance


class PlaceFailed(Exception):
    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


class Placement:
    """Files placed for one transaction. ``undo`` takes them back; ``done`` (after commit)
    drops the journal. Use ``place`` to make one."""

    def __init__(self, relpaths: list[str]):
        self.relpaths = relpaths
        self.journal = storage.placing_dir() / f"{uuid.uuid4().hex}.txt"

    def undo(self) -> None:
        try:
            stores.current().delete_many(self.relpaths)
        except OSError:
            return  # the journal stays: ``settle_interrupted`` removes them later
        self.done()

    def done(self) -> None:
        self.journal.unlink(missing_ok=True)


def prepare(files: list[tuple[storage.Spooled, str]]) -> None:
    """What the store can do for these files (and the paths they will have) before the
    transaction that places them begins (a folder: make their folders, flush their bytes),
    so that it holds its locks for less time."""
    # On an error placing them fails the same way, inside the transaction, and reports it.
    with contextlib.suppress(OSError):
        stores.current().prepare(files)


def place(files: list[tuple[storage.Spooled, str]]) -> Placement:
    """Journal, then place every file (or none: ``PlaceFailed``). Call inside the transaction
    that writes the rows; the journal is dropped when it commits."""
    placement = Placement([relpath for _, relpath in files])
    try:
        _write(placement.journal, placement.relpaths)
        stores.current().place_many(files)
    except OSError as exc:
        # The store took back what it placed; a bucket out of reach may have kept some, and
        # then the journal stays for ``settle_interrupted``.
        placement.undo()
        raise PlaceFailed(exc) from exc
    transaction.on_commit(placement.done, robust=True)
    return placement


def _write(journal: Path, relpaths: list[str]) -> None:
    """Not flushed to disk: the journal is for a process that dies (its page cache outlives
    it), at no cost per batch; a power cut's leftovers are for ``check_archive``."""
    journal.write_text("\n".join(relpaths))


def settle_interrupted(older_than: float = 3600) -> int:
    """Remove placed files that no committed row names, from journals left by processes that
    died between placing and committing; returns how many files went. A journal younger than
    ``older_than`` seconds may belong to a placement still under way and is left alone."""
    removed = 0
    cutoff = time.time() - older_than
    for journal in sorted(storage.placing_dir().glob("*.txt")):
        try:
            if journal.stat().st_mtime > cutoff:
                continue
            relpaths = [line for line in journal.read_text().splitlines() if line]
        except FileNotFoundError:
            continue
        named = set(
            Instance.objects.filter(file_path__in=relpaths).values_list("file_path", flat=True)
        )
        store = stores.current()
        for relpath in relpaths:
            if relpath not in named and store.size(relpath) is not None:
                store.delete(relpath)
                removed += 1
        journal.unlink(missing_ok=True)
    return removed
