"""Associations in the access log: who (calling AE, peer address), what (DIMSE operation),
which study (with its patient, through ``accounts.accesslog``), and the outcome with its
counts. The one place DIMSE writes to the log."""

from django.conf import settings

from accounts import accesslog
from accounts.models import AccessEvent

A = AccessEvent.Action
ACTIONS = {
    "C-ECHO": None,
    "C-STORE": A.STORE,
    "C-FIND": A.SEARCH,
    "C-MOVE": A.DOWNLOAD,
    "C-GET": A.DOWNLOAD,
    "ASSOCIATE": A.LOGIN_FAILED,  # an association refused
    "SEND": A.DOWNLOAD,  # a study sent on from here (C-STORE SCU)
}


def record(
    operation: str,
    *,
    calling_ae: str,
    called_ae: str = "",
    address: str | None = None,
    studies: list[str] | tuple[str, ...] = (),
    outcome: str = "",
    user=None,
) -> None:
    """One row per study (or one without a study). ``outcome`` holds the status and counts,
    e.g. ``status=0x0000 completed=12 failed=0 warning=0``."""
    action = ACTIONS.get(operation)
    if action is None:
        return
    accesslog.record(
        action,
        studies,
        door=AccessEvent.Door.DIMSE,
        user=user,
        username=f"AE:{calling_ae.strip()}",
        ip=address or None,
        query=outcome,
        method=operation,
        path=f"dicom://{called_ae.strip() or settings.DICOM_AE_TITLE}",
        user_agent=f"DICOM AE {calling_ae.strip()}",
        authenticated_by="dimse",
    )
