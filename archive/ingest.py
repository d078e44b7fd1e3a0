"""Indexes DICOM files into Study/Series/Instance. Knows nothing of HTTP or Celery.

Every way DICOM arrives (upload page, STOW-RS, import command) ends in ``ingest_spooled``:
validate, place the file, index it, in that order, and safe to repeat. A rejected file leaves
nothing behind and touches nothing already stored.
"""

import errno
import logging
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

import pydicom
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from pydicom.errors import InvalidDicomError

from . import frames, storage
from .models import INSTANCE_FIELDS, SERIES_FIELDS, STUDY_FIELDS, Instance, Series, Study
from .uids import is_valid_uid

log = logging.getLogger(__name__)

# Elements larger than this are not read into memory while indexing (pixel data, overlays).
DEFER_SIZE = 64 * 1024


class Status(StrEnum):
    STORED = "stored"
    ALREADY_STORED = "already stored"
    REPLACED = "replaced"
    # Same SOP Instance UID, other bytes, and OVERWRITE_INSTANCES off: the stored file stays.
    KEPT_EXISTING = "kept existing"
    REJECTED = "rejected"


# DICOM failure reasons (PS3.18 Table 10.5.3-3 / PS3.7 Annex C) carried in the result so
# STOW-RS can report them; they are DICOM statuses, not HTTP ones.
CANNOT_UNDERSTAND = 0xC000
PROCESSING_FAILURE = 0x0110
OUT_OF_RESOURCES = 0xA700


@dataclass(frozen=True)
class IngestResult:
    status: Status
    reason: str = ""
    failure_code: int | None = None
    sop_instance_uid: str = ""
    sop_class_uid: str = ""
    series_instance_uid: str = ""
    study_instance_uid: str = ""
    study_pk: int | None = None
    instance_pk: int | None = None
    # The study's generation after this change (None when nothing changed), so the cache
    # build can be queued without another query.
    generation: int | None = None
    # Set when a replaced instance moved to another study: that study changed too.
    moved_from_study_pk: int | None = None

    @property
    def ok(self) -> bool:
        return self.status is not Status.REJECTED

    @property
    def changed(self) -> bool:
        """True when the archive's content changed, so caches must be rebuilt."""
        return self.status in (Status.STORED, Status.REPLACED)


class Rejected(Exception):
    def __init__(self, reason: str, code: int = CANNOT_UNDERSTAND, **uids: str):
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.uids = uids


def ingest_path(path: Path | str) -> IngestResult:
    """Store a copy of a file; the original stays where it is."""
    spooled = spool_path(path)
    return spooled if isinstance(spooled, IngestResult) else ingest_spooled(spooled)


def ingest_stream(source: BinaryIO) -> IngestResult:
    spooled = spool_stream(source)
    return spooled if isinstance(spooled, IngestResult) else ingest_spooled(spooled)


def spool_path(path: Path | str) -> storage.Spooled | IngestResult:
    """A copy of the file in the storage area, or why there is none."""
    try:
        with open(path, "rb") as source:
            return spool_stream(source)
    except OSError as exc:
        return IngestResult(Status.REJECTED, f"cannot read file: {exc.strerror}", OUT_OF_RESOURCES)


def spool_stream(source: BinaryIO) -> storage.Spooled | IngestResult:
    try:
        return storage.spool(source)
    except OSError as exc:
        return IngestResult(Status.REJECTED, f"cannot store file: {exc.strerror}", _code(exc))


def _code(exc: OSError) -> int:
    """The DICOM failure reason of a file that could not be written."""
    return OUT_OF_RESOURCES if exc.errno in (errno.ENOSPC, errno.EDQUOT) else PROCESSING_FAILURE


def ingest_spooled(spooled: storage.Spooled) -> IngestResult:
    """Take ownership of a spooled file: it ends in its final place or is deleted."""
    prepared = prepare(spooled)
    return prepared if isinstance(prepared, IngestResult) else index(prepared)


@dataclass(frozen=True)
class Prepared:
    """A spooled file that was read and validated, not yet stored: the first half of ingest.

    STOW-RS needs an instance's Study Instance UID before storing it (to check it against the
    URL and to store one study's parts in one transaction); this carries it, so the file is
    parsed once."""

    spooled: storage.Spooled
    attrs: dict

    @property
    def study_instance_uid(self) -> str:
        return self.attrs["study_instance_uid"]

    def uids(self) -> dict[str, str]:
        keys = ("sop_class_uid", "sop_instance_uid", "series_instance_uid", "study_instance_uid")
        return {key: self.attrs[key] for key in keys}

    def discard(self) -> None:
        storage.discard(self.spooled.path)


