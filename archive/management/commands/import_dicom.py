"""``manage.py import_dicom PATH...``: bulk import of folders (recursive) and zip archives.

Every file goes through ``archive.ingest.receive`` exactly as an upload or a STOW-RS part
does, so the result of each file is the one ingest reports, and a re-run after an interruption
stores what is missing and reports the rest as already stored. Zip members are streamed to the
ingest one by one; the archive is never extracted whole.
"""

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import time
import warnings
import zipfile
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections
from tqdm import tqdm

from archive.ingest import Arrival, IngestResult, Origin, Status, batches, receive, zips

EXAMPLES_PER_REASON = 3


@dataclass(frozen=True)
class Item:
    """One file to import: a file on disk, or a member of a zip archive on disk."""

    path: Path
    size: int
    member: str | None = None

    @property
    def label(self) -> str:
        return f"{self.path}:{self.member}" if self.member is not None else str(self.path)


@dataclass
class Scan:
    items: list[Item] = field(default_factory=list)
    # Things that could not even be listed (an unreadable folder, a broken zip), with why.
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    # Files that are not instances (a DICOMDIR, an OS's own files), with why.
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(item.size for item in self.items)


def scan(paths: list[Path]) -> Scan:
    """List every file under the given paths, in a stable order, before importing any."""
    found = Scan()
    for path in paths:
        if path.is_dir():
            for folder, dirs, files in os.walk(path, onerror=lambda e: _unreadable(found, e)):
                dirs.sort()
                for name in sorted(files):
                    _add_file(found, Path(folder) / name)
        else:
            _add_file(found, path)
    return found


def _unreadable(found: Scan, exc: OSError) -> None:
    found.unreadable.append((str(exc.filename), f"cannot read folder: {exc.strerror}"))


def _add_file(found: Scan, path: Path) -> None:
    if (why := zips.not_an_instance(path.name)) is not None:
        found.skipped.append((str(path), why))
        return
    if path.suffix.lower() == ".zip":
        _add_zip(found, path)
        return
    try:
        found.items.append(Item(path, path.stat().st_size))
    except OSError as exc:
        found.unreadable.append((str(path), f"cannot read file: {exc.strerror}"))


