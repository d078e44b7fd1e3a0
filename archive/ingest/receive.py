"""``receive``: the one entry point. Every door (STOW-RS, the worklist upload, ``import_dicom``,
the DICOM network) hands its files here as ``Arrival``s and reports the results.

Every file is spooled and read first (one query finds those whose bytes are already stored);
then the new instances of every study are indexed and placed in one transaction
(``index.index_studies``, which locks studies in UID order so that two writers cannot
deadlock): a slice of small one-instance studies costs one commit and one flush of the disk,
not one of each per study. ``instances_received`` is sent once the results are
known, inside the transaction that wrote them (so an access log's rows commit with what they
record); the cache builds (``archive.tasks``) and anything else that follows an arrival
listen to it, so the pipeline knows nothing of Celery.
"""

from collections.abc import Callable, Iterable, Iterator

from django.dispatch import Signal

from ohifsite.prepared import prepared_statements

from .. import storage
from . import read
from .arrival import Arrival
from .index import index_studies
from .outcome import DATA_SET_DOES_NOT_MATCH, IngestResult, Rejected, rejected
from .spool import Spool

# Sent with ``arrivals`` and ``results`` (same order) once every ``receive``: inside the
# transaction that wrote the slice's rows (or the caller's, if any; none when nothing was
# written). Receivers write in it and queue work with ``on_commit``; should the transaction
# start again (a concurrent writer), what they wrote is rolled back and they are called again.
instances_received = Signal()

# How many files a door holding many (import_dicom, a zip) hands to ``receive`` at a time, and
# about how many bytes: enough for a study's instances to share transactions, few enough that
# progress shows, an interruption waits little and one slice never fills the spool.
BATCH_FILES = 32
BATCH_BYTES = 256 * 1024 * 1024


def receive(arrivals: Iterable[Arrival]) -> list[IngestResult]:
    """Store what can be stored; one result per arrival, in order. Every spooled file is
    gone when this returns or raises (placed in the archive, or deleted)."""
    arrivals = list(arrivals)
    results: dict[int, IngestResult] = {}
    with Spool() as spool:
        for arrival in arrivals:
            spool.adopt(arrival)
        taken = [spool.take(arrival) for arrival in arrivals]
        files = {i: one for i, one in enumerate(taken) if isinstance(one, storage.Spooled)}
        results.update({i: one for i, one in enumerate(taken) if isinstance(one, IngestResult)})
        known = read.already_stored(list(files.values()))
        studies: dict[str, list[tuple[int, read.Parsed]]] = {}
        for i, spooled in files.items():
            expected = arrivals[i].expected_study_uid
            if (found := known.get((spooled.sha256, spooled.size))) is not None:
                results[i] = _check_study(found, expected)
                continue
            try:
                parsed = read.parse(spooled)
            except Rejected as exc:
                results[i] = exc.result()
                continue
            if expected and parsed.study_instance_uid != expected:
                results[i] = _other_study(expected, parsed.uids())
                continue
            studies.setdefault(parsed.study_instance_uid, []).append((i, parsed))
        grouped = list(studies.values())

        def announce(indexed: list[list[IngestResult]]) -> list[IngestResult]:
            for files, study_results in zip(grouped, indexed, strict=True):
                for (i, _), result in zip(files, study_results, strict=True):
                    results[i] = result
            ordered = [results[i] for i in range(len(arrivals))]
            instances_received.send(sender=Arrival, arrivals=arrivals, results=ordered)
            return ordered

        if not grouped:
            return announce([])
        # Announced inside the slice's transaction: the access log's rows commit with it.
        # Prepared statements; not the lookup of stored bytes above: in a new archive, before
        # PostgreSQL has statistics, the plan it kept for that one read the whole table.
        with prepared_statements():
            index_studies([[parsed for _, parsed in files] for files in grouped], announce)
    return [results[i] for i in range(len(arrivals))]


def batches(items: Iterable, size_of: Callable[[object], int] = lambda item: 0) -> Iterator[list]:
    """``items`` in slices of at most ``BATCH_FILES`` and, past the first item, ``BATCH_BYTES``."""
    batch, total = [], 0
    for item in items:
        size = size_of(item)
        if batch and (len(batch) >= BATCH_FILES or total + size > BATCH_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += size
    if batch:
        yield batch


def _check_study(result: IngestResult, expected: str | None) -> IngestResult:
    if not expected or result.study_instance_uid == expected:
        return result
    return _other_study(expected, _uids(result))


def _other_study(expected: str, uids: dict) -> IngestResult:
    return rejected(
        f"Study Instance UID is not {expected}, the study of the request URL",
        DATA_SET_DOES_NOT_MATCH,
        **uids,
    )


def _uids(result: IngestResult) -> dict[str, str]:
    return {key: getattr(result, key) for key in read.UID_KEYS}
