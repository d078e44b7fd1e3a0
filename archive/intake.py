"""The entry every way DICOM arrives calls: ingest, then schedule the cache build.

Upload page, STOW-RS and ``import_dicom`` all go through here (the paperless pattern), so the
follow-up work is the same whichever way a file came in. Knows nothing of HTTP.
"""

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from django.db import transaction

from . import ingest, storage, tasks
from .ingest import IngestResult


def receive_path(path: Path | str) -> IngestResult:
    return _scheduled(ingest.ingest_path(path))


def receive_stream(source: BinaryIO) -> IngestResult:
    return _scheduled(ingest.ingest_stream(source))


def receive_spooled(spooled: storage.Spooled) -> IngestResult:
    return _scheduled(ingest.ingest_spooled(spooled))


# How many files callers holding many (import_dicom, a zip uploaded on the worklist) hand to
# ``receive_many`` at a time: enough for a study's instances to share transactions, few enough
# that progress shows and an interruption waits little.
BATCH_FILES = 32


def receive_many(
    spooled: list[storage.Spooled | IngestResult],
    refuse: Callable[[ingest.Prepared | IngestResult], IngestResult | None] | None = None,
) -> list[IngestResult]:
    """Files of one STOW-RS request or one slice of an import, consumed whatever happens;
    results in the same order. An ``IngestResult`` in the list (a file that could not be
    spooled) is passed through.

    Every file is read first (one query finds those already stored); ``refuse`` may then turn
    one away (STOW-RS: not the study of the URL). The instances of each study are indexed
    together in one transaction (``ingest.index_many``): one commit and a handful of statements
    per study instead of several per instance. A transaction never spans two studies, so two
    writers that lock the same studies in another order cannot deadlock.
    """
    results: dict[int, IngestResult] = {}
    files = {i: one for i, one in enumerate(spooled) if not isinstance(one, IngestResult)}
    results.update({i: one for i, one in enumerate(spooled) if isinstance(one, IngestResult)})
    prepared = dict(zip(files, ingest.prepare_many(list(files.values())), strict=True))
    studies: dict[str, list[tuple[int, ingest.Prepared]]] = {}
    try:
        for i, one in prepared.items():
            if refuse is not None and (refused := refuse(one)) is not None:
                if isinstance(one, ingest.Prepared):
                    one.discard()
                results[i] = refused
            elif isinstance(one, ingest.Prepared):
                studies.setdefault(one.study_instance_uid, []).append((i, one))
            else:  # refused by ingest, or its bytes already stored: nothing more to do
                results[i] = one
        for batch in studies.values():
            with transaction.atomic():
                indexed = ingest.index_many([one for _, one in batch])
                for (i, _), result in zip(batch, indexed, strict=True):
                    results[i] = _scheduled(result)
    finally:
        for one in prepared.values():
            if isinstance(one, ingest.Prepared):
                one.discard()
    return [results[i] for i in range(len(spooled))]


def _scheduled(result: IngestResult) -> IngestResult:
    if result.changed and result.study_pk is not None:
        tasks.schedule_cache_build(result.study_pk, result.generation)
        if result.moved_from_study_pk is not None:
            tasks.schedule_cache_build(result.moved_from_study_pk)
    return result
