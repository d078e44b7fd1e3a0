"""The upload endpoint behind the worklist's upload control: one file per request into the one
ingest path, a zip expanded member by member, outcomes in words, limits and CSRF enforced."""

import io
import zipfile

import pytest
from dicom_data import ct_series, mr_slice, to_bytes
from django.test import Client
from stored import stored_bytes

from archive.models import Instance, Study


def post(client, data: bytes, name="file.dcm", **headers):
    return client.post(
        "/upload/",
        data=data,
        content_type="application/octet-stream",
        headers={"X-File-Name": name, **headers},
    )


def test_a_dicom_file_is_stored_then_already_stored(client_as):
    ds = mr_slice(patient_name="Upload^Una")
    client = client_as("uploader")
    first = post(client, to_bytes(ds), "scan%20one.dcm")
    assert first.status_code == 200
    assert first.json() == {
        "name": "scan one.dcm",
        "results": [
            {
                "name": "scan one.dcm",
                "status": "stored",
                "reason": "",
                "study_instance_uid": ds.StudyInstanceUID,
                "series_instance_uid": ds.SeriesInstanceUID,
                "sop_instance_uid": ds.SOPInstanceUID,
                "study_url": f"/dicom-web/studies/{ds.StudyInstanceUID}",
            }
        ],
    }
    stored = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
    assert stored_bytes(stored) == to_bytes(ds)
    assert Study.objects.get().patient_name == "Upload^Una"

    again = post(client, to_bytes(ds), "scan one.dcm").json()["results"][0]
    assert again["status"] == "already stored"
    assert again["reason"] == "the archive already holds this instance, byte for byte"
    assert Instance.objects.count() == 1


def test_a_file_that_is_not_dicom_is_rejected_in_words(client_as):
    response = post(client_as("uploader"), b"just some notes\n" * 20, "notes.txt")
    assert response.status_code == 200
    [result] = response.json()["results"]
    assert result["status"] == "rejected"
    assert "not a DICOM file" in result["reason"]
    assert Instance.objects.count() == 0


def test_a_zip_is_expanded_member_by_member(client_as):
    series = ct_series(3, rows=32, columns=32)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("DICOMDIR", b"index")
        for i, ds in enumerate(series):
            archive.writestr(f"study/IM{i}", to_bytes(ds))
        archive.writestr("study/readme.txt", b"hello")
        archive.writestr("__MACOSX/study/._IM0", b"fork")
    response = post(client_as("uploader"), buffer.getvalue(), "disc.zip")
    results = {r["name"]: (r["status"], r["reason"]) for r in response.json()["results"]}
    assert results["disc.zip/DICOMDIR"][0] == "skipped"
    assert results["disc.zip/__MACOSX/study/._IM0"][0] == "skipped"
    assert [results[f"disc.zip/study/IM{i}"][0] for i in range(3)] == ["stored"] * 3
    assert results["disc.zip/study/readme.txt"][0] == "rejected"
    stored = Instance.objects.order_by("instance_number")
    assert [i.sop_instance_uid for i in stored] == [ds.SOPInstanceUID for ds in series]
    assert [stored_bytes(i) for i in stored] == [to_bytes(ds) for ds in series]
    assert Study.objects.get().number_of_study_related_instances == 3


def test_a_zip_larger_than_one_slice_keeps_every_outcome_in_order(client_as):
    """Members are stored 32 at a time (a study's instances in one transaction); outcomes
    still come one per member, in the archive's order, across the slices."""
    ct = ct_series(40, rows=16, columns=16)
    mr = mr_slice(0)
    members = [(f"ct/IM{i}", to_bytes(ds)) for i, ds in enumerate(ct)]
    members.insert(31, ("ct/notes.txt", b"not DICOM"))
    members.insert(33, ("mr/IM0", to_bytes(mr)))
    members.append(("ct/IM0-again", to_bytes(ct[0])))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)

    results = post(client_as("uploader"), buffer.getvalue(), "big.zip").json()["results"]

    assert [r["name"] for r in results] == [f"big.zip/{name}" for name, _ in members]
    statuses = {r["name"].removeprefix("big.zip/"): r["status"] for r in results}
    assert statuses["ct/notes.txt"] == "rejected"
    assert statuses["ct/IM0-again"] == "already stored"
    assert [statuses[f"ct/IM{i}"] for i in range(40)] == ["stored"] * 40
    assert statuses["mr/IM0"] == "stored"
    study = Study.objects.get(study_instance_uid=ct[0].StudyInstanceUID)
    assert study.number_of_study_related_instances == 40
    assert Instance.objects.count() == 41


