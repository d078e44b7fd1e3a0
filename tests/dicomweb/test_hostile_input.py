"""Input crafted to break the server answers 4xx with a reason and leaves the archive as it was
(issue 12, items 8, 10 and 12; body parse errors and STOW are in tests/faults/)."""

import base64
import json

import pytest
from dicom_data import ct_series, ct_slice, multiframe, to_bytes
from django.test import Client
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from wado_support import OHIF_FRAMES, body_of, instance_path, parts_of, store

from accounts.models import AccessEvent
from archive import dicomjson, storage
from archive.models import Instance, Study


def archive_state():
    return (
        Study.objects.count(),
        sorted(Instance.objects.values_list("sop_instance_uid", "sha256")),
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/dicom-web/studies/1.2.3%00/series", {}),
        ("/dicom-web/studies?PatientID=a%00b", {}),
        ("/dicom-web/studies?0010%0020=x", {}),
        ("/%00", {}),
        ("/", {"HTTP_COOKIE": "sessionid=abcdefgh\x00ijkl"}),
    ],
)
def test_nul_in_path_query_or_cookie_is_400(reader_client, path, extra):
    store(ct_slice())
    before = archive_state()

    response = reader_client.get(path, **extra)

    assert response.status_code == 400
    assert b"NUL characters are not accepted" in response.content
    assert archive_state() == before


@pytest.mark.django_db
def test_nul_in_basic_user_name_is_400_and_logs_nothing(django_user_model):
    token = base64.b64encode(b"adm\x00in:secret").decode()

    response = Client().get("/dicom-web/studies", HTTP_AUTHORIZATION=f"Basic {token}")

    assert response.status_code == 400
    assert b"credentials" in response.content
    assert not AccessEvent.objects.exists()


@pytest.mark.django_db
def test_nul_in_login_form_is_refused_without_500(django_user_model):
    client = Client()
    response = client.post("/accounts/login/", {"username": "a\x00b", "password": "x\x00y"})

    assert response.status_code == 200  # the form again
    assert b"Sign in" in response.content
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_access_log_failure_never_fails_the_request(reader_client, monkeypatch):
    """A database that refuses the access event (here: a value it cannot store) costs the
    event, not the answer."""
    ds = ct_slice()
    store(ds)

    def refuse(self, *args, **kwargs):
        from django.db import DataError

        raise DataError("value too long for type character varying(64)")

    monkeypatch.setattr(AccessEvent, "save", refuse)
    response = reader_client.get(f"/dicom-web/studies/{ds.StudyInstanceUID}/metadata")

    assert response.status_code == 200
    assert json.loads(body_of(response))[0]["00080018"]["Value"] == [ds.SOPInstanceUID]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("frame_list", "reason"),
    [
        (",".join(["1"] * 1900), b"at most 1000 frames"),
        (",".join(["1"] * 500), b"at most once"),
        ("1,2,1", b"at most once"),
        (",".join(str(n) for n in range(1, 1100)), b"at most 1000 frames"),
    ],
)
def test_frame_list_amplification_is_400(reader_client, frame_list, reason):
    ds = multiframe(frames=4)
    store(ds)

    response = reader_client.get(
        f"{instance_path(ds)}/frames/{frame_list}", HTTP_ACCEPT=OHIF_FRAMES
    )

    assert response.status_code == 400
    assert reason in response.content


@pytest.mark.django_db
def test_frame_list_limit_is_a_setting(reader_client, settings):
    settings.FRAMES_MAX_PER_REQUEST = 2
    ds = multiframe(frames=4)
    store(ds)
    url = f"{instance_path(ds)}/frames"

    assert reader_client.get(f"{url}/1,2,3", HTTP_ACCEPT=OHIF_FRAMES).status_code == 400
    answer = reader_client.get(f"{url}/4,2", HTTP_ACCEPT=OHIF_FRAMES)
    assert answer.status_code == 200
    assert len(parts_of(answer)) == 2


def nested(depth: int) -> Dataset:
    ds = Dataset()
    ds.PatientID = "deep"
    inner = ds
    for _ in range(depth):
        item = Dataset()
        item.CodeMeaning = "x"
        inner.ContentSequence = Sequence([item])
        inner = item
    return ds


def json_depth(value) -> int:
    depth, pending = 0, [(value, 1)]
    while pending:
        current, level = pending.pop()
        depth = max(depth, level)
        children = current.values() if isinstance(current, dict) else current
        if isinstance(current, dict | list):
            pending.extend((child, level + 1) for child in children)
    return depth


def test_dicom_json_of_a_3000_deep_sequence_is_cut_at_the_limit(settings):
    document = dicomjson.to_json(nested(3000), lambda path: "bulk")

    json.dumps(document)  # no RecursionError
    # Each sequence level is {"0040A730": {"vr", "Value": [item]}}: four JSON levels.
    assert json_depth(document) <= 4 * settings.INGEST_MAX_SEQUENCE_DEPTH + 4
    assert document["00100020"]["Value"] == ["deep"]


def test_dicom_json_within_the_limit_is_whole(settings):
    settings.INGEST_MAX_SEQUENCE_DEPTH = 10
    document = dicomjson.to_json(nested(10), lambda path: "bulk")

    level, count = document, 0
    while "0040A730" in level:
        level = level["0040A730"]["Value"][0]
        count += 1
    assert count == 10


@pytest.mark.django_db
def test_stow_with_more_parts_than_the_limit_is_413_and_keeps_nothing(settings):
    from stow_support import Api, user_with_role

    settings.STOW_MAX_PARTS = 3
    user_with_role("uploader")
    boundary = "parts-limit"
    body = (
        b"".join(
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
            + to_bytes(ds)
            + b"\r\n"
            for ds in ct_series(4, rows=16, columns=16)
        )
        + f"--{boundary}--\r\n".encode()
    )
    before = archive_state()

    response = Api("uploader").post(
        "/dicom-web/studies",
        body,
        {"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'},
    )

    assert response.status_code == 413
    assert b"STOW_MAX_PARTS" in response.content
    assert archive_state() == before
    assert not any(storage.incoming_dir().iterdir())
