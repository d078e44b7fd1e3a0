"""The same hostile files through every door DICOM comes in by (STOW-RS, the worklist upload
of a file and of a zip, ``import_dicom``): each door reports the same outcome and reason, as
far as its answer can say it (STOW-RS carries the DICOM failure code, the upload and the
import the words), leaves no temporary file behind and changes nothing stored.

A door that gets its own answer from the pipeline cannot drift: these tests fail as soon as
one door words or codes a case differently from another.
"""

import io
import re
import zipfile
from pathlib import Path

import pytest
from dicom_data import ct_slice, receive_one, to_bytes
from django.core.management import call_command

from archive import storage
from archive.ingest import CANNOT_UNDERSTAND, DATA_SET_DOES_NOT_MATCH, OUT_OF_RESOURCES
from archive.models import Instance, Series, Study

pytestmark = pytest.mark.django_db

BOUNDARY = "door-test"


def _without(keyword: str):
    ds = ct_slice(rows=16, columns=16)
    delattr(ds, keyword)
    return to_bytes(ds)


def _bad_uid():
    ds = ct_slice(rows=16, columns=16)
    ds.SOPInstanceUID = "1.2.abc"
    return to_bytes(ds)


# name -> (bytes, words every door that reports words must show, DICOM failure code)
HOSTILE = {
    "not DICOM": (b"this is not DICOM at all " * 20, "not a DICOM file", CANNOT_UNDERSTAND),
    "truncated": (to_bytes(ct_slice(rows=64, columns=64))[:-1000], "truncated", 0xC000),
    "no SOP Instance UID": (_without("SOPInstanceUID"), "SOPInstanceUID is missing", 0xC000),
    "bad UID": (_bad_uid(), "SOPInstanceUID is not a valid UID", CANNOT_UNDERSTAND),
}


def stow(client, data: bytes, study_uid: str | None = None):
    body = (
        f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    url = "/dicom-web/studies" + (f"/{study_uid}" if study_uid else "")
    response = client.post(
        url,
        data=body,
        content_type=f'multipart/related; type="application/dicom"; boundary={BOUNDARY}',
        HTTP_ACCEPT="application/dicom+json",
    )
    answer = response.json()
    failed = answer.get("00081198", {}).get("Value", [])
    code = failed[0]["00081197"]["Value"][0] if failed else None
    return response.status_code, code


def upload(client, data: bytes, name: str = "file.dcm"):
    response = client.post(
        "/upload/", data=data, content_type="application/octet-stream", HTTP_X_FILE_NAME=name
    )
    return response.status_code, response.json()


def zipped(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def import_folder(folder: Path) -> str:
    out = io.StringIO()
    try:
        call_command("import_dicom", str(folder), "--no-progress", "-v", "2", stdout=out)
    except SystemExit:
        pass
    except Exception as exc:  # CommandError: something was rejected
        out.write(f"\n{exc}")
    return out.getvalue()


def archive_state():
    """Rows, counts and files: what no refused arrival may change."""
    files = sorted(
        str(p.relative_to(storage.root()))
        for p in storage.root().rglob("*")
        if p.is_file() and not p.is_relative_to(storage.placing_dir())
    )
    rows = sorted(Instance.objects.values_list("sop_instance_uid", "sha256", "file_path"))
    counts = sorted(
        Study.objects.values_list(
            "study_instance_uid",
            "number_of_study_related_series",
            "number_of_study_related_instances",
            "generation",
        )
    )
    return rows, counts, files, Series.objects.count()


def spool_left():
    return list(storage.incoming_dir().iterdir())


@pytest.fixture
def stored(admin_client):
    """An archive that already holds one study, which every refusal must leave as it is."""
    assert receive_one(ct_slice(rows=16, columns=16)).ok
    return archive_state()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_every_door_refuses_alike_and_leaves_nothing(case, admin_client, stored, tmp_path):
    data, words, code = HOSTILE[case]

    status, failure = stow(admin_client, data)
    assert (status, failure) == (409, code)

    status, answer = upload(admin_client, data)
    assert status == 200
    [single] = answer["results"]
    assert single["status"] == "rejected" and words in single["reason"]

    status, answer = upload(admin_client, zipped("member.dcm", data), "batch.zip")
    assert status == 200
    [member] = answer["results"]
    assert member["name"] == "batch.zip/member.dcm"
    assert member["status"] == "rejected" and member["reason"] == single["reason"]

    (tmp_path / "member.dcm").write_bytes(data)
    output = import_folder(tmp_path)
    assert re.search(r"rejected: 1\b", output), output
    assert f"{tmp_path / 'member.dcm'}  ({single['reason']})" in output or (
        # -v 2 prints each file's reason; its group line carries the reason's first words
        single["reason"].split(":", 1)[0] in output and str(tmp_path / "member.dcm") in output
    ), output

    assert archive_state() == stored
    assert spool_left() == []


def test_a_study_other_than_the_stow_url_is_refused_there_only(admin_client, stored):
    data = to_bytes(ct_slice(rows=16, columns=16))
    assert stow(admin_client, data, study_uid="1.2.3.4") == (409, DATA_SET_DOES_NOT_MATCH)
    assert archive_state() == stored
    assert spool_left() == []


def test_a_full_disk_is_out_of_resources_at_every_door(admin_client, full_disk, tmp_path):
    big = ct_slice(rows=512, columns=512)
    big.PixelData = bytes(len(big.PixelData))  # 0.5 MB, more than the disk holds; zips small
    large = to_bytes(big)
    assert receive_one(ct_slice(rows=16, columns=16)).ok  # a small one fits
    before = archive_state()
    words = "cannot store file: No space left on device"

    assert stow(admin_client, large) == (409, OUT_OF_RESOURCES)

    status, answer = upload(admin_client, large)
    assert status == 507 and answer["error"] == words

    status, answer = upload(admin_client, zipped("big.dcm", large), "batch.zip")
    assert status == 200
    assert [(r["status"], r["reason"]) for r in answer["results"]] == [("rejected", words)]

    source = tmp_path / "source"
    source.mkdir()
    (source / "big.dcm").write_bytes(large)
    output = import_folder(source)
    assert "rejected: 1" in output and words in output, output

    assert archive_state() == before
    assert spool_left() == []
