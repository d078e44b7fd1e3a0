"""Share links: ``/share/<token>/...`` is the site seen through one link.

``ShareLinkMiddleware`` takes the token off the path and serves the rest as if the site lived
under ``/share/<token>/`` (the script prefix): OHIF, its ``app-config.js`` and every URL they
build stay under it, so the viewer needs no cookie and no header, its DICOMweb and DICOM JSON
requests carry the token in their path. Such a request acts as the link's creator capped at the
reader role, sees only the link's studies (``accounts.projects.current_scope``), may only read
(GET), and only through ``ALLOWED`` (downloads only when the link allows them); anything else
is 404. Every use is in the access log under the door "share link".
"""

import hashlib
import re
from datetime import timedelta

from django.urls import Resolver404, resolve
from django.utils import timezone

from . import roles
from .models import ShareLink

PATTERN = re.compile(r"^/share/(?P<token>[A-Za-z0-9_-]{40,64})(?P<rest>/.*)?$")
READS = {
    "studies",  # GET: Search for Studies
    "search_for_series",
    "search_for_instances",
    "search_for_study_series",
    "search_for_study_instances",
    "search_for_series_instances",
    "retrieve_study_metadata",
    "retrieve_series_metadata",
    "retrieve_instance",
    "retrieve_instance_metadata",
    "retrieve_instance_frames",
    "retrieve_bulkdata",
    "retrieve_rendered_instance",
    "retrieve_rendered_frames",
    "retrieve_study_thumbnail",
    "retrieve_series_thumbnail",
    "retrieve_instance_thumbnail",
    "wado",
    "ohif_dicom_json",
    "ohif_dicom_json_link",
    "ohif_dicom_json_links",
    "viewerconfig:index",
    "viewerconfig:app_config_js",
    "viewerconfig:asset",
}
DOWNLOADS = {"study", "series", "worklist:download_study"}


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create(user, study_uids: list[str], seconds: int, *, allow_download=False, description=""):
    """A new link and its token (shown once: only the hash is kept)."""
    link = ShareLink(
        created_by=user,
        study_uids=list(study_uids),
        description=description[:200],
        allow_download=allow_download,
        expires_at=timezone.now() + timedelta(seconds=seconds),
    )
    key = link.new_key()
    link.save()
    return link, key


def find(token: str) -> ShareLink | None:
    return ShareLink.objects.select_related("created_by").filter(key_hash=digest(token)).first()


def allows(link: ShareLink, path: str, method: str) -> bool:
    """Whether a request for ``path`` (without the share prefix) may go through the link."""
    if method not in ("GET", "HEAD"):
        return False
    try:
        name = resolve(path).view_name
    except Resolver404:
        return False
    return name in READS or (link.allow_download and name in DOWNLOADS)


def act_as(link: ShareLink):
    """The user a link's requests run as: its creator, capped at reader (an in-memory object)."""
    user = link.created_by
    roles.cap_role(user, roles.READER)
    return user


def touch(link: ShareLink) -> None:
    now = timezone.now()
    if link.last_used_at is None or (now - link.last_used_at).total_seconds() > 60:
        ShareLink.objects.filter(pk=link.pk).update(last_used_at=now)