def prepare(spooled: storage.Spooled) -> Prepared | IngestResult:
    """Read and validate a spooled file. Its bytes already stored, or rejected: the result,
    and the file is deleted. Otherwise a ``Prepared`` that owns the file until ``index``."""
    return prepare_many([spooled])[0]


def prepare_many(spooled: list[storage.Spooled]) -> list[Prepared | IngestResult]:
    """``prepare`` for the parts of one request: one query finds those already stored."""
    known = _already_stored(spooled)
    prepared = []
    for index, one in enumerate(spooled):
        try:
            if (result := known.get((one.sha256, one.size))) is not None:
                storage.discard(one.path)
                prepared.append(result)
            else:
                prepared.append(Prepared(one, _read(one)))
        except Rejected as exc:
            storage.discard(one.path)
            prepared.append(IngestResult(Status.REJECTED, exc.reason, exc.code, **exc.uids))
        except BaseException:
            for rest in spooled[index:]:
                storage.discard(rest.path)
            for done in prepared:
                if isinstance(done, Prepared):
                    done.discard()
            raise
    return prepared


def index(prepared: Prepared) -> IngestResult:
    """Place a prepared file and index it (the second half of ingest)."""
    try:
        return _index(prepared.spooled, prepared.attrs)
    except Rejected as exc:
        return IngestResult(Status.REJECTED, exc.reason, exc.code, **exc.uids)
    finally:
        prepared.discard()


def index_many(batch: list[Prepared]) -> list[IngestResult]:
    """Index prepared files of one study together (STOW-RS), in the caller's transaction.

    Per instance, ``index`` costs about nine statements; a batch of new instances costs one
    lock of the study, one query each for its series and instances, one insert for all of
    them and one update of each count. Anything out of the ordinary (a SOP Instance UID
    already stored, twice in the batch, or a series of another study) goes through ``index``
    one by one, as does the whole batch when a concurrent writer got in first.
    """
    done: dict[int, IngestResult] = {}
    rest = batch
    try:
        with transaction.atomic():
            done, rest = _index_new(batch)
    except IntegrityError:
        done, rest = {}, batch
    except _PlaceFailed as exc:  # rows rolled back, files removed: refuse those instances
        for prepared in exc.batch:
            prepared.discard()
        done = {
            id(prepared): IngestResult(Status.REJECTED, exc.reason, exc.code, **prepared.uids())
            for prepared in exc.batch
        }
        rest = [prepared for prepared in batch if id(prepared) not in done]
    for prepared in rest:
        done[id(prepared)] = index(prepared)
    return [done[id(prepared)] for prepared in batch]


def _index_new(batch: list[Prepared]) -> tuple[dict[int, IngestResult], list[Prepared]]:
    """Index the new instances of ``batch`` (results by ``id`` of their ``Prepared``); the
    others are returned for ``index``, which knows every case."""
    study_uid = batch[0].study_instance_uid
    if any(prepared.study_instance_uid != study_uid for prepared in batch):
        raise ValueError("index_many takes instances of one study")
    study = Study.objects.select_for_update().filter(study_instance_uid=study_uid).first()
    series_uids = {prepared.attrs["series_instance_uid"] for prepared in batch}
    found = Series.objects.filter(series_instance_uid__in=series_uids)
    series = {row.series_instance_uid: row for row in found}
    stored = set(
        Instance.objects.filter(
            sop_instance_uid__in=[prepared.attrs["sop_instance_uid"] for prepared in batch]
        ).values_list("sop_instance_uid", flat=True)
    )
    fresh, rest, seen = [], [], set()
    for prepared in batch:
        sop = prepared.attrs["sop_instance_uid"]
        known_series = series.get(prepared.attrs["series_instance_uid"])
        elsewhere = known_series is not None and (
            study is None or known_series.study_id != study.pk
        )
        if sop in stored or sop in seen or elsewhere:
            rest.append(prepared)
        else:
            fresh.append(prepared)
            seen.add(sop)
    if not fresh:
        return {}, rest
    if study is None:
        study = Study.objects.create(
            **_pick(fresh[0].attrs, STUDY_FIELDS),
            patient_name_key=fresh[0].attrs["patient_name_key"],
        )
    new_series = []
    for prepared in fresh:
        if (uid := prepared.attrs["series_instance_uid"]) not in series:
            series[uid] = Series.objects.create(study=study, **_pick(prepared.attrs, SERIES_FIELDS))
            new_series.append(series[uid])
    paths = [_relpath(prepared.attrs) for prepared in fresh]
    rows = Instance.objects.bulk_create(
        Instance(series=series[p.attrs["series_instance_uid"]], **_instance_attrs(p, path))
        for p, path in zip(fresh, paths, strict=True)
    )
    _count_new_instances(study, Counter(row.series_id for row in rows), new_series)
    _place_all(fresh, paths)
    results = {
        id(prepared): IngestResult(
            Status.STORED,
            "",
            instance_pk=row.pk,
            generation=study.generation + 1,
            study_pk=study.pk,
            **prepared.uids(),
        )
        for prepared, row in zip(fresh, rows, strict=True)
    }
    return results, rest


