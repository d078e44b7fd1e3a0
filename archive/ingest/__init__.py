"""The one ingest pipeline: every way DICOM arrives ends in ``receive``.

    door (STOW-RS, upload, import_dicom, C-STORE)
      -> Arrival(file, label, expected_study_uid, origin)
      -> receive():  spool.Spool     copy into the spool; owns every temporary file
                     read.parse      DICOM? which study, series, instance? (once per file)
                     index.index_studies  one transaction for all: rows (new studies in
                                          bulk, held ones under their lock: held), then
                     place.place          files moved into place (journaled), then commit
      -> [IngestResult]  and the signal instances_received (cache builds follow it)

Knows nothing of HTTP, DIMSE or Celery.
"""

from .arrival import Arrival, Origin
from .outcome import (
    CANNOT_UNDERSTAND,
    DATA_SET_DOES_NOT_MATCH,
    OUT_OF_RESOURCES,
    PROCESSING_FAILURE,
    IngestResult,
    Status,
    failure_of,
)
from .receive import BATCH_BYTES, BATCH_FILES, batches, instances_received, receive
from .spool import Spool

__all__ = [
    "Arrival",
    "BATCH_BYTES",
    "BATCH_FILES",
    "CANNOT_UNDERSTAND",
    "DATA_SET_DOES_NOT_MATCH",
    "IngestResult",
    "OUT_OF_RESOURCES",
    "Origin",
    "PROCESSING_FAILURE",
    "Spool",
    "Status",
    "batches",
    "failure_of",
    "instances_received",
    "receive",
]
