"""C-STORE as an arrival: a received file goes through the one ingest pipeline, and its
outcome becomes a DIMSE status (PS3.4 B.2.3). Knows nothing of associations."""

from pathlib import Path

from archive import intake, storage
from archive.ingest import IngestResult, Status

SUCCESS = 0x0000
ELEMENTS_DISCARDED = 0xB006  # warning: what was sent was not kept (the stored copy stays)
OUT_OF_RESOURCES = 0xA700
NOT_MATCHING = 0xA900  # data set does not match SOP class
CANNOT_UNDERSTAND = 0xC000
PROCESSING_FAILURE = 0x0110
REFUSED_NOT_AUTHORIZED = 0x0124

FAILURES = {OUT_OF_RESOURCES, NOT_MATCHING, CANNOT_UNDERSTAND, PROCESSING_FAILURE}


def spool_dir() -> Path:
    """Where the listener's received data sets are written as they arrive: beside the stored
    files (same filesystem), so ingesting one moves it into place without a copy."""
    path = storage.incoming_dir() / "dimse"
    path.mkdir(parents=True, exist_ok=True)
    return path


def ingest(path: Path) -> IngestResult:
    """Hand a received Part-10 file (file meta written by the listener, then the data set as
    it came off the wire) to the ingest pipeline, which owns it from here: it is moved into
    place or deleted."""
    try:
        spooled = storage.hash_file(path)
    except OSError as exc:
        storage.discard(path)
        return IngestResult(Status.REJECTED, f"cannot read received file: {exc.strerror}",
                            OUT_OF_RESOURCES)  # fmt: skip
    return intake.receive_many([spooled])[0]


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
