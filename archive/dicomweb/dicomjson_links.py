"""Views for OHIF's DICOM JSON data source (``/ohif/viewer/dicomjson?url=...``).

OHIF fetches that ``url`` without cookies and without following redirects (its
``secureConfigFetch``: ``credentials: 'omit'``), so the document is served to whoever holds a
signed, expiring link (``archive.signing``), and a logged-in reader asks for such a link first.
The instance urls inside the document are ``dicomweb:`` + this server's WADO-URI (``/wado``):
Cornerstone loads those same-origin with the viewer's session cookie, not with the token.
"""

import json

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET
from rest_framework.decorators import api_view, permission_classes, renderer_classes
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from accounts import accesslog, projects
from accounts.permissions import IsReader

from .. import caches, signing
from ..models import Study
from ..uids import is_valid_uid
from .routing import absolute, dicomweb_base

# Studies one link may name; the token travels in the URL.
MAX_STUDIES_PER_LINK = 50


@require_GET
@gzip_page
def ohif_dicom_json(request, token):
    """OHIF's ``{"studies": [...]}`` for the studies the token names, in the token's order.
    The signed token is the authorization: 403 when expired, altered or its user gone."""
    try:
        grant = signing.read_token(token)
    except signing.BadLink as exc:
        return _no_store(JsonResponse({"detail": str(exc)}, status=403))
    visible = Study.objects.filter(projects.scope_of(grant.user).q())
    found = visible.in_bulk(grant.study_uids, field_name="study_instance_uid")
    studies = [found[uid] for uid in grant.study_uids if uid in found]
    if not studies:
        return _no_store(JsonResponse({"detail": "none of these studies is stored"}, status=404))
    accesslog.record(accesslog.A.VIEW, studies, user=grant.user)
    roots = {
        caches.WADOURI_PLACEHOLDER: absolute(request, reverse("wado")),
        caches.BASE_PLACEHOLDER: dicomweb_base(request),
    }
    documents = [caches.expand(caches.study_ohif_json(study), roots) for study in studies]
    return _no_store(HttpResponse(_joined(documents), content_type="application/json"))


@api_view(["GET"])
@renderer_classes([JSONRenderer])
@permission_classes([IsReader])
def ohif_dicom_json_link(request, study=None):
    """A signed link to the DICOM JSON of ``study`` (or of ``?StudyInstanceUID=a,b``), made for
    the user asking: ``{"url", "viewer_url", "expires_in"}``, or with ``?open=viewer`` a
    redirect to OHIF showing it."""
    uids = [study] if study else _uid_list(request.query_params.get("StudyInstanceUID", ""))
    if not uids or len(uids) > MAX_STUDIES_PER_LINK:
        raise ParseError(f"name between 1 and {MAX_STUDIES_PER_LINK} studies")
    bad = [uid for uid in uids if not is_valid_uid(uid)]
    if bad:
        raise ParseError(f"not a valid UID (digits and dots, at most 64): {bad[0][:80]!r}")
    stored = set(
        Study.objects.filter(projects.current_scope().q(), study_instance_uid__in=uids).values_list(
            "study_instance_uid", flat=True
        )
    )
    if missing := [uid for uid in uids if uid not in stored]:
        raise NotFound(f"no study {missing[0]}")
    url = signing.make_link(request.user, uids, request)
    viewer_url = _viewer_url(request, url)
    if request.query_params.get("open") == "viewer" and viewer_url:
        return redirect(viewer_url)
    return Response(
        {"url": url, "viewer_url": viewer_url, "expires_in": settings.DICOMJSON_LINK_MAX_AGE}
    )


def _uid_list(text: str) -> list[str]:
    return [uid.strip() for uid in text.replace("\\", ",").split(",") if uid.strip()]


def _viewer_url(request, link: str) -> str | None:
    """OHIF showing the document at ``link`` through the enabled DICOM JSON data source
    (``viewerconfig.links``, which knows the data sources); None without the viewer app."""
    try:
        from viewerconfig.links import document_viewer_url

        return absolute(request, document_viewer_url(link))
    except (ImportError, NoReverseMatch):
        return None


def _joined(documents: list[bytes]) -> bytes:
    """One document as it is, or several merged into one ``studies`` list."""
    if len(documents) == 1:
        return documents[0]
    studies = [study for document in documents for study in json.loads(document)["studies"]]
    return json.dumps({"studies": studies}, separators=(",", ":")).encode()


def _no_store(response: HttpResponse) -> HttpResponse:
    # The link is the credential: no shared caches, and any origin may read it (no cookies).
    response["Cache-Control"] = "private, no-store"
    response["Access-Control-Allow-Origin"] = "*"
    response["Referrer-Policy"] = "no-referrer"
    return response
