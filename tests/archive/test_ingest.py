"""The one ingest path: what is stored, what is refused, and that refusals change nothing."""

import threading

import numpy as np
import pydicom
import pytest
from dicom_data import (
    bundled_files,
    ct_series,
    ct_slice,
    multiframe,
    receive_file,
    receive_one,
    rgb_image,
    to_bytes,
    uid,
)

from archive import ingest, storage
from archive.ingest import Status
from archive.models import Instance, Series, Study


def store(ds) -> ingest.IngestResult:
    return receive_one(ds)


def incoming_left():
    return list(storage.incoming_dir().iterdir())


@pytest.mark.django_db
def test_series_is_indexed_with_counts_and_bytes_kept():
    datasets = ct_series(3, rows=32, columns=32, patient_name="Smith^John", patient_id="P1")
    results = [store(ds) for ds in datasets]

    assert [r.status for r in results] == [Status.STORED] * 3
    study = Study.objects.get(study_instance_uid=datasets[0].StudyInstanceUID)
    assert study.patient_name == "Smith^John"
    assert study.patient_name_key == "SMITH^JOHN"
    assert study.patient_id == "P1"
    assert study.study_date == "20240115"
    assert study.modalities_in_study == "CT"
    assert study.number_of_study_related_series == 1
    assert study.number_of_study_related_instances == 3
    assert study.generation == 3
    series = Series.objects.get(series_instance_uid=datasets[0].SeriesInstanceUID)
    assert series.number_of_series_related_instances == 3
    assert series.modality == "CT"
    instance = Instance.objects.get(sop_instance_uid=datasets[1].SOPInstanceUID)
    assert (instance.rows, instance.columns, instance.instance_number) == (32, 32, 2)
    assert instance.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert instance.absolute_path.read_bytes() == to_bytes(datasets[1])
    assert instance.file_size == len(to_bytes(datasets[1]))
    assert incoming_left() == []


@pytest.mark.django_db
def test_modalities_in_study_lists_every_series():
    study_uid = uid()
    store(ct_slice(0, rows=16, columns=16, study_uid=study_uid))
    store(rgb_image(study_uid=study_uid))
    study = Study.objects.get(study_instance_uid=study_uid)
    assert study.modalities_in_study == "CT\\OT"
    assert study.number_of_study_related_series == 2


@pytest.mark.django_db
def test_frame_offsets_point_at_each_frames_pixels():
    ds = multiframe(frames=4)
    result = store(ds)
    instance = Instance.objects.get(pk=result.instance_pk)
    raw = instance.absolute_path.read_bytes()
    frames = [b"".join(raw[o : o + n] for o, n in pieces) for pieces in instance.frame_offsets]
    assert frames == [frame.tobytes() for frame in ds.pixel_array]


@pytest.mark.django_db
def test_same_bytes_again_is_already_stored():
    ds = ct_slice(rows=16, columns=16)
    first, second = store(ds), store(ds)
    assert (first.status, second.status) == (Status.STORED, Status.ALREADY_STORED)
    assert Instance.objects.count() == 1
    assert Study.objects.get().number_of_study_related_instances == 1
    assert Study.objects.get().generation == 1


@pytest.mark.django_db
def test_different_bytes_same_uid_are_kept_by_default(settings):
    ds = ct_slice(rows=16, columns=16)
    store(ds)
    original = to_bytes(ds)
    ds.PatientName = "Changed^Name"
    result = store(ds)
    assert result.status == Status.KEPT_EXISTING
    assert "OVERWRITE_INSTANCES" in result.reason
    assert Instance.objects.get().absolute_path.read_bytes() == original


@pytest.mark.django_db
def test_different_bytes_replace_when_overwrite_is_on(settings, django_capture_on_commit_callbacks):
    settings.OVERWRITE_INSTANCES = True
    ds = ct_slice(rows=16, columns=16)
    store(ds)
    old = Instance.objects.get().absolute_path
    ds.PixelData = np.zeros((16, 16), dtype=np.uint16).tobytes()
    with django_capture_on_commit_callbacks(execute=True):
        result = store(ds)
    assert result.status == Status.REPLACED
    instance = Instance.objects.get()
    assert instance.absolute_path != old and not old.exists()  # the old file went at commit
    assert [p.name for p in old.parent.iterdir()] == [instance.absolute_path.name]
    assert instance.absolute_path.read_bytes() == to_bytes(ds)
    assert pydicom.dcmread(instance.absolute_path).pixel_array.max() == 0
    assert Study.objects.get().number_of_study_related_instances == 1


