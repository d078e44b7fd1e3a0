"""STOW-RS into the bucket (STORAGE_BACKEND=s3, SeaweedFS) while the bucket goes away: every
instance that could not be uploaded fails with 0xA700 and has no row, every row has its
object, and the same request sent again once the bucket is back stores everything."""

import os
import signal
import threading
import time

import pytest
import requests
from dicom_data import ct_series, multiframe, to_bytes
from stored import store_all, stored_bytes
from test_stow import FAILED, FAILURE_REASON, REFERENCED, SOP_INSTANCE, body, items, value
from wado_support import instance_path, parts_of

from archive import stores
from archive.models import Instance

OUT_OF_RESOURCES = 0xA700
DICOM = 'multipart/related; type="application/dicom"; boundary="stow-test-boundary"'


def stow(url, session, payloads):
    return session.post(
        f"{url}/studies", data=body(payloads), headers={"Content-Type": DICOM}, timeout=120
    )


def indexed_objects_match(s3_server, prefix, sent: dict[str, bytes]) -> set[str]:
    """Every indexed instance has its object, with the bytes sent; returns their UIDs."""
    client = s3_server.client()
    rows = list(Instance.objects.values_list("sop_instance_uid", "file_path"))
    for sop, key in rows:
        got = client.get_object(Bucket="dicom", Key=prefix + key)["Body"].read()
        assert got == sent[sop], f"{sop}: object differs from what was sent"
    return {sop for sop, _ in rows}


@pytest.mark.django_db(transaction=True)
def test_stow_with_the_bucket_stopped_then_retried(
    s3_server, s3_storage, live_server, dicomweb_session
):
    url = f"{live_server.url}/dicom-web"
    datasets = ct_series(3, rows=64, columns=64)
    payloads = [to_bytes(ds) for ds in datasets]
    s3_server.stop()
    try:
        refused = stow(url, dicomweb_session, payloads)
    finally:
        s3_server.start()
    assert refused.status_code == 409, refused.text
    failed = items(refused.json(), FAILED)
    assert [value(item[FAILURE_REASON]) for item in failed] == [OUT_OF_RESOURCES] * 3
    assert Instance.objects.count() == 0
    assert s3_server.keys(s3_storage) == []

    stored = stow(url, dicomweb_session, payloads)
    assert stored.status_code == 200, stored.text
    assert len(items(stored.json(), REFERENCED)) == 3
    sent = {ds.SOPInstanceUID: data for ds, data in zip(datasets, payloads, strict=True)}
    assert indexed_objects_match(s3_server, s3_storage, sent) == set(sent)
    assert len(s3_server.keys(s3_storage)) == 3


@pytest.mark.django_db(transaction=True)
def test_bucket_frozen_during_a_stow_then_retried(
    s3_server, s3_storage, live_server, dicomweb_session, settings
):
    """The server is frozen (SIGSTOP) as the first objects arrive: uploads under way time out,
    the instances of their slice (a STOW request is stored 32 parts at a time, each slice in
    one transaction) fail with 0xA700 and leave no rows; a slice stored before keeps them."""
    settings.S3_TIMEOUT = 1
    url = f"{live_server.url}/dicom-web"
    studies = [ct_series(12, rows=256, columns=256) for _ in range(4)]  # two slices
    datasets = [ds for study in studies for ds in study]
    payloads = [to_bytes(ds) for ds in datasets]
    sent = {ds.SOPInstanceUID: data for ds, data in zip(datasets, payloads, strict=True)}
    answer = {}
    session = requests_session(dicomweb_session)  # its own: used from another thread
    sender = threading.Thread(target=lambda: answer.update(response=stow(url, session, payloads)))
    watcher = s3_server.client()
    sender.start()
    deadline = time.monotonic() + 60
    while not watcher.list_objects_v2(Bucket="dicom", Prefix=s3_storage).get("KeyCount"):
        assert sender.is_alive() and time.monotonic() < deadline, "no upload seen"
        time.sleep(0.01)
    os.kill(s3_server.process.pid, signal.SIGSTOP)
    try:
        sender.join(120)
    finally:
        os.kill(s3_server.process.pid, signal.SIGCONT)
    response = answer["response"]
    assert response.status_code in (202, 409), response.text
    failed = items(response.json(), FAILED)
    assert failed, "every study was stored before the bucket froze"
    assert {value(item[FAILURE_REASON]) for item in failed} == {OUT_OF_RESOURCES}
    failed_uids = {value(item[SOP_INSTANCE]) for item in failed}
    stored_uids = {value(item[SOP_INSTANCE]) for item in items(response.json(), REFERENCED)}
    assert failed_uids | stored_uids == set(sent)
    s3_server.wait_ready()
    assert indexed_objects_match(s3_server, s3_storage, sent) == stored_uids

    settings.S3_TIMEOUT = 5
    retried = stow(url, dicomweb_session, payloads)
    # 202 when some were stored the first time: those come back "already stored" (a warning).
    assert retried.status_code in (200, 202), retried.text
    assert not items(retried.json(), FAILED)
    assert len(items(retried.json(), REFERENCED)) == len(sent)
    assert indexed_objects_match(s3_server, s3_storage, sent) == set(sent)
    assert set(s3_server.keys(s3_storage)) == {
        s3_storage + key for key in Instance.objects.values_list("file_path", flat=True)
    }
    assert stores.current().name == "s3"


def requests_session(template: requests.Session) -> requests.Session:
    session = requests.Session()
    session.auth = template.auth
    return session


@pytest.mark.django_db
def test_a_large_file_goes_up_in_parts(s3_storage, s3_requests, settings, reader_client):
    """Above S3_MULTIPART_THRESHOLD a file is a multipart upload, read back and checked."""
    settings.S3_MULTIPART_THRESHOLD = 5 * 1024 * 1024  # the smallest part S3 allows
    ds = multiframe(1300)  # 1300 frames of 64 x 80 bytes: 6.3 MiB
    [data] = store_all([ds])
    operations = [operation for operation, _ in s3_requests]
    assert "CreateMultipartUpload" in operations
    assert operations.count("UploadPart") == 2
    assert "CompleteMultipartUpload" in operations
    row = Instance.objects.get()
    assert stored_bytes(row) == data
    [(offset, length)] = row.frame_offsets[1299]
    accept = "multipart/related; type=application/octet-stream; transfer-syntax=*"
    frame = reader_client.get(f"{instance_path(ds)}/frames/1300", HTTP_ACCEPT=accept)
    [(_, payload)] = parts_of(frame)
    assert payload == data[offset : offset + length]
