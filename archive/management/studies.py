"""What the maintenance commands (rebuild_caches, build_renditions) share: ``--all`` or
``--study UID...`` to say which studies, and the named studies checked before any work."""

from django.core.management.base import CommandError

from archive.models import Study
from archive.uids import is_valid_uid


def add_arguments(parser, redone: str) -> None:
    """``redone`` says what happens again to the studies chosen (e.g. "files parsed again")."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help=f"every study, {redone}")
    which.add_argument(
        "--study",
        nargs="+",
        action="extend",
        default=[],
        metavar="UID",
        help=f"these studies (StudyInstanceUID), {redone}",
    )


def named(uids: list[str]) -> list[str]:
    """The UIDs, once each is valid and stored; otherwise a CommandError naming the others."""
    invalid = [uid for uid in uids if not is_valid_uid(uid)]
    if invalid:
        raise CommandError(f"not a valid UID: {', '.join(invalid)}")
    found = set(
        Study.objects.filter(study_instance_uid__in=uids).values_list(
            "study_instance_uid", flat=True
        )
    )
    missing = [uid for uid in uids if uid not in found]
    if missing:
        raise CommandError(f"no such study: {', '.join(missing)}")
    return uids
