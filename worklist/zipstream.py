"""A study as a zip of its DICOM files, produced piece by piece for a streaming response.

``zipfile`` writes into a sink that the generator empties after every chunk, so memory holds
one chunk, never the study. Entries are stored, not deflated: DICOM pixel data is usually
compressed already or barely compressible, and storing keeps the CPU free. Knows nothing of
HTTP.
"""

import logging
import re
import zipfile
from collections.abc import Iterator

from archive import stores
from archive.models import Instance, Study

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024


class _Sink:
    """A write-only, unseekable file: zipfile then writes data descriptors after each entry."""

    def __init__(self):
        self._chunks: list[bytes] = []

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self):
        pass

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def study_entries(study: Study) -> Iterator[tuple[str, Instance]]:
    """(name in the zip, instance), grouped by series in series/instance number order."""
    instances = (
        Instance.objects.filter(series__study=study)
        .select_related("series")
        .order_by("series__series_number", "series__pk", "instance_number", "pk")
        .only(
            "sop_instance_uid",
            "instance_number",
            "file_path",
            "file_size",
            "series__series_number",
            "series__modality",
            "series__series_description",
        )
    )
    for instance in instances.iterator(chunk_size=500):
        series = instance.series
        label = "_".join(
            part
            for part in (
                f"{series.series_number:03d}" if series.series_number is not None else "",
                _safe(series.modality),
                _safe(series.series_description),
            )
            if part
        )
        yield f"{label or 'series'}/{instance.sop_instance_uid}.dcm", instance


def zip_name(study: Study) -> str:
    parts = (_safe(study.patient_id), _safe(study.study_date), study.study_instance_uid)
    return "_".join(part for part in parts if part) + ".zip"


def stream_study_zip(study: Study) -> Iterator[bytes]:
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, instance in study_entries(study):
            try:
                source = stores.current().open(instance.file_path)
            except FileNotFoundError:
                # Deleted while the zip was being sent; the headers are gone, so leave it out.
                log.warning("zip of %s: %s vanished", study.study_instance_uid, name)
                continue
            info = zipfile.ZipInfo(name, date_time=_date_time(study))
            info.compress_type = zipfile.ZIP_STORED
            info.file_size = instance.file_size
            with source, archive.open(info, "w", force_zip64=instance.file_size > 2**31) as out:
                while chunk := source.read(CHUNK):
                    out.write(chunk)
                    yield sink.drain()
            yield sink.drain()
    yield sink.drain()


def _date_time(study: Study) -> tuple[int, int, int, int, int, int]:
    """The study date as the entries' modification time (zip needs a date of 1980 or later)."""
    value = study.study_date
    if len(value) == 8 and value.isdigit() and value >= "19800101":
        return (int(value[:4]), int(value[4:6]) or 1, int(value[6:]) or 1, 0, 0, 0)
    return (1980, 1, 1, 0, 0, 0)


def _safe(text: str) -> str:
    """A path component that cannot climb out of the zip or confuse an unzip tool."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text or "").strip("-.")[:40]
