"""Views for STOW-RS (PS3.18 §10.5) and for removing studies and series: DELETE, and the
reject call OHIF makes when a data source sets ``supportsReject``.

Thin adapters: the parsers spool the body, ``stow_response`` stores and answers,
``archive.deletion`` removes files, rows and caches together.
"""

from django.conf import settings
from rest_framework.decorators import (
    api_view,
    parser_classes,
    permission_classes,
    renderer_classes,
)
from rest_framework.exceptions import NotFound, ParseError, PermissionDenied, UnsupportedMediaType
from rest_framework.response import Response

from accounts.permissions import IsArchiveAdmin, IsUploader
from accounts.projects import current_scope

from .. import deletion
from ..ingest import Origin
from ..models import Series, Study
from ..uids import is_valid_uid
from . import parsers, stow_response
from .parsers import DicomParser, MultipartRelatedParser, SpooledParts
from .renderers import DicomJsonRenderer, PlainJsonRenderer
from .routing import dicomweb_base

# Key Object Selection rejection titles (PS3.16 CID 7011) a reject call may name; OHIF sends
# 113001^DCM. All of them delete the series here: the archive keeps no rejected instances.
REJECTION_CODES = {
    "113001^DCM": "Rejected for Quality Reasons",
    "113037^DCM": "Rejected for Patient Safety Reasons",
    "113038^DCM": "Incorrect Modality Worklist Entry",
    "113039^DCM": "Data Retention Policy Expired",
}


@api_view(["POST"])
@parser_classes([MultipartRelatedParser, DicomParser])
@renderer_classes([DicomJsonRenderer, PlainJsonRenderer])
@permission_classes([IsUploader])
def store_instances(request, study=None):
    """POST /studies and /studies/{study}: 200 all stored, 202 with warnings or some
    failures, 409 none stored; the body says which, per instance."""
    _check_uids(study)
    if (chunked := parsers.chunked_body(request)) is not None:
        request._stream = chunked  # DRF parses request._stream; see parsers.chunked_body
    parts = request.data
    if not isinstance(parts, SpooledParts):  # no body at all: DRF did not call a parser
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        if media_type in (MultipartRelatedParser.media_type, DicomParser.media_type):
            raise ParseError("the request body is empty")
        raise UnsupportedMediaType(request.content_type or "(none)")
    origin = Origin(door="dicomweb", user_id=request.user.pk)
    outcomes = stow_response.store(parts, study, origin)
    return Response(
        stow_response.response(outcomes, dicomweb_base(request), study),
        status=stow_response.http_status(outcomes),
    )


@api_view(["DELETE"])
@permission_classes([IsArchiveAdmin])
def delete_study(request, study):
    deletion.delete_study(_study(study))
    return Response(status=204)


@api_view(["DELETE"])
@permission_classes([IsArchiveAdmin])
def delete_series(request, study, series):
    deletion.delete_series(_series(study, series))
    return Response(status=204)


@api_view(["POST"])
@permission_classes([IsArchiveAdmin])
def reject_series(request, study, series, code):
    """OHIF's ``POST .../series/{series}/reject/113001%5EDCM`` (dcm4chee's IOCM call): the
    series is deleted, as with DELETE; 204 as OHIF expects."""
    if not settings.DICOMWEB_ALLOW_REJECT:
        raise PermissionDenied("rejecting series is turned off (DICOMWEB_ALLOW_REJECT)")
    if code not in REJECTION_CODES:
        raise ParseError(f"unknown rejection code {code[:40]!r}; known: {sorted(REJECTION_CODES)}")
    deletion.delete_series(_series(study, series))
    return Response(status=204)


def _check_uids(*uids):
    for uid in uids:
        if uid is not None and not is_valid_uid(uid):
            raise ParseError(f"not a valid UID (digits and dots, at most 64): {uid[:80]!r}")


def _study(study_uid: str) -> Study:
    _check_uids(study_uid)
    found = Study.objects.filter(current_scope().q(), study_instance_uid=study_uid).first()
    if found is None:
        raise NotFound(f"no study {study_uid}")
    return found


def _series(study_uid: str, series_uid: str) -> Series:
    _check_uids(study_uid, series_uid)
    found = Series.objects.filter(
        current_scope().q("study__"),
        series_instance_uid=series_uid,
        study__study_instance_uid=study_uid,
    ).first()
    if found is None:
        raise NotFound(f"no series {series_uid} in study {study_uid}")
    return found
