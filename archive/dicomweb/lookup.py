"""Resolving WADO request paths to rows, for the WADO-RS, rendered and WADO-URI views.

Every UID is checked with ``uids.is_valid_uid`` before it reaches a query (400 when malformed,
404 when unknown), so no path segment ever becomes a file name. Every lookup is limited to the
studies the request may see (``accounts.projects``): another study is unknown here, 404, so a
door never tells whether it exists.
"""

import time

from rest_framework.exceptions import NotFound, ParseError

from accounts.projects import current_scope
from archive import kinds, stores
from archive.models import Instance, Series, Study
from archive.uids import is_valid_uid

# What the WADO views read from an instance row; the DICOM JSON cache is not among them.
INSTANCE_COLUMNS = (
    "id",
    "series_id",
    "sop_instance_uid",
    "sop_class_uid",
    "instance_number",
    "transfer_syntax_uid",
    "rows",
    "number_of_frames",
    "file_path",
    "file_size",
    "sha256",
    "frame_offsets",
)

# The cached documents, read only when a request needs them (they can be megabytes).
BLOBS = ("metadata_json", "study__ohif_json")


def valid_uid(value: str, what: str) -> str:
    if not is_valid_uid(value):
        raise ParseError(f"{what} {value[:80]!r} is not a valid UID (digits and dots, <= 64)")
    return value


def study(study_uid: str) -> Study:
    valid_uid(study_uid, "StudyInstanceUID")
    found = (
        Study.objects.filter(current_scope().q(), study_instance_uid=study_uid)
        .defer("ohif_json")
        .first()
    )
    if found is None:
        raise NotFound(f"no study {study_uid}")
    return found


def series(study_uid: str, series_uid: str) -> Series:
    valid_uid(study_uid, "StudyInstanceUID")
    valid_uid(series_uid, "SeriesInstanceUID")
    found = (
        Series.objects.filter(
            current_scope().q("study__"),
            series_instance_uid=series_uid,
            study__study_instance_uid=study_uid,
        )
        .select_related("study")
        .defer(*BLOBS)
        .first()
    )
    if found is None:
        raise NotFound(f"no series {series_uid} in study {study_uid}")
    return found


def instance(study_uid: str, series_uid: str, sop_uid: str) -> Instance:
    valid_uid(study_uid, "StudyInstanceUID")
    valid_uid(series_uid, "SeriesInstanceUID")
    valid_uid(sop_uid, "SOPInstanceUID")
    scope = current_scope()
    key = (study_uid, series_uid, sop_uid, scope)
    if (remembered := _recent_rows.get(key)) is not None:
        until, stamp, row = remembered
        if until > time.monotonic() and _stamp(row) == stamp:
            return row
    found = (
        Instance.objects.filter(
            scope.q("series__study__"),
            sop_instance_uid=sop_uid,
            series__series_instance_uid=series_uid,
            series__study__study_instance_uid=study_uid,
        )
        .only(*INSTANCE_COLUMNS)
        .first()
    )
    if found is None:
        _recent_rows.pop(key, None)
        raise NotFound(f"no instance {sop_uid} in series {series_uid} of study {study_uid}")
    if (stamp := _stamp(found)) is not None:
        if len(_recent_rows) >= ROW_MEMO_SIZE:
            _recent_rows.clear()
        _recent_rows[key] = (time.monotonic() + ROW_MEMO_SECONDS, stamp, found)
    return found


# A viewer asks for every frame of an instance, often several times: each process remembers
# the rows it looked up for ROW_MEMO_SECONDS, used only while the stored file is still the
# one it saw (same inode, size and modification time). A deleted or replaced file sends the
# next request back to the database. (Only a replacement that lands between reading the row
# and looking at the file could pair an old row with a new file, for that long at most.)
ROW_MEMO_SECONDS = 10
ROW_MEMO_SIZE = 4096
_recent_rows: dict[tuple, tuple[float, tuple, Instance]] = {}


def _stamp(row: Instance) -> tuple | None:
    return stores.current().stamp(row.file_path)


def instances(study_uid: str, series_uid: str | None = None) -> list[Instance]:
    """The instances of a study or series in series then instance order; 404 when none."""
    valid_uid(study_uid, "StudyInstanceUID")
    rows = Instance.objects.filter(
        current_scope().q("series__study__"), series__study__study_instance_uid=study_uid
    )
    if series_uid is not None:
        valid_uid(series_uid, "SeriesInstanceUID")
        rows = rows.filter(series__series_instance_uid=series_uid)
    found = list(
        rows.only(*INSTANCE_COLUMNS).order_by(
            "series__series_number", "series_id", "instance_number", "id"
        )
    )
    if not found:
        where = f"series {series_uid} of study" if series_uid else "study"
        raise NotFound(f"no instances in {where} {study_uid}")
    return found


def series_of(study: Study) -> list[Series]:
    """The study's series in SeriesNumber order, sharing the already-loaded study row."""
    rows = list(study.series_set.defer("metadata_json").order_by("series_number", "id"))
    for row in rows:
        row.study = study
    return rows


def middle_image(rows) -> Instance | None:
    """The instance a thumbnail shows: the middle one by InstanceNumber, among images (not
    films, segmentations or other objects with pixel data that are not pictures)."""
    images = rows.filter(rows__isnull=False).exclude(
        transfer_syntax_uid__in=kinds.VIDEO_TRANSFER_SYNTAXES
    )
    for prefix in kinds.NOT_IMAGE_CLASS_PREFIXES:
        images = images.exclude(sop_class_uid__startswith=prefix)
    found = list(images.order_by("instance_number", "id").only("id"))
    if not found:
        return None
    return Instance.objects.only(*INSTANCE_COLUMNS).get(pk=found[len(found) // 2].pk)


def first_instance(rows) -> Instance | None:
    """The first instance by InstanceNumber, whatever it is (for an icon of its kind)."""
    return rows.only(*INSTANCE_COLUMNS).order_by("instance_number", "id").first()


def frame_numbers(text: str, count: int) -> list[int]:
    """PS3.18 frame list ``1,3,5`` (1-based): 400 when malformed, repeated or longer than
    FRAMES_MAX_PER_REQUEST, 404 when out of range. Each frame at most once: a list repeating
    frame 1 thousands of times asked a gigabyte for a few kilobytes of URL."""
    from django.conf import settings

    parts = text.split(",")
    if len(parts) > settings.FRAMES_MAX_PER_REQUEST:
        raise ParseError(
            f"at most {settings.FRAMES_MAX_PER_REQUEST} frames per request, not {len(parts)}"
        )
    try:
        numbers = [int(part) for part in parts]
    except ValueError:
        raise ParseError(f"frame list {text[:80]!r} must be numbers separated by commas") from None
    if not numbers or min(numbers) < 1:
        raise ParseError("frame numbers start at 1")
    if len(set(numbers)) != len(numbers):
        raise ParseError("a frame list names each frame at most once")
    if max(numbers) > count:
        raise NotFound(f"frame {max(numbers)} does not exist: the instance has {count} frame(s)")
    return numbers
