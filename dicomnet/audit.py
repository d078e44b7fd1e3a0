"""Associations in the access log: who (calling AE, peer address), what (DIMSE operation),
which study, and the outcome with its counts. The one place DIMSE writes to the log, so it is
easy to switch when the access log gets its own entry point."""

from django.conf import settings

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
    if not settings.ACCESS_LOG or action is None:
        return
    for study in studies or [""]:
        AccessEvent.objects.create(
            user=user,
            username=(user.username if user else f"AE:{calling_ae.strip()}")[:150],
            action=action,
            study_instance_uid=study[:64],
            method=operation[:10],
            path=f"dicom://{called_ae.strip() or settings.DICOM_AE_TITLE}"[:500],
            query=outcome[:500],
            ip=address or None,
            user_agent=f"DICOM AE {calling_ae.strip()}"[:300],
            authenticated_by="dimse",
        )