def _add_zip(found: Scan, path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = zips.members(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        found.unreadable.append((str(path), f"not a readable zip archive: {exc}"))
        return
    for info in members:
        if (why := zips.not_an_instance(info.filename)) is not None:
            found.skipped.append((f"{path}:{info.filename}", why))
        else:
            found.items.append(Item(path, info.file_size, info.filename))


class ZipReaders:
    """The zip archive a process is reading, kept open while its members come one after the
    other. One per process: each has its own file handle, so no read position is shared."""

    def __init__(self):
        self.path: Path | None = None
        self.archive: zipfile.ZipFile | None = None

    def open(self, path: Path, member: str):
        if path != self.path:
            self.close()
            self.archive = zipfile.ZipFile(path)
            self.path = path
        return self.archive.open(member)

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()
        self.path = self.archive = None


def import_items(items: list[Item], readers: ZipReaders) -> list[IngestResult]:
    """A slice of the import, stored together: the instances of a study in one transaction,
    which is most of the speed of a bulk import."""
    return receive(_arrival(item, readers) for item in items)


def _arrival(item: Item, readers: ZipReaders) -> Arrival:
    origin = Origin(door="import")
    if item.member is None:
        return Arrival.from_path(item.path, item.label, origin=origin)
    return Arrival.from_opener(
        lambda: readers.open(item.path, item.member), item.label, origin=origin
    )


@dataclass
class Summary:
    """What happened to each file, grouped for the closing report."""

    counts: Counter = field(default_factory=Counter)
    # Reason group (the reason up to its first colon) -> [(file, full reason)].
    rejected: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0

    def add(self, label: str, size: int, result: IngestResult) -> None:
        self.files += 1
        self.bytes += size
        self.counts[result.status] += 1
        if result.status is Status.REJECTED:
            self.reject(label, result.reason)
        elif result.status is Status.KEPT_EXISTING:
            self.kept.append(label)

    def reject(self, label: str, reason: str) -> None:
        group = reason.split(":", 1)[0]
        self.rejected.setdefault(group, []).append((label, reason))

    @property
    def rejected_count(self) -> int:
        return sum(len(files) for files in self.rejected.values())

    def lines(
        self, elapsed: float, skipped: list[tuple[str, str]], all_examples: bool
    ) -> list[str]:
        seconds = max(elapsed, 1e-9)
        lines = [
            f"{self.files} files, {self.bytes / 1e6:.1f} MB in {elapsed:.1f} s:"
            f" {self.files / seconds:.1f} files/s, {self.bytes / 1e6 / seconds:.1f} MB/s",
        ]
        for status in (Status.STORED, Status.ALREADY_STORED, Status.REPLACED):
            lines.append(f"  {status.value}: {self.counts[status]}")
        lines.append(f"  {Status.KEPT_EXISTING.value}: {len(self.kept)}")
        if self.kept:
            lines.append("    (same SOP Instance UID, other bytes; OVERWRITE_INSTANCES is off)")
            lines += [f"    {label}" for label in self._examples(self.kept, all_examples)]
        lines.append(f"  {Status.REJECTED.value}: {self.rejected_count}")
        by_size = sorted(self.rejected.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        for group, files in by_size:
            lines.append(f"    {len(files)} x {group}")
            for label, reason in self._examples(files, all_examples):
                detail = "" if reason == group else f"  ({reason})"
                lines.append(f"        {label}{detail}")
        if skipped:
            lines.append(f"  skipped: {len(skipped)} files that are not instances")
            for label, why in self._examples(skipped, all_examples):
                lines.append(f"        {label}  ({why})")
        return lines

    @staticmethod
    def _examples(entries: list, all_examples: bool) -> list:
        return entries if all_examples else entries[:EXAMPLES_PER_REASON]


class Command(BaseCommand):
    help = (
        "Import DICOM files from folders (recursively) and .zip archives through the archive's"
        " one ingest path. Prints a summary; exits with status 1 if any file was rejected."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path, help="files, folders or .zip archives")
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help="files imported at the same time, in as many processes (default 1)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, paths, workers, no_progress, verbosity, **options):
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise CommandError(f"no such file or folder: {', '.join(missing)}")
        if workers < 1:
            raise CommandError("--workers must be at least 1")

        found = scan(paths)
        summary = Summary()
        for label, reason in found.unreadable:
            summary.reject(label, reason)
        tqdm.monitor_interval = 0  # no monitor thread in a process that forks workers
        bar = tqdm(
            total=found.total_bytes,
            unit="B",
            unit_scale=True,
            desc="import",
            disable=no_progress or verbosity == 0,
            file=sys.stderr,
            mininterval=0.5,
            dynamic_ncols=True,
        )
        started = time.monotonic()

        def record(item: Item, result: IngestResult) -> None:
            summary.add(item.label, item.size, result)
            if verbosity >= 2:
                bar.write(f"{result.status.value}: {item.label} {result.reason}".rstrip())
            bar.update(item.size)
            rate = summary.files / max(time.monotonic() - started, 1e-9)
            bar.set_postfix_str(
                f"{summary.files}/{len(found.items)} files, {rate:.0f} files/s", refresh=False
            )

        interrupted = False
        try:
            with quiet_pydicom(verbosity < 2):
                run(found.items, workers, record)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
        elapsed = time.monotonic() - started
        if summary.counts[Status.STORED] + summary.counts[Status.REPLACED] >= ANALYZE_AFTER:
            refresh_planner_statistics()

        for line in summary.lines(elapsed, found.skipped, all_examples=verbosity >= 2):
            self.stdout.write(line)
        if interrupted:
            left = len(found.items) - summary.files
            raise CommandError(
                f"interrupted with {left} files not imported; run again to import them"
                " (what is stored is skipped as already stored)",
                returncode=130,
            )
        if summary.rejected_count:
            raise CommandError(f"{summary.rejected_count} files rejected", returncode=1)


# After a bulk import the database's planner still counts the rows of before it, until
# autovacuum analyzes the tables (a minute or more later); a search made meanwhile may take a
# plan fit for an empty archive, ten times slower.
ANALYZE_AFTER = 1000


def refresh_planner_statistics() -> None:
    connection = connections["default"]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE archive_study, archive_series, archive_instance")


@contextlib.contextmanager
def quiet_pydicom(quiet: bool):
    """pydicom warns about every oddity it reads past; in a bulk import that buries the
    progress bar. Rejections carry their reason anyway; -v 2 shows the warnings too."""
    if not quiet:
        yield
        return
    logger = logging.getLogger("pydicom")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
            yield
    finally:
        logger.setLevel(level)


def run(items: list[Item], workers: int, record) -> None:
    """Import every item, ``workers`` processes at a time, each given a slice of files at a
    time (``archive.ingest.batches``); ``record`` is called once per item, in this process.

    Processes, not threads: parsing and indexing are Python code that holds the GIL. On Ctrl-C
    every file already handed out is finished (the workers ignore it), so none is left half done.
    """
    slices = list(batches(items, lambda item: item.size))
    if workers == 1:
        readers = ZipReaders()
        try:
            for part in slices:
                for item, result in zip(part, _import_safely(part, readers), strict=True):
                    record(item, result)
        finally:
            readers.close()
        return

    connections.close_all()  # a forked child must not share this process's connection
    pending: deque = deque()

    def finish(part, result) -> None:
        for item, one in zip(part, result.get(), strict=True):
            record(item, one)

    with multiprocessing.get_context("fork").Pool(workers, initializer=_worker_init) as pool:
        try:
            for part in slices:
                pending.append((part, pool.apply_async(_import_in_worker, (part,))))
                # A short queue: results come back as they finish, and Ctrl-C waits little.
                while pending and (len(pending) >= 2 * workers or pending[0][1].ready()):
                    finish(*pending.popleft())
            while pending:
                finish(*pending.popleft())
        except KeyboardInterrupt:
            for part, result in pending:
                finish(part, result)
            raise


_worker_zips: ZipReaders | None = None


def _worker_init() -> None:
    global _worker_zips
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    _worker_zips = ZipReaders()


def _import_in_worker(items: list[Item]) -> list[IngestResult]:
    return _import_safely(items, _worker_zips)


def _import_safely(items: list[Item], readers: ZipReaders) -> list[IngestResult]:
    """Ingest promises a result for any input; should a slice fail anyway, its files are
    tried one by one (those it stored are found again by their hash), so one bad file is
    reported and the import goes on. A database that is down stops the import instead."""
    try:
        return import_items(items, readers)
    except DatabaseError:
        raise
    except Exception as exc:
        if len(items) == 1:
            return [IngestResult(Status.REJECTED, f"ingest failed: {type(exc).__name__}: {exc}")]
        return [result for item in items for result in _import_safely([item], readers)]
