"""Send to…: from the worklist's study menu and the admin, sent by a real Celery worker to
dcmtk's storescp, with each instance's result on the page; a retry sends only the rest."""

import subprocess
import time

import pydicom
import pytest
from conftest import dataset_bytes
from dicom_data import ct_series, receive_one
from oidc.provider import free_port
from stored import put_stored, remove_stored, stored_bytes

from accounts.models import AccessEvent
from archive.models import Instance
from dicomnet.models import SendItem, SendJob

pytestmark = pytest.mark.worker


@pytest.fixture
def storescp(tmp_path, remote_ae):
    """storescp writing every instance it gets to a file of its own (+uf: sending one twice
    makes two files), registered as STORESCP."""
    folder = tmp_path / "received"
    folder.mkdir()
    port = free_port()
    process = subprocess.Popen(
        ["storescp", "-aet", "STORESCP", "+xa", "+uf", "-od", str(folder), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.3)
    remote = remote_ae("STORESCP", port=port, description="test storescp")
    yield folder, remote
    process.terminate()
    process.wait(10)


def received(folder) -> dict[str, bytes]:
    found = {}
    for path in folder.iterdir():
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert ds.SOPInstanceUID not in found, "an instance was sent twice"
        found[ds.SOPInstanceUID] = path.read_bytes()
    return found


def test_send_from_the_worklist_then_retry_what_failed(
    celery_worker, transactional_db, admin_client, storescp, wait_for
):
    folder, remote = storescp
    series = ct_series(3, rows=16, columns=16)
    for ds in series:
        assert receive_one(ds).ok
    study = series[0].StudyInstanceUID
    # The study menu offers it.
    assert f"/dicom/send/{study}/" in admin_client.get("/").content.decode()
    # One file is missing from the storage: that instance fails, the others arrive.
    missing = Instance.objects.get(sop_instance_uid=series[1].SOPInstanceUID)
    kept = stored_bytes(missing)
    remove_stored(missing)

    page = admin_client.get(f"/dicom/send/{study}/").content.decode()
    assert "STORESCP" in page
    response = admin_client.post(f"/dicom/send/{study}/", {"destination": remote.pk})
    assert response.status_code == 302
    job = SendJob.objects.get()
    assert response["Location"] == f"/dicom/sends/{job.pk}/"

    def finished():
        job.refresh_from_db()
        return job.state in ("done", "failed")

    wait_for(finished, 120, message="the send to finish")
    assert job.state == "failed"
    statuses = dict(job.items.values_list("instance__sop_instance_uid", "status"))
    assert statuses == {series[0].SOPInstanceUID: "sent", series[1].SOPInstanceUID: "failed",
                        series[2].SOPInstanceUID: "sent"}  # fmt: skip
    page = admin_client.get(f"/dicom/sends/{job.pk}/").content.decode()
    assert "2 of 3 arrived · 1 failed" in page
    assert "Retry what did not arrive" in page
    assert set(received(folder)) == {series[0].SOPInstanceUID, series[2].SOPInstanceUID}

    put_stored(missing, kept)
    admin_client.post(f"/dicom/sends/{job.pk}/retry")
    wait_for(finished, 120, message="the retry to finish")
    assert job.state == "done" and job.attempts == 2
    got = received(folder)  # each instance once: the retry sent only the missing one
    assert set(got) == {ds.SOPInstanceUID for ds in series}
    for uid, raw in got.items():
        stored = stored_bytes(Instance.objects.get(sop_instance_uid=uid))
        assert dataset_bytes(raw) == dataset_bytes(stored)
    assert (
        "3 of 3 arrived · 0 failed" in admin_client.get(f"/dicom/sends/{job.pk}/").content.decode()
    )
    events = AccessEvent.objects.filter(method="SEND", study_instance_uid=study)
    assert events.count() == 2


def test_send_from_the_admin(celery_worker, transactional_db, admin_client, storescp, wait_for):
    from archive.models import Study

    folder, remote = storescp
    series = ct_series(2, rows=16, columns=16)
    for ds in series:
        assert receive_one(ds).ok
    study = Study.objects.get(study_instance_uid=series[0].StudyInstanceUID)
    response = admin_client.post(
        "/admin/dicomnet/sendjob/add/", {"study": study.pk, "destination": remote.pk}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    job = SendJob.objects.get()
    wait_for(lambda: SendJob.objects.get(pk=job.pk).state == "done", 120, message="the send")
    assert set(received(folder)) == {ds.SOPInstanceUID for ds in series}
    assert SendItem.objects.filter(job=job, status="sent").count() == 2
    page = admin_client.get(f"/admin/dicomnet/sendjob/{job.pk}/change/").content.decode()
    assert series[0].SOPInstanceUID in page or "sent" in page


def test_readers_may_not_send(client, django_user_model, transactional_db):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("reader-only", password="x")
    user.groups.add(Group.objects.get_or_create(name="reader")[0])
    client.force_login(user)
    series = ct_series(1, rows=16, columns=16)
    assert receive_one(series[0]).ok
    assert client.get(f"/dicom/send/{series[0].StudyInstanceUID}/").status_code == 403
    assert "/dicom/send/" not in client.get("/").content.decode()
