"""The access log: one call where a study is searched, viewed, downloaded, stored, deleted or
shared, naming the action; this module adds who, from where, through which door and whose
study it was (patient ID and name as they are at that moment, so a row still says whose study
it was after the study is deleted).

Nothing is inferred from URLs or read back from responses. Code that knows no request (the
deletion core, the ingest pipeline) still records under the request being served, which
``AccessLogMiddleware`` makes current. Identical repeats (same user, action, study, door and
search) within ``ACCESS_LOG_REPEAT_SECONDS`` make one row: a viewer loading hundreds of frames
is one view. Refusals (401/403) are recorded by the middleware as ``refused`` with the path.
"""

import hashlib
import logging
import time
from collections.abc import Iterable
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import signals
from django.core.cache import cache
from django.db import DatabaseError
from django.dispatch import receiver

from ohifsite.inserts import insert_objects
from ohifsite.writers import write_transaction

from . import current
from .models import AccessEvent

log = logging.getLogger(__name__)
A = AccessEvent.Action
Door = AccessEvent.Door
# Actions a viewer or script repeats (each frame, each refresh of a list): collapsed.
REPEATED = (A.SEARCH, A.VIEW, A.DOWNLOAD, A.REFUSED)


def record(
    action: str,
    studies: Iterable = (),
    *,
    count: int | None = None,
    **context,
) -> None:
    """One row per study (``Study`` rows or Study Instance UIDs; none for a search over all
    studies). The request (``request=``) defaults to the one being served; without any (a
    DICOM association, a command), pass ``door``, ``username``, ``ip`` and any of
    ``method``, ``path``, ``user_agent`` and ``authenticated_by``. Also: ``query``,
    ``status``, ``user``."""
    _record(action, [(study, count) for study in studies] or [(None, count)], **context)


def _record(
    action: str,
    counted: list[tuple],
    *,
    request=None,
    door: str | None = None,
    query: str = "",
    status: int | None = None,
    user=None,
    username: str = "",
    ip: str | None = None,
    **where: str,
) -> None:
    """``record`` with a count for each study: ``counted`` holds (study, count) pairs. The
    rows go in with one insert, the patients of studies given by UID come from one query:
    a store of hundreds of studies costs what a store of one does."""
    if not settings.ACCESS_LOG:
        return
    request = request if request is not None else current.request.get()
    user = user if user is not None else getattr(request, "user", None)
    known = user is not None and getattr(user, "is_authenticated", False)
    who = user.get_username() if known else username[:150]
    if (link := getattr(request, "share_link", None)) is not None:
        who = f"{who} (share link {link.key_start}…)"[:150]
    door = door or door_of(request)
    ip = ip or (client_ip(request) if request is not None else None)
    kept = []
    for study, count in counted:
        uid = study if isinstance(study, str) or study is None else study.study_instance_uid
        uid = (uid or "")[:64]
        if action in REPEATED and _repeated(who or ip, action, uid, door, query):
            continue
        kept.append((study, uid, count))
    patients = _patients([study for study, _, _ in kept if isinstance(study, str)])
    events = []
    for study, uid, count in kept:
        patient_id, patient_name = _patient(study, patients)
        events.append(
            AccessEvent(
                user=user if known else None,
                username=who,
                action=action,
                door=door,
                study_instance_uid=uid,
                patient_id=patient_id,
                patient_name=patient_name,
                query=query[:500],
                result_count=count,
                status_code=status,
                ip=ip,
                method=where.get("method", getattr(request, "method", "") or "")[:10],
                path=where.get("path", getattr(request, "path", ""))[:500],
                user_agent=where.get(
                    "user_agent", request.headers.get("User-Agent", "") if request else ""
                )[:300],
                authenticated_by=where.get(
                    "authenticated_by",
                    getattr(request, "auth_method", "") or ("session" if known and request else ""),
                )[:20],
            )
        )
    _save(events)