def test_a_damaged_zip_is_rejected(client_as):
    result = post(client_as("uploader"), b"PK\x03\x04" + b"\0" * 200, "broken.zip").json()
    assert result["results"][0]["status"] == "rejected"
    assert "zip archive is damaged" in result["results"][0]["reason"]


def test_the_size_limit_is_reported_before_reading(client_as, settings):
    settings.UPLOAD_MAX_BYTES = 1000
    ds = mr_slice()
    response = post(client_as("uploader"), to_bytes(ds), "big.dcm")
    assert response.status_code == 413
    assert (
        "larger than the upload limit of 1000 bytes (UPLOAD_MAX_BYTES)" in response.json()["error"]
    )
    assert Instance.objects.count() == 0


def test_zip_members_over_the_limit_are_rejected_one_by_one(client_as, settings):
    small = mr_slice()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        # Looks like DICOM at first (so only the limit stops it); compresses to almost nothing.
        archive.writestr("zeros.dcm", bytes(128) + b"DICM" + b"\0" * 600_000)
        archive.writestr("small.dcm", to_bytes(small))
    settings.UPLOAD_MAX_BYTES = len(to_bytes(small)) + 100
    results = post(client_as("uploader"), buffer.getvalue(), "a.zip").json()["results"]
    assert results[0]["status"] == "rejected"
    assert "larger than the upload limit" in results[0]["reason"]
    assert results[1]["status"] == "stored"


def test_a_large_member_that_is_not_dicom_is_refused_at_its_first_bytes(client_as, settings):
    """A zip bomb of zeros is not written whole to be refused afterwards: the spool stops at
    the first bytes that are not a DICOM file's."""
    from archive.ingest import spool

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * 50_000_000)
    written = []
    real = spool.storage.spool

    def counting(source):
        spooled = real(source)
        written.append(spooled.size)
        return spooled

    settings.UPLOAD_MAX_BYTES = 10**9
    spool.storage.spool, restore = counting, real
    try:
        results = post(client_as("uploader"), buffer.getvalue(), "bomb.zip").json()["results"]
    finally:
        spool.storage.spool = restore
    assert results == [
        {**results[0], "status": "rejected", "reason": spool.NOT_DICOM},
    ]
    # The zip itself was spooled by the upload; its member was never spooled whole.
    assert written == [len(buffer.getvalue())]


def test_empty_body_is_refused(client_as):
    response = post(client_as("uploader"), b"", "empty.dcm")
    assert response.status_code == 411
    assert response.json()["results"][0]["status"] == "rejected"


@pytest.mark.parametrize("role", ["reader"])
def test_readers_neither_see_nor_use_upload(client_as, role):
    client = client_as(role)
    assert 'id="upload-toggle"' not in client.get("/").content.decode()
    assert post(client, to_bytes(mr_slice())).status_code == 403
    assert Instance.objects.count() == 0


def test_uploaders_see_the_control_with_the_limit(client_as, settings):
    settings.UPLOAD_MAX_BYTES = 5 * 1024**2
    html = client_as("uploader").get("/").content.decode()
    assert 'id="upload-toggle"' in html
    assert 'data-upload-max="5242880"' in html
    assert "Up to 5.0 MB per file" in html


def test_csrf_protection_stays_on(db, django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("up", password="password")
    user.groups.add(Group.objects.get_or_create(name="uploader")[0])
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert post(client, to_bytes(mr_slice())).status_code == 403
    page = client.get("/")
    token = page.content.decode().split('name="csrf-token" content="')[1].split('"')[0]
    response = post(client, to_bytes(mr_slice()), **{"X-CSRFToken": token})
    assert response.status_code == 200
    assert response.json()["results"][0]["status"] == "stored"


def test_anonymous_cannot_upload(db, client):
    response = post(client, to_bytes(mr_slice()))
    assert response.status_code == 401
    assert Instance.objects.count() == 0