def _rejects(data: bytes, reason: str):
    before = (Study.objects.count(), Instance.objects.count())
    result = receive_one(data)
    assert result.status == Status.REJECTED
    assert reason in result.reason
    assert result.failure_code is not None
    assert (Study.objects.count(), Instance.objects.count()) == before
    assert incoming_left() == []
    return result


@pytest.mark.django_db
def test_rejections_leave_stored_data_untouched():
    kept = ct_slice(rows=16, columns=16)
    store(kept)
    stored_bytes = Instance.objects.get().absolute_path.read_bytes()

    _rejects(b"this is not DICOM at all" * 10, "not a DICOM file")
    _rejects(to_bytes(ct_slice(rows=64, columns=64))[:-1000], "truncated")
    no_uid = ct_slice(rows=16, columns=16)
    del no_uid.SeriesInstanceUID
    _rejects(to_bytes(no_uid), "SeriesInstanceUID is missing")
    for hostile in ("../../etc/passwd", "1.2.3." + "4" * 70, "1.2.abc"):
        bad = ct_slice(rows=16, columns=16)
        bad.SOPInstanceUID = hostile
        _rejects(to_bytes(bad), "not a valid UID")
    # The same SOP Instance UID in a truncated file must not touch the stored one.
    _rejects(to_bytes(kept)[:-100], "truncated")

    assert Instance.objects.get().absolute_path.read_bytes() == stored_bytes


@pytest.mark.django_db
def test_series_uid_reused_in_another_study_is_refused():
    ds = ct_slice(rows=16, columns=16)
    store(ds)
    other = ct_slice(1, rows=16, columns=16, series_uid=ds.SeriesInstanceUID)
    result = store(other)
    assert result.status == Status.REJECTED
    assert "belongs to another study" in result.reason
    assert Instance.objects.count() == 1


@pytest.mark.django_db
def test_every_bundled_pydicom_file_is_stored_or_rejected_with_a_reason():
    results = {}
    for path in bundled_files():
        results[path] = receive_file(path)
    assert all(r.ok or r.reason for r in results.values())
    stored = [r for r in results.values() if r.changed]
    assert len(stored) > 50
    assert Instance.objects.count() == len(stored)
    for instance in Instance.objects.all():
        assert instance.absolute_path.stat().st_size == instance.file_size
    assert incoming_left() == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_of_one_instance_store_it_once():
    data = to_bytes(ct_slice(rows=64, columns=64))
    results = []

    def upload():
        from django.db import connection

        try:
            results.append(receive_one(data))
        finally:
            connection.close()

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    statuses = sorted(r.status for r in results)
    assert statuses.count(Status.STORED) == 1
    assert statuses.count(Status.ALREADY_STORED) == 3
    assert Instance.objects.count() == 1
    assert Study.objects.get().number_of_study_related_instances == 1
    assert incoming_left() == []


def _nested(depth: int) -> tuple[bytes, str]:
    """A CT slice with ContentSequence items nested ``depth`` deep, written by hand (explicit
    VR, undefined lengths): pydicom takes quadratic time to write thousands of levels."""
    import struct

    ds = ct_slice(rows=16, columns=16)
    data = to_bytes(ds)
    undefined = 0xFFFFFFFF
    opening = struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, undefined)
    opening += struct.pack("<HHI", 0xFFFE, 0xE000, undefined)
    closing = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    leaf = struct.pack("<HH2sH", 0x0008, 0x0104, b"LO", 4) + b"leaf"
    nested = opening * depth + leaf + closing * depth
    at = data.rindex(struct.pack("<HH", 0x7FE0, 0x0010))  # before the pixel data, in tag order
    return data[:at] + nested + data[at:], ds.SOPInstanceUID


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [65, 3000])
def test_sequences_nested_too_deep_are_refused(depth, settings):
    """Every later reader walks sequences recursively (DICOM JSON, the caches, OHIF): a file
    nested deeper than INGEST_MAX_SEQUENCE_DEPTH is refused, with its UIDs, before any row."""
    settings.INGEST_MAX_SEQUENCE_DEPTH = 64
    data, sop_uid = _nested(depth)
    result = receive_one(data)
    assert result.status == Status.REJECTED
    assert "nested" in result.reason
    if depth < 1000:  # deeper, pydicom cannot even read the file to find its UIDs
        assert result.sop_instance_uid == sop_uid
    assert not Instance.objects.exists()
    assert incoming_left() == []


@pytest.mark.django_db
def test_sequences_at_the_limit_are_stored(settings):
    settings.INGEST_MAX_SEQUENCE_DEPTH = 64
    data, _ = _nested(64)
    assert receive_one(data).status == Status.STORED