def _save(events: list[AccessEvent]) -> None:
    """The log never fails the request it records: rows the database refuses (gone, full, a
    value it cannot store) are lost, logged here, in a savepoint so that the request's own
    transaction goes on. PostgreSQL cannot store NUL in text: the edge refuses most (a path, a
    query), headers such as User-Agent may still bring some. One insert for all the rows."""
    if not events:
        return
    for event in events:
        for field in ("username", "query", "path", "user_agent", "patient_name", "patient_id"):
            setattr(event, field, getattr(event, field).replace("\x00", ""))
    try:
        with write_transaction():
            insert_objects(AccessEvent, events)
    except DatabaseError:
        first = events[0]
        log.exception(
            "%d access events not recorded: %s %s", len(events), first.action, first.path[:200]
        )


class _Stored(NamedTuple):
    """A study as ingest's results name it, with its patient: what ``_record`` reads of a
    ``Study``, so that a store costs no query for the patients."""

    study_instance_uid: str
    patient_id: str
    patient_name: str


def record_stored(sender, arrivals, results, **kwargs) -> None:
    """``archive.ingest.instances_received``: one store row per door and study, whichever door
    the files came through, with the number of instances it stored (or replaced). Bytes the
    archive already held change nothing and are not a store: a re-run import logs nothing."""
    counts: dict = {}  # origin -> {study: instances stored}
    for arrival, result in zip(arrivals, results, strict=True):
        if arrival.origin.door == Door.DIMSE:
            continue  # the DICOM listener records each association's stores (dicomnet.audit)
        if result.changed and result.study_instance_uid:
            study = _Stored(result.study_instance_uid, result.patient_id, result.patient_name)
            per_study = counts.setdefault(arrival.origin, {})
            per_study[study] = per_study.get(study, 0) + 1
    users = {}
    if current.request.get() is None:  # (a request's user is the one who stored)
        from django.contrib.auth import get_user_model

        wanted = {origin.user_id for origin in counts if origin.user_id is not None}
        users = get_user_model().objects.in_bulk(wanted) if wanted else {}
    for origin, per_study in counts.items():
        _record(
            A.STORE,
            list(per_study.items()),
            door=origin.door or None,
            user=users.get(origin.user_id),
            username=origin.calling_ae,
        )


def door_of(request) -> str:
    """How the request came in: a share link, the DICOMweb API (WADO-URI included), or the
    web pages."""
    if request is None:
        return ""
    if getattr(request, "share_link", None) is not None:
        return Door.SHARE
    if request.path_info.startswith(("/dicom-web/", "/wado")):
        return Door.DICOMWEB
    return Door.WEB


def _patients(uids: list[str]) -> dict[str, tuple[str, str]]:
    """Patient ID and name of the studies with these UIDs, in one query."""
    from archive.models import Study  # the archive app records too; no import cycle

    if not uids:
        return {}
    rows = Study.objects.filter(study_instance_uid__in=set(uids)).values_list(
        "study_instance_uid", "patient_id", "patient_name"
    )
    return {uid: (patient_id, patient_name) for uid, patient_id, patient_name in rows}


def _patient(study, patients: dict[str, tuple[str, str]]) -> tuple[str, str]:
    if not study:
        return "", ""
    if isinstance(study, str):
        return patients.get(study, ("", ""))
    return study.patient_id or "", study.patient_name or ""


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


def _repeated(*what) -> bool:
    seen = "|".join(str(part) for part in what)
    key = "accounts:seen:" + hashlib.sha256(seen.encode()).hexdigest()
    now = time.monotonic()
    if _recent.get(key, 0) > now:
        return True
    if len(_recent) >= _RECENT_MAX:
        _recent.clear()
    _recent[key] = now + settings.ACCESS_LOG_REPEAT_SECONDS
    return not cache.add(key, 1, settings.ACCESS_LOG_REPEAT_SECONDS)


def search_terms(request) -> str:
    """The filters of a search, as the client sent them."""
    return request.META.get("QUERY_STRING", "")[:500]


@receiver(signals.user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    if request is not None:
        record(A.LOGIN, request=request, user=user)


@receiver(signals.user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if request is not None and user is not None:
        record(A.LOGOUT, request=request, user=user)


@receiver(signals.user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    if request is not None:
        record(A.LOGIN_FAILED, request=request, username=str(credentials.get("username", "")))