def _place_all(batch: list[Prepared], paths: list[str]) -> None:
    """Move every file into place, or none: the rows are rolled back when one cannot be."""
    try:
        storage.place_many([(p.spooled, path) for p, path in zip(batch, paths, strict=True)])
    except OSError as exc:
        raise _PlaceFailed(batch, f"cannot store file: {exc.strerror}", _code(exc)) from exc


class _PlaceFailed(Exception):
    def __init__(self, batch: list[Prepared], reason: str, code: int):
        super().__init__(reason)
        self.batch = batch
        self.reason = reason
        self.code = code


def _already_stored(spooled: list[storage.Spooled]) -> dict[tuple[str, int], IngestResult]:
    """The same bytes are the same instance: answer from the index without parsing, which
    makes a re-run of an interrupted import, or a client that retries, cheap. Keyed by
    (SHA-256, size)."""
    rows = Instance.objects.filter(sha256__in={one.sha256 for one in spooled}).values(
        "pk",
        "sha256",
        "file_size",
        "sop_instance_uid",
        "sop_class_uid",
        "series__series_instance_uid",
        "series__study__study_instance_uid",
        "series__study_id",
    )
    return {
        (row["sha256"], row["file_size"]): IngestResult(
            Status.ALREADY_STORED,
            "",
            sop_instance_uid=row["sop_instance_uid"],
            sop_class_uid=row["sop_class_uid"],
            series_instance_uid=row["series__series_instance_uid"],
            study_instance_uid=row["series__study__study_instance_uid"],
            study_pk=row["series__study_id"],
            instance_pk=row["pk"],
        )
        for row in rows
    }


def _read(spooled: storage.Spooled) -> dict:
    try:
        dataset = pydicom.dcmread(spooled.path, defer_size=DEFER_SIZE)
    except InvalidDicomError:
        raise Rejected("not a DICOM file (no DICM prefix after the 128-byte preamble)") from None
    except Exception as exc:  # pydicom raises many kinds on damaged input
        raise Rejected(f"DICOM file cannot be parsed: {_short(exc)}") from None

    meta = getattr(dataset, "file_meta", None)
    transfer_syntax = str(getattr(meta, "TransferSyntaxUID", "") or "")
    uids = {}
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        try:
            value = str(dataset.get(keyword, "") or "").strip()
        except Exception as exc:
            raise Rejected(f"{keyword} cannot be read: {_short(exc)}") from None
        if not value:
            raise Rejected(f"{keyword} is missing")
        if not is_valid_uid(value):
            raise Rejected(
                f"{keyword} is not a valid UID (digits and dots, at most 64): {value!r:.80}"
            )
        uids[keyword] = value
    found = {
        "sop_instance_uid": uids["SOPInstanceUID"],
        "series_instance_uid": uids["SeriesInstanceUID"],
        "study_instance_uid": uids["StudyInstanceUID"],
    }
    if not is_valid_uid(transfer_syntax):
        raise Rejected("file meta information has no valid Transfer Syntax UID", **found)
    try:
        _check_complete(dataset, spooled.size)
        offsets = frames.locate(spooled.path, dataset)
    except Rejected as exc:
        exc.uids = found
        raise
    except Exception as exc:
        raise Rejected(f"DICOM file cannot be parsed: {_short(exc)}", **found) from None

    attrs = {"transfer_syntax_uid": transfer_syntax, "frame_offsets": offsets}
    for table in (STUDY_FIELDS, SERIES_FIELDS, INSTANCE_FIELDS):
        for keyword, field in table.items():
            attrs[field] = _value(dataset, keyword)
    attrs.update(found)
    attrs["sop_class_uid"] = attrs["sop_class_uid"] or str(
        getattr(meta, "MediaStorageSOPClassUID", "") or ""
    )
    attrs["patient_name_key"] = attrs["patient_name"].upper()
    return attrs


