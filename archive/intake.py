"""The entry every way DICOM arrives calls: ingest, then schedule the cache build.

Upload page, STOW-RS and ``import_dicom`` all go through here (the paperless pattern), so the
follow-up work is the same whichever way a file came in. Knows nothing of HTTP.
"""

from pathlib import Path
from typing import BinaryIO

from . import ingest, storage, tasks
from .ingest import IngestResult


def receive_path(path: Path | str) -> IngestResult:
    return _scheduled(ingest.ingest_path(path))


def receive_stream(source: BinaryIO) -> IngestResult:
    return _scheduled(ingest.ingest_stream(source))


def receive_spooled(spooled: storage.Spooled) -> IngestResult:
    return _scheduled(ingest.ingest_spooled(spooled))


def receive_prepared(batch: list[ingest.Prepared]) -> list[IngestResult]:
    """The second half for files of one study that ``ingest.prepare_many`` already read
    (STOW-RS), indexed together."""
    return [_scheduled(result) for result in ingest.index_many(batch)]


def _scheduled(result: IngestResult) -> IngestResult:
    if result.changed and result.study_pk is not None:
        tasks.schedule_cache_build(result.study_pk, result.generation)
        if result.moved_from_study_pk is not None:
            tasks.schedule_cache_build(result.moved_from_study_pk)
    return result
