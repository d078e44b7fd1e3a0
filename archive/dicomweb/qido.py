"""QIDO-RS views (PS3.18 §10.6): Search for Studies, Series and Instances.

Thin adapters: parse the path and query string (``query.QidoQuery``), run one search, hand the
DICOM JSON (``qidojson``) to the negotiated renderer. Readers may search; a query parameter
that cannot be honoured is a 400 naming it.
"""

from django.conf import settings
from rest_framework.decorators import api_view, permission_classes, renderer_classes
from rest_framework.exceptions import ParseError
from rest_framework.response import Response

from accounts import accesslog
from accounts.permissions import IsReader
from archive.uids import is_valid_uid

from . import qidojson
from .qidosql import search
from .query import Level, QidoQuery, QueryError
from .renderers import DicomJsonRenderer, PlainJsonRenderer
from .routing import dicomweb_base

# PS3.18 §6.7.1.2, when more results match than were returned.
WARNING = (
    "299 {host}: The number of results exceeded the maximum supported by the server."
    " Additional results can be requested."
)


def _search(request, level: Level, study: str | None = None, series: str | None = None):
    for name, uid in (("study", study), ("series", series)):
        if uid is not None and not is_valid_uid(uid):
            raise ParseError(f"{name} in the path: {uid!r:.80} is not a valid UID")
    try:
        query = QidoQuery.from_params(
            dict(request.query_params.lists()),
            level,
            study_uid=study,
            series_uid=series,
            max_limit=settings.QIDO_MAX_LIMIT,
        )
    except QueryError as exc:
        raise ParseError(str(exc)) from None
    page = search(query)
    accesslog.record(
        accesslog.A.SEARCH,
        [study] if study else (),
        query=accesslog.search_terms(request),
        count=len(page.rows),
    )
    headers = {}
    if page.truncated:  # (also when a limit over QIDO_MAX_LIMIT was clamped and cut results)
        headers["Warning"] = WARNING.format(host=request.get_host())
    return Response(qidojson.datasets(page.rows, query, dicomweb_base(request)), headers=headers)


def qido_view(function):
    """GET only, readers only, DICOM JSON (application/dicom+json first, so that ``*/*`` and
    no Accept get it; application/json for clients that ask for it)."""
    function = renderer_classes([DicomJsonRenderer, PlainJsonRenderer])(function)
    function = permission_classes([IsReader])(function)
    return api_view(["GET", "HEAD"])(function)


@qido_view
def search_for_studies(request):
    return _search(request, Level.STUDY)


@qido_view
def search_for_series(request, study: str | None = None):
    return _search(request, Level.SERIES, study)


@qido_view
def search_for_instances(request, study: str | None = None, series: str | None = None):
    return _search(request, Level.INSTANCE, study, series)
