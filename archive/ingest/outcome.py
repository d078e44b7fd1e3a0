"""What happened to one arrival, in the terms every door reports: a status, and for a failure
the DICOM failure reason (PS3.18 Table 10.5.3-3 for STOW-RS, PS3.7 Annex C for C-STORE).

The reasons are DICOM statuses, not HTTP ones; each door turns them into its own answer.
"""

import errno
from dataclasses import dataclass, replace
from enum import StrEnum

from ..stores import StorageUnavailable


class Status(StrEnum):
    STORED = "stored"
    ALREADY_STORED = "already stored"
    REPLACED = "replaced"
    # Same SOP Instance UID, other bytes, and OVERWRITE_INSTANCES off: the stored file stays.
    KEPT_EXISTING = "kept existing"
    REJECTED = "rejected"


NOT_DICOM = "not a DICOM file (no DICM prefix after the 128-byte preamble)"

CANNOT_UNDERSTAND = 0xC000
DATA_SET_DOES_NOT_MATCH = 0xA900
PROCESSING_FAILURE = 0x0110
OUT_OF_RESOURCES = 0xA700

# Errors that mean the archive ran out of room or handles, not that something is broken: a
# sender may try again later (A7xx "Refused: Out of Resources").
_OUT_OF_RESOURCES = {errno.ENOSPC, errno.EDQUOT, errno.ENOMEM, errno.EMFILE, errno.ENFILE}


def failure_of(exc: OSError) -> tuple[str, int]:
    """The one mapping from an error writing the archive's files to a reason and a DICOM
    failure code, for every door and every step (spooling, placing)."""
    unavailable = isinstance(exc, StorageUnavailable)  # a bucket out of reach: try again later
    code = OUT_OF_RESOURCES if unavailable or exc.errno in _OUT_OF_RESOURCES else PROCESSING_FAILURE
    return f"cannot store file: {exc.strerror or exc}", code


@dataclass(frozen=True)
class IngestResult:
    status: Status
    reason: str = ""
    failure_code: int | None = None
    sop_instance_uid: str = ""
    sop_class_uid: str = ""
    series_instance_uid: str = ""
    study_instance_uid: str = ""
    study_pk: int | None = None
    instance_pk: int | None = None
    # Whose study it is, as its row says (an instance may name the patient otherwise): the
    # access log records it without looking the study up again.
    patient_id: str = ""
    patient_name: str = ""
    # The study's generation after this change (None when nothing changed), so the cache
    # build can be queued without another query.
    generation: int | None = None
    # Set when a replaced instance moved to another study: that study changed too.
    moved_from_study_pk: int | None = None
    # The stored file a replacement made unneeded: whoever listens to ``instances_received``
    # deletes it once the transaction commits (``archive.tasks``).
    superseded_path: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not Status.REJECTED

    @property
    def changed(self) -> bool:
        """True when the archive's content changed, so caches must be rebuilt."""
        return self.status in (Status.STORED, Status.REPLACED)

    def rejected(self, reason: str, code: int) -> "IngestResult":
        """This arrival refused after all (its study could not be stored), UIDs kept."""
        return replace(
            self,
            status=Status.REJECTED,
            reason=reason,
            failure_code=code,
            study_pk=None,
            instance_pk=None,
            generation=None,
            moved_from_study_pk=None,
            superseded_path="",
        )


def rejected(reason: str, code: int = CANNOT_UNDERSTAND, **uids: str) -> IngestResult:
    return IngestResult(Status.REJECTED, reason, code, **uids)


class Rejected(Exception):
    """Raised while reading or indexing one arrival; becomes its ``rejected`` result."""

    def __init__(self, reason: str, code: int = CANNOT_UNDERSTAND, **uids: str):
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.uids = uids

    def result(self) -> IngestResult:
        return rejected(self.reason, self.code, **self.uids)
