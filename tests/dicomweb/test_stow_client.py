"""STOW-RS driven by a third-party client: dicomweb-client's ``store_instances``."""

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
from dicom_data import compressed, ct_series, ct_slice, multiframe, uid
from dicomweb_client.api import DICOMwebClient
from django.contrib.auth.hashers import make_password
from requests import HTTPError
from stored import stored_bytes

from archive.models import Instance, Study


def as_sent(ds) -> bytes:
    """The client writes datasets with ``pydicom.dcmwrite`` (pydicom 3: file meta without
    the preamble); the archive stores them with the 128-byte preamble and DICM added."""
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds)
    return bytes(128) + b"DICM" + buffer.getvalue()


@pytest.fixture
def client(dicomweb_session, dicomweb_url):
    return DICOMwebClient(url=dicomweb_url, session=dicomweb_session)


def test_store_instances(client, dicomweb_url):
    datasets = ct_series(3, rows=16, columns=16) + [compressed(multiframe(3))]
    answer = client.store_instances(datasets)

    referenced = answer.ReferencedSOPSequence
    assert [item.ReferencedSOPInstanceUID for item in referenced] == [
        ds.SOPInstanceUID for ds in datasets
    ]
    assert all("WarningReason" not in item for item in referenced)
    assert "FailedSOPSequence" not in answer
    for ds in datasets:
        stored = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
        assert stored_bytes(stored) == as_sent(ds)
    assert Study.objects.count() == 2


def test_store_instances_in_study(client):
    datasets = ct_series(2, rows=16, columns=16)
    study_uid = datasets[0].StudyInstanceUID
    answer = client.store_instances(datasets, study_instance_uid=study_uid)
    assert answer.RetrieveURL.endswith(f"/studies/{study_uid}")
    assert Study.objects.get(study_instance_uid=study_uid).number_of_study_related_instances == 2


def test_store_again_reports_warning(client):
    ds = ct_slice(rows=16, columns=16)
    client.store_instances([ds])
    answer = client.store_instances([ds])
    assert answer.ReferencedSOPSequence[0].WarningReason == 0xB006
    assert Instance.objects.count() == 1


def test_wrong_study_is_refused(client):
    ds = ct_slice(rows=16, columns=16)
    with pytest.raises(HTTPError) as raised:
        client.store_instances([ds], study_instance_uid=uid())
    assert raised.value.response.status_code == 409
    assert Instance.objects.count() == 0


@pytest.fixture
def gunicorn_url(database_url, storage_dir, admin_user, tmp_path):
    """The archive under gunicorn, as ./run.sh serves it: unlike Django's test server it
    decodes chunked request bodies."""
    admin_user.password = make_password("password", hasher="pbkdf2_sha256")
    admin_user.save()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DICOM_STORAGE_DIR": str(storage_dir),
        "DATA_DIR": str(tmp_path),
        "PRELOAD": "false",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "ohifsite.wsgi", "--bind", f"127.0.0.1:{port}"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            assert process.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/dicom-web"
    finally:
        process.terminate()
        process.wait(10)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_chunked_upload_through_gunicorn(gunicorn_url, dicomweb_session, transactional_db):
    """dicomweb-client sends bodies larger than its chunk size with chunked transfer encoding
    (no Content-Length)."""
    client = DICOMwebClient(url=gunicorn_url, session=dicomweb_session, chunk_size=4096)
    datasets = ct_series(3, rows=32, columns=32)
    answer = client.store_instances(datasets)
    assert len(answer.ReferencedSOPSequence) == 3
    for ds in datasets:
        stored = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
        assert stored_bytes(stored) == as_sent(ds)
