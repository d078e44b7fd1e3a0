"""The access log: which URL names are which action, and writing one AccessEvent.

Other apps need not call anything: AccessLogMiddleware looks at the resolved URL name and the
method of every request and finds the action in RULES. A viewer fetching hundreds of frames
makes one row per user, action and study every ACCESS_LOG_REPEAT_SECONDS, not hundreds.
"""

import fnmatch
import hashlib
import re
import time

from django.conf import settings
from django.contrib.auth import signals
from django.core.cache import cache
from django.dispatch import receiver
from django.utils.module_loading import import_string

from .models import AccessEvent

A = AccessEvent.Action
SAFE = ("GET", "HEAD")

# (URL name pattern, methods, action): the first match wins; an action of None means "not
# logged". Names are PS3.18 transaction names (search_for_series, retrieve_series_metadata,
# retrieve_instance_frames...) or the shared DICOMweb routes "studies", "study" and "series".
RULES = [
    ("admin:*_delete", ("POST",), A.DELETE),
    ("admin:*", (), None),
    ("viewerconfig:asset", (), None),
    ("viewerconfig:app_config_js", (), None),
    ("*", ("DELETE",), A.DELETE),
    ("*delete*", ("POST",), A.DELETE),
    ("*reject*", ("POST",), A.DELETE),
    ("studies", ("POST",), A.STORE),
    ("study", ("POST",), A.STORE),
    ("*store*", ("POST",), A.STORE),
    ("*upload*", ("POST",), A.STORE),
    ("studies", SAFE, A.SEARCH),
    ("search_for_*", SAFE, A.SEARCH),
    ("*download*", SAFE, A.DOWNLOAD),
    ("worklist:*", SAFE, A.SEARCH),
    ("*metadata*", SAFE, A.VIEW),
    ("*frames*", SAFE, A.VIEW),
    ("*rendered*", SAFE, A.VIEW),
    ("*thumbnail*", SAFE, A.VIEW),
    ("*bulk*", SAFE, A.VIEW),
    ("*ohif*", SAFE, A.VIEW),
    ("viewerconfig:*", SAFE, A.VIEW),
    ("wado", SAFE, A.VIEW),
    ("study", SAFE, A.DOWNLOAD),
    ("series", SAFE, A.DOWNLOAD),
    ("retrieve_*", SAFE, A.DOWNLOAD),
]
# URL name -> function reading the signed token in its URL into a grant (.user, .study_uids).
SIGNED_LINKS = {"ohif_dicom_json": "archive.signing.read_token"}
STUDY_PARAMS = ("StudyInstanceUID", "studyUID", "0020000D", "study", "StudyInstanceUIDs")
STUDY_IN_BODY = re.compile(rb"/studies/([0-9.]{3,64})")


def action_for(url_name: str, method: str) -> str | None:
    for pattern, methods, action in RULES:
        if fnmatch.fnmatchcase(url_name, pattern) and (not methods or method in methods):
            return action
    return None


def studies_of(request, response, action) -> list[str]:
    """Study UIDs from the URL, the query, or (for STOW, whose URL may name none) the
    RetrieveURLs of the Store Instances Response."""
    kwargs = request.resolver_match.kwargs
    for name, value in kwargs.items():
        if "study" in name.lower() and isinstance(value, str):
            return [value]
    for name in STUDY_PARAMS:
        if value := request.GET.get(name):
            return [uid for uid in value.replace("\\", ",").split(",") if uid][:20]
    if action == A.STORE and not response.streaming:
        found = STUDY_IN_BODY.findall(response.content[:1_000_000])
        return sorted({uid.decode() for uid in found})
    return []


def signed_link_grant(match):
    """(user, study UIDs) of a signed link in the URL: such a request has no request.user,
    the link names who asked for it (archive/signing.py)."""
    reader = SIGNED_LINKS.get(match.view_name)
    token = match.kwargs.get("token")
    if reader is None or not token:
        return None
    try:
        grant = import_string(reader)(token)
    except Exception:  # noqa: BLE001 - a bad link was refused by its view; log it anonymous
        return None
    return grant.user, grant.study_uids


def client_ip(request) -> str | None:
    """Behind the trusted proxy, the address it appended (the last X-Forwarded-For hop: the
    ones before it come from the client and could be anything)."""
    if settings.USE_X_FORWARDED_HOST and (forwarded := request.headers.get("X-Forwarded-For")):
        return forwarded.split(",")[-1].strip() or None
    return request.META.get("REMOTE_ADDR") or None


# Keys this process has recorded or found recorded, with when that stops holding: a viewer's
# hundreds of frame requests then cost no round trip to a shared cache (CACHE_URL) each.
_recent: dict[str, float] = {}
_RECENT_MAX = 10_000


def _seen_here(key: str) -> bool:
    now = time.monotonic()
    if _recent.get(key, 0) > now:
        return True
    if len(_recent) >= _RECENT_MAX:
        _recent.clear()
    _recent[key] = now + settings.ACCESS_LOG_REPEAT_SECONDS
    return False


def record(request, action, *, study="", status=None, user=None, username=""):
    user = user if user is not None else getattr(request, "user", None)
    known = user is not None and user.is_authenticated
    who = user.username if known else username[:150]
    query = request.META.get("QUERY_STRING", "")[:500] if action == A.SEARCH else ""
    if action in (A.SEARCH, A.VIEW, A.DOWNLOAD):
        seen = f"{who or client_ip(request)}|{action}|{study}|{query}|{status}"
        key = "accounts:seen:" + hashlib.sha256(seen.encode()).hexdigest()
        if _seen_here(key) or not cache.add(key, 1, settings.ACCESS_LOG_REPEAT_SECONDS):
            return
    AccessEvent.objects.create(
        user=user if known else None,
        username=who,
        action=action,
        study_instance_uid=study[:64],
        method=(request.method or "")[:10],
        path=request.path[:500],
        query=query,
        status_code=status,
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", "")[:300],
        authenticated_by=getattr(request, "auth_method", "") or ("session" if known else ""),
    )


def record_response(request, response) -> None:
    match = request.resolver_match
    if not settings.ACCESS_LOG or match is None or not match.view_name:
        return
    action = action_for(match.view_name, request.method)
    if action is None:
        return
    user, studies = signed_link_grant(match) or (None, None)
    studies = studies or studies_of(request, response, action)
    for study in studies or [""]:
        record(request, action, study=study, status=response.status_code, user=user)


@receiver(signals.user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    if request is not None and settings.ACCESS_LOG:
        record(request, A.LOGIN, user=user)


@receiver(signals.user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if request is not None and user is not None and settings.ACCESS_LOG:
        record(request, A.LOGOUT, user=user)


@receiver(signals.user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    if request is not None and settings.ACCESS_LOG:
        record(request, A.LOGIN_FAILED, username=str(credentials.get("username", "")))
