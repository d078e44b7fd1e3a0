"""Reading a spooled file: is it DICOM we can index, and what goes into the index rows.

Pure: a path in, a ``Parsed`` (or ``Rejected``) out. The bytes are parsed once, with large
values (pixel data) left on disk.
"""

import functools
from dataclasses import dataclass

import pydicom
from django.conf import settings
from django.db import connection
from pydicom.errors import InvalidDicomError

from .. import elements, frames, storage
from ..models import INSTANCE_FIELDS, SERIES_FIELDS, STUDY_FIELDS, Instance, Series, Study
from ..uids import is_valid_uid
from . import attributes
from .outcome import NOT_DICOM, IngestResult, Rejected, Status

# Elements larger than this are not read into memory while indexing (pixel data, overlays).
DEFER_SIZE = 64 * 1024

TOO_DEEP = "sequences are nested too deeply to be read"

UID_KEYS = ("sop_class_uid", "sop_instance_uid", "series_instance_uid", "study_instance_uid")


@dataclass(frozen=True)
class Parsed:
    """A spooled file that was read and validated, ready to be indexed and placed."""

    spooled: storage.Spooled
    attrs: dict

    @property
    def study_instance_uid(self) -> str:
        return self.attrs["study_instance_uid"]

    @property
    def sop_instance_uid(self) -> str:
        return self.attrs["sop_instance_uid"]

    @property
    def series_instance_uid(self) -> str:
        return self.attrs["series_instance_uid"]

    def uids(self) -> dict[str, str]:
        return {key: self.attrs[key] for key in UID_KEYS}


def parse(spooled: storage.Spooled) -> Parsed:
    """Raises ``Rejected`` with the reason a file cannot be indexed."""
    try:
        dataset = elements.dcmread(spooled.path, DEFER_SIZE)
    except InvalidDicomError:
        raise Rejected(NOT_DICOM) from None
    except RecursionError:
        raise Rejected(TOO_DEEP) from None
    except Exception as exc:  # pydicom raises many kinds on damaged input
        raise Rejected(f"DICOM file cannot be parsed: {_short(exc)}") from None

    meta = getattr(dataset, "file_meta", None)
    transfer_syntax = str(getattr(meta, "TransferSyntaxUID", "") or "")
    found = {}
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        try:
            value = attributes.uid(dataset, keyword)
        except Exception as exc:
            raise Rejected(f"{keyword} cannot be read: {_short(exc)}", **found) from None
        if not value:
            raise Rejected(f"{keyword} is missing", **found)
        if not is_valid_uid(value):
            raise Rejected(
                f"{keyword} is not a valid UID (digits and dots, at most 64): {value!r:.80}",
                **found,
            )
        found[_FIELD_OF_UID[keyword]] = value
    if not is_valid_uid(transfer_syntax):
        raise Rejected("file meta information has no valid Transfer Syntax UID", **found)
    try:
        _check_complete(dataset, spooled.size)
        _check_depth(dataset, settings.INGEST_MAX_SEQUENCE_DEPTH)
        offsets = frames.locate(
            spooled.path, dataset, lambda keyword: attributes.number(dataset, keyword)
        )
    except Rejected as exc:
        exc.uids = found
        raise
    except RecursionError:
        raise Rejected(TOO_DEEP, **found) from None
    except Exception as exc:
        raise Rejected(f"DICOM file cannot be parsed: {_short(exc)}", **found) from None

    attrs = {"transfer_syntax_uid": transfer_syntax, "frame_offsets": offsets}
    attrs.update(attributes.read(dataset, COLUMNS))
    attrs.update(found)
    attrs["sop_class_uid"] = attrs["sop_class_uid"] or str(
        getattr(meta, "MediaStorageSOPClassUID", "") or ""
    )
    attrs["patient_name_key"] = attrs["patient_name"].upper()
    return Parsed(spooled, attrs)


_FIELD_OF_UID = {
    "StudyInstanceUID": "study_instance_uid",
    "SeriesInstanceUID": "series_instance_uid",
    "SOPInstanceUID": "sop_instance_uid",
}


def already_stored(spooled: list[storage.Spooled]) -> dict[tuple[str, int], IngestResult]:
    """The same bytes are the same instance: answer from the index without parsing, which
    makes a re-run of an interrupted import, or a client that retries, cheap. Keyed by
    (SHA-256, size). One statement written here, not by the ORM: compiling the ORM's query
    with its joins cost a web worker more than running it (about 0.3 ms a STOW request)."""
    hashes = sorted({one.sha256 for one in spooled})
    if not hashes:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_stored_sql(len(hashes)), hashes)
        rows = cursor.fetchall()
    return {
        (sha256, size): IngestResult(
            Status.ALREADY_STORED,
            "",
            sop_instance_uid=sop,
            sop_class_uid=sop_class,
            series_instance_uid=series_uid,
            study_instance_uid=study_uid,
            study_pk=study_pk,
            instance_pk=pk,
        )
        for pk, sha256, size, sop, sop_class, series_uid, study_uid, study_pk in rows
    }


@functools.cache
def _stored_sql(count: int) -> str:
    """The instances holding any of ``count`` hashes, with their series' and study's UIDs."""
    quote = connection.ops.quote_name
    instance, series, study = (quote(model._meta.db_table) for model in (Instance, Series, Study))
    return (
        "SELECT i.id, i.sha256, i.file_size, i.sop_instance_uid, i.sop_class_uid,"
        " s.series_instance_uid, st.study_instance_uid, s.study_id"
        f" FROM {instance} i JOIN {series} s ON s.id = i.series_id"
        f" JOIN {study} st ON st.id = s.study_id"
        f" WHERE i.sha256 IN ({', '.join(['%s'] * count)})"
    )


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


def _check_depth(dataset: pydicom.Dataset, limit: int) -> None:
    """Refuse sequences nested deeper than ``limit``: every later reader (DICOM JSON, the
    metadata caches, OHIF) walks them recursively. Walks sequences only, without recursion."""
    pending = [(dataset, 1)]
    while pending:
        current, depth = pending.pop()
        for elem in current._dict.values():
            if not _is_sequence(elem):
                continue
            if depth > limit:
                raise Rejected(f"sequences are nested more than {limit} deep")
            value = current[elem.tag].value
            pending.extend((item, depth + 1) for item in value)


def _is_sequence(elem) -> bool:
    vr = getattr(elem, "VR", None)
    if vr is None or vr == "UN":
        try:
            vr = pydicom.datadict.dictionary_VR(elem.tag)
        except KeyError:
            return False
    return vr == "SQ"


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _columns() -> list[attributes.Column]:
    """The index's attributes, each with its field's length."""
    return attributes.columns(
        (keyword, field, model._meta.get_field(field).max_length)
        for model, table in (
            (Study, STUDY_FIELDS),
            (Series, SERIES_FIELDS),
            (Instance, INSTANCE_FIELDS),
        )
        for keyword, field in table.items()
    )


COLUMNS = _columns()
