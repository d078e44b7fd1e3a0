"""Reads from the bucket (STORAGE_BACKEND=s3, SeaweedFS): a frame is one ranged GET of its
recorded bytes, a file a stream; a bucket out of reach answers 503, not 500, and reads work
again once it is back, in the same web process."""

import io

import pydicom
import pytest
from dicom_data import compressed, ct_series, ct_slice, multiframe
from django.core.management import call_command
from stored import store_all
from wado_support import body_of, instance_path, parts_of

from archive import caches
from archive.models import Instance, Study


@pytest.fixture
def in_bucket(s3_storage, settings):
    """Store datasets, then move them into the bucket and drop the folder copies, so what is
    read can only come from the bucket."""

    def put(*datasets) -> list[bytes]:
        settings.STORAGE_BACKEND = "filesystem"
        sent = store_all(datasets)
        call_command("migrate_storage", "--to", "s3", "--no-progress", stdout=io.StringIO())
        for row in Instance.objects.all():
            row.absolute_path.unlink()
        settings.STORAGE_BACKEND = "s3"
        return sent

    return put


@pytest.mark.django_db
def test_a_frame_is_one_ranged_get(in_bucket, reader_client, s3_requests):
    ds = multiframe(6)
    [sent] = in_bucket(ds)
    row = Instance.objects.get()
    s3_requests.clear()
    response = reader_client.get(
        f"{instance_path(ds)}/frames/4",
        HTTP_ACCEPT="multipart/related; type=application/octet-stream",
    )
    assert response.status_code == 200
    [(_, payload)] = parts_of(response)
    [(offset, length)] = row.frame_offsets[3]
    assert payload == sent[offset : offset + length]
    assert s3_requests == [("GetObject", f"bytes={offset}-{offset + length - 1}")]


@pytest.mark.django_db
def test_files_and_decoded_frames_come_from_the_bucket(in_bucket, reader_client):
    plain, packed = ct_slice(rows=32, columns=32), compressed(ct_slice(1, rows=32, columns=32))
    sent = in_bucket(plain, packed)
    for ds, data in zip((plain, packed), sent, strict=True):
        whole = reader_client.get(instance_path(ds), HTTP_ACCEPT="application/dicom")
        assert whole.status_code == 200
        assert int(whole["Content-Length"]) == len(data)
        assert body_of(whole) == data
        wadouri = reader_client.get(
            "/wado",
            {
                "requestType": "WADO",
                "studyUID": ds.StudyInstanceUID,
                "seriesUID": ds.SeriesInstanceUID,
                "objectUID": ds.SOPInstanceUID,
                "contentType": "application/dicom",
            },
        )
        assert body_of(wadouri) == data
    stored = reader_client.get(
        f"{instance_path(packed)}/frames/1",
        HTTP_ACCEPT="multipart/related; type=application/octet-stream; transfer-syntax=*",
    )
    [(_, fragments)] = parts_of(stored)
    row = Instance.objects.get(sop_instance_uid=packed.SOPInstanceUID)
    [(offset, length)] = row.frame_offsets[0]
    assert fragments == sent[1][offset : offset + length]
    native = reader_client.get(
        f"{instance_path(packed)}/frames/1",
        HTTP_ACCEPT="multipart/related; type=application/octet-stream",
    )
    [(_, pixels)] = parts_of(native)
    assert pixels == pydicom.dcmread(io.BytesIO(sent[1])).pixel_array.astype("<i2").tobytes()


@pytest.mark.django_db
def test_bucket_out_of_reach_is_503_and_reads_resume(in_bucket, reader_client, s3_server):
    ds = multiframe(3)
    [sent] = in_bucket(ds)
    frame = f"{instance_path(ds)}/frames/2"
    accept = "multipart/related; type=application/octet-stream; transfer-syntax=*"
    assert reader_client.get(frame, HTTP_ACCEPT=accept).status_code == 200
    wadouri = {
        "requestType": "WADO",
        "studyUID": ds.StudyInstanceUID,
        "seriesUID": ds.SeriesInstanceUID,
        "objectUID": ds.SOPInstanceUID,
        "contentType": "application/dicom",
    }
    s3_server.stop()
    try:
        for response in (
            reader_client.get(frame, HTTP_ACCEPT=accept),
            reader_client.get(instance_path(ds), HTTP_ACCEPT="application/dicom"),
            reader_client.get("/wado", wadouri),
            reader_client.get("/wado", {**wadouri, "contentType": "image/png"}),
        ):
            assert response.status_code == 503, response.content[:300]
            assert response["Retry-After"]
            assert "object storage unavailable" in response.json()["detail"]
    finally:
        s3_server.start()
    assert body_of(reader_client.get("/wado", wadouri)) == sent
    [(_, payload)] = parts_of(reader_client.get(frame, HTTP_ACCEPT=accept))
    [(offset, length)] = Instance.objects.get().frame_offsets[1]
    assert payload == sent[offset : offset + length]


@pytest.mark.django_db
def test_a_cache_build_reads_each_object_once(s3_storage, s3_requests, settings):
    settings.PRELOAD = False
    datasets = ct_series(5, rows=32, columns=32)
    store_all(datasets)
    study = Study.objects.get()
    s3_requests.clear()
    assert caches.build(study.pk, study.generation) == caches.Outcome.BUILT
    assert [operation for operation, _ in s3_requests] == ["GetObject"] * len(datasets)
    assert all(header is None for _, header in s3_requests)  # whole objects, one GET each
    assert Instance.objects.filter(metadata__isnull=True).count() == 0
