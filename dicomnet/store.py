"""C-STORE as an arrival: a received file goes through the one ingest pipeline, and its
outcome becomes a DIMSE status (PS3.4 B.2.3). Knows nothing of associations."""

from pathlib import Path

from archive import storage
from archive.ingest import (
    CANNOT_UNDERSTAND,
    DATA_SET_DOES_NOT_MATCH,
    OUT_OF_RESOURCES,
    PROCESSING_FAILURE,
    Arrival,
    IngestResult,
    Origin,
    Status,
    failure_of,
    receive,
)

SUCCESS = 0x0000
ELEMENTS_DISCARDED = 0xB006  # warning: what was sent was not kept (the stored copy stays)
FAILURES = {OUT_OF_RESOURCES, DATA_SET_DOES_NOT_MATCH, CANNOT_UNDERSTAND, PROCESSING_FAILURE}


def spool_dir() -> Path:
    """Where the listener's received data sets are written as they arrive: beside the stored
    files (same filesystem), so ingesting one moves it into place without a copy."""
    path = storage.root() / ".incoming-dimse"
    path.mkdir(parents=True, exist_ok=True)
    return path


def ingest(path: Path, calling_ae: str) -> IngestResult:
    """Hand a received Part-10 file (file meta written by the listener, then the data set as
    it came off the wire) to the ingest pipeline, which owns it from here: it is moved into
    place or deleted."""
    try:
        spooled = storage.hash_file(path)
    except OSError as exc:
        storage.discard(path)
        return not_spooled(exc)
    origin = Origin(door="dimse", calling_ae=calling_ae)
    return receive([Arrival.from_spooled(spooled, f"C-STORE from {calling_ae}", origin=origin)])[0]


def not_spooled(exc: OSError) -> IngestResult:
    """A data set that could not be written as it arrived (a full disk): the pipeline's one
    mapping of the error, as every door reports it."""
    reason, code = failure_of(exc)
    return IngestResult(Status.REJECTED, reason, code)


def status_of(result: IngestResult) -> tuple[int, str]:
    """The C-STORE response status and its error comment (at most 64 characters)."""
    if result.status in (Status.STORED, Status.REPLACED, Status.ALREADY_STORED):
        # Identical bytes sent again are held as sent: success, so a modality retrying a
        # send sees nothing wrong.
        return SUCCESS, ""
    if result.status is Status.KEPT_EXISTING:
        return ELEMENTS_DISCARDED, "other bytes stored under this SOP Instance UID kept"
    code = result.failure_code if result.failure_code in FAILURES else CANNOT_UNDERSTAND
    return code, result.reason[:64]