def _check_complete(dataset: pydicom.Dataset, size: int) -> None:
    """Refuse truncated files: pydicom skips deferred values without checking they are there."""
    if str(getattr(dataset.file_meta, "TransferSyntaxUID", "")) == frames.DEFLATED:
        return  # value positions are in the inflated stream; pydicom read it whole already
    end = 0
    for elem in dataset._dict.values():
        tell = getattr(elem, "value_tell", None)
        length = getattr(elem, "length", None)
        if tell is not None and length is not None and length != 0xFFFFFFFF:
            end = max(end, tell + length)
    if end > size:
        raise Rejected(f"file is truncated: {size} bytes, but its last element ends at byte {end}")


def _value(dataset: pydicom.Dataset, keyword: str):
    """An attribute as the index keeps it: text (multiple values joined by a backslash) or
    int for the integer fields; empty when absent or unreadable, which never rejects a file."""
    field = _FIELD_TYPES.get(keyword)
    try:
        value = dataset.get(keyword)
    except Exception:
        value = None
    if field == "int":
        try:
            return int(value) if value not in (None, "") else None
        except (TypeError, ValueError):
            return None
    if value is None:
        return ""
    if isinstance(value, pydicom.multival.MultiValue):
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    return text[: _MAX_LENGTHS.get(keyword, 64)].strip()


def _index(spooled: storage.Spooled, attrs: dict) -> IngestResult:
    uids = {
        key: attrs[key] for key in ("sop_instance_uid", "series_instance_uid", "study_instance_uid")
    }
    uids["sop_class_uid"] = attrs["sop_class_uid"]
    relpath = _relpath(attrs)
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _index_locked(spooled, attrs, relpath, uids)
        except IntegrityError:
            # Another upload created the same study, series or instance between our read and
            # our insert; the next attempt sees its row.
            if attempt == 2:
                raise
        except OSError as exc:
            return IngestResult(
                Status.REJECTED, f"cannot store file: {exc.strerror}", OUT_OF_RESOURCES, **uids
            )
    raise AssertionError("unreachable")


def _index_locked(spooled, attrs, relpath, uids) -> IngestResult:
    # One writer per study at a time: counts and the instance check below stay consistent.
    # A study row created here is ours alone until commit; a concurrent creator gets an
    # IntegrityError and retries, then waits on this lock.
    study = (
        Study.objects.select_for_update()
        .filter(study_instance_uid=attrs["study_instance_uid"])
        .first()
    )
    if study is None:
        study = Study.objects.create(
            **_pick(attrs, STUDY_FIELDS), patient_name_key=attrs["patient_name_key"]
        )
    series = Series.objects.filter(series_instance_uid=attrs["series_instance_uid"]).first()
    new_series = series is None
    if new_series:
        series = Series.objects.create(study=study, **_pick(attrs, SERIES_FIELDS))
    elif series.study_id != study.pk:
        raise Rejected(
            f"series {series.series_instance_uid} already belongs to another study",
            PROCESSING_FAILURE,
            **uids,
        )

    existing = (
        Instance.objects.filter(sop_instance_uid=attrs["sop_instance_uid"])
        .only("pk", "sha256", "series_id", "file_path")
        .first()
    )
    instance_attrs = _instance_attrs(Prepared(spooled, attrs), relpath)
    known = {"study_pk": study.pk, **uids}
    if existing is not None and existing.sha256 == spooled.sha256:
        return IngestResult(Status.ALREADY_STORED, "", instance_pk=existing.pk, **known)
    if existing is not None and not settings.OVERWRITE_INSTANCES:
        return IngestResult(
            Status.KEPT_EXISTING,
            "an instance with this SOP Instance UID but different content is already stored;"
            " it was kept (OVERWRITE_INSTANCES is off)",
            instance_pk=existing.pk,
            **known,
        )

    moved_from = None
    if existing is None:
        instance = Instance.objects.create(series=series, **instance_attrs)
        _count_new_instances(study, Counter({series.pk: 1}), [series] if new_series else [])
        status = Status.STORED
    else:
        instance, moved_from = _replace(existing, series, instance_attrs)
        series.refresh_counts()
        study.refresh_counts()
        Study.objects.filter(pk=study.pk).update(generation=F("generation") + 1)
        status = Status.REPLACED
    storage.place(spooled, relpath)
    return IngestResult(
        status,
        "",
        instance_pk=instance.pk,
        generation=study.generation + 1,
        moved_from_study_pk=moved_from,
        **known,
    )


