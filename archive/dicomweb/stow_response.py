"""Store Instances (PS3.18 §10.5): each spooled part through ``archive.ingest``, then the Store
Instances Response (PS3.18 Table 10.5.3-2) as DICOM JSON, and its HTTP status.

Knows nothing of HTTP requests: the caller passes the absolute DICOMweb root for RetrieveURLs.

Codes used (PS3.18 Table 10.5.3-3 failure reasons, Table 10.5.3-4 warning reasons):

* 0xC000 cannot understand: not DICOM, damaged, truncated, UIDs missing or invalid.
* 0xA900 data set does not match: the instance's Study Instance UID is not the study named in
  the request URL (``POST /studies/{study}``); the instance is not stored.
* 0x0110 processing failure: e.g. its series already belongs to another study.
* 0xA700 out of resources: the disk is full or the file cannot be written.
* Warning 0xB006 elements discarded: the instance was already stored, so the copy sent was
  discarded; either identical (nothing to do) or different while ``OVERWRITE_INSTANCES`` is off
  (the stored one was kept). It is listed in ReferencedSOPSequence: the archive holds it.
"""

import logging
from dataclasses import dataclass

from ..ingest import (
    CANNOT_UNDERSTAND,
    Arrival,
    IngestResult,
    Origin,
    Status,
    batches,
    receive,
)

log = logging.getLogger(__name__)

ELEMENTS_DISCARDED = 0xB006

# The response's elements (PS3.18 Table 10.5.3-2)
RETRIEVE_URL = "00081190"
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_SEQUENCE = "00081199"
REFERENCED_SOP_CLASS_UID = "00081150"
REFERENCED_SOP_INSTANCE_UID = "00081155"
WARNING_REASON = "00081196"
FAILURE_REASON = "00081197"

_WARNINGS = {Status.ALREADY_STORED: ELEMENTS_DISCARDED, Status.KEPT_EXISTING: ELEMENTS_DISCARDED}


@dataclass(frozen=True)
class Outcome:
    """What happened to one part: stored (maybe with a warning) or failed with a reason."""

    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    failure_reason: int | None = None
    warning_reason: int | None = None
    comment: str = ""

    @property
    def stored(self) -> bool:
        return self.failure_reason is None


def store(parts: list, study_uid: str | None = None, origin: Origin | None = None) -> list[Outcome]:
    """Ingest every part (its ``spooled`` file, or the ``error`` that kept it from being
    written); with ``study_uid`` (from the URL) an instance of another study fails with
    0xA900 and is not stored. The parts' files belong to ``receive`` from here on. Outcomes
    are in the order of the parts."""
    origin = origin or Origin(door="dicomweb")
    options = {"expected_study_uid": study_uid, "origin": origin}
    # In slices, as import_dicom and a zip upload go: a transaction (and what a failure to
    # place a file takes back) covers a slice, not a whole request of thousands of parts.
    results = []
    numbered = list(enumerate(parts, start=1))
    for batch in batches(numbered, lambda item: item[1].spooled.size if item[1].spooled else 0):
        results.extend(
            receive(
                Arrival.from_spooled(part.spooled, f"part {n}", **options)
                if part.spooled is not None
                else Arrival.from_error(part.error, f"part {n}", **options)
                for n, part in batch
            )
        )
    outcomes = [_outcome(result) for result in results]
    for index, outcome in enumerate(outcomes):
        if not outcome.stored or outcome.warning_reason:
            log.info("STOW part %d: %s %s", index, outcome.sop_instance_uid, outcome.comment)
    return outcomes


def _outcome(result: IngestResult) -> Outcome:
    return Outcome(
        **_uids(result),
        failure_reason=None if result.ok else (result.failure_code or CANNOT_UNDERSTAND),
        warning_reason=_WARNINGS.get(result.status),
        comment=result.reason or str(result.status),
    )


def _uids(result: IngestResult) -> dict[str, str]:
    return {
        "sop_class_uid": result.sop_class_uid,
        "sop_instance_uid": result.sop_instance_uid,
        "series_instance_uid": result.series_instance_uid,
        "study_instance_uid": result.study_instance_uid,
    }


def http_status(outcomes: list[Outcome]) -> int:
    """200 all stored without warnings, 202 stored with warnings or some failures, 409 none
    stored (PS3.18 Table 10.5.3-1)."""
    stored = [o for o in outcomes if o.stored]
    if not stored:
        return 409
    if len(stored) < len(outcomes) or any(o.warning_reason for o in stored):
        return 202
    return 200


def response(outcomes: list[Outcome], base_url: str, study_uid: str | None = None) -> dict:
    """The Store Instances Response: RetrieveURL of the study (the URL's, or the one study
    every stored instance belongs to), ReferencedSOPSequence, FailedSOPSequence.

    Written as DICOM JSON (PS3.18 Annex F) directly, as ``qidojson`` writes search results:
    built through pydicom's ``Dataset`` (each value validated, then converted), its few
    elements cost 7 % of storing small instances (cProfile)."""
    answer = {}
    studies = {o.study_instance_uid for o in outcomes if o.stored}
    target = study_uid or (studies.pop() if len(studies) == 1 else None)
    if target:
        answer[RETRIEVE_URL] = _value("UR", f"{base_url}/studies/{target}")
    referenced = [_referenced(o, base_url) for o in outcomes if o.stored]
    failed = [_failed(o) for o in outcomes if not o.stored]
    if failed:
        answer[FAILED_SOP_SEQUENCE] = {"vr": "SQ", "Value": failed}
    if referenced:
        answer[REFERENCED_SOP_SEQUENCE] = {"vr": "SQ", "Value": referenced}
    return answer


def instance_url(base_url: str, outcome: Outcome) -> str:
    return (
        f"{base_url}/studies/{outcome.study_instance_uid}/series/{outcome.series_instance_uid}"
        f"/instances/{outcome.sop_instance_uid}"
    )


def _referenced(outcome: Outcome, base_url: str) -> dict:
    item = _sop(outcome)
    item[RETRIEVE_URL] = _value("UR", instance_url(base_url, outcome))
    if outcome.warning_reason:
        item[WARNING_REASON] = _value("US", outcome.warning_reason)
    return item


def _failed(outcome: Outcome) -> dict:
    item = _sop(outcome)
    item[FAILURE_REASON] = _value("US", outcome.failure_reason)
    return item


def _sop(outcome: Outcome) -> dict:
    return {
        REFERENCED_SOP_CLASS_UID: _value("UI", outcome.sop_class_uid),
        REFERENCED_SOP_INSTANCE_UID: _value("UI", outcome.sop_instance_uid),
    }


def _value(vr: str, value) -> dict:
    """One element; an empty one has no Value (PS3.18 F.2.5), as a part that is no DICOM has
    no UIDs."""
    return {"vr": vr} if value is None or value == "" else {"vr": vr, "Value": [value]}