def _count_new_instances(study: Study, per_series: Counter, new_series: list[Series]) -> None:
    """Keep the derived counts exact with increments on the locked study row, instead of
    recounting a study that may hold thousands of instances. ``per_series``: new instances
    by series primary key; ``new_series``: the series created for them."""
    for series_pk, count in per_series.items():
        Series.objects.filter(pk=series_pk).update(
            number_of_series_related_instances=F("number_of_series_related_instances") + count
        )
    changes = {
        "number_of_study_related_instances": F("number_of_study_related_instances")
        + per_series.total(),
        "generation": F("generation") + 1,
        "updated_at": timezone.now(),
    }
    if new_series:
        changes["number_of_study_related_series"] = F("number_of_study_related_series") + len(
            new_series
        )
        modalities = set(filter(None, study.modalities_in_study.split("\\")))
        added = modalities | {row.modality for row in new_series if row.modality}
        if added != modalities:
            changes["modalities_in_study"] = "\\".join(sorted(added))
    Study.objects.filter(pk=study.pk).update(**changes)


def _relpath(attrs: dict) -> str:
    return storage.instance_relpath(
        attrs["study_instance_uid"], attrs["series_instance_uid"], attrs["sop_instance_uid"]
    )


def _instance_attrs(prepared: Prepared, relpath: str) -> dict:
    attrs = prepared.attrs
    return {
        **_pick(attrs, INSTANCE_FIELDS),
        "transfer_syntax_uid": attrs["transfer_syntax_uid"],
        "frame_offsets": attrs["frame_offsets"],
        "file_path": relpath,
        "file_size": prepared.spooled.size,
        "sha256": prepared.spooled.sha256,
    }


def _replace(
    existing: Instance, series: Series, instance_attrs: dict
) -> tuple[Instance, int | None]:
    """Overwrite an instance's row (OVERWRITE_INSTANCES); returns the study it left, if any."""
    old_series = Series.objects.get(pk=existing.series_id)
    old_path = existing.file_path
    existing = Instance.objects.get(pk=existing.pk)
    for field, value in instance_attrs.items():
        setattr(existing, field, value)
    existing.series = series
    existing.metadata = None
    existing.save()
    moved_from = None
    if old_series.pk != series.pk:
        old_study = Study.objects.select_for_update().get(pk=old_series.study_id)
        old_series.refresh_counts()
        old_study.refresh_counts()
        Study.objects.filter(pk=old_study.pk).update(generation=F("generation") + 1)
        moved_from = old_study.pk
    if old_path != existing.file_path:
        transaction.on_commit(lambda: storage.delete(old_path))
    return existing, moved_from


def _pick(attrs: dict, table: dict) -> dict:
    return {field: attrs[field] for field in table.values()}


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


_FIELD_TYPES = {"SeriesNumber": "int", "InstanceNumber": "int", "Rows": "int", "Columns": "int"}
_FIELD_TYPES |= {"NumberOfFrames": "int", "BitsAllocated": "int", "SamplesPerPixel": "int"}


def _max_lengths() -> dict[str, int]:
    lengths = {}
    for model, table in (
        (Study, STUDY_FIELDS),
        (Series, SERIES_FIELDS),
        (Instance, INSTANCE_FIELDS),
    ):
        for keyword, field in table.items():
            max_length = model._meta.get_field(field).max_length
            if max_length:
                lengths[keyword] = max_length
    return lengths


_MAX_LENGTHS = _max_lengths()
