"""STOW-RS over HTTP with raw requests: every status code, the Store Instances Response's
sequences and codes, and what is (or is not) in the database and storage afterwards."""

import io
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from dicom_data import ct_series, ct_slice, to_bytes, uid
from pydicom.dataset import Dataset
from stored import stored_bytes
from stow_support import BASE, Api, user_with_role

from archive import storage
from archive.dicomweb import parsers
from archive.models import Instance, Study

DICOM = 'multipart/related; type="application/dicom"; boundary="{b}"'

REFERENCED = "00081199"
FAILED = "00081198"
RETRIEVE_URL = "00081190"
SOP_CLASS = "00081150"
SOP_INSTANCE = "00081155"
FAILURE_REASON = "00081197"
WARNING_REASON = "00081196"


def body(payloads: list[bytes], boundary="stow-test-boundary", leading_crlf=False) -> bytes:
    out = b"\r\n" if leading_crlf else b""
    for payload in payloads:
        out += f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        out += payload + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def post(session, url, payloads, content_type=None, **kw):
    return session.post(
        url,
        data=body(payloads),
        headers={"Content-Type": content_type or DICOM.format(b="stow-test-boundary"), **kw},
    )


def small_series(count=2, **kw):
    return ct_series(count, rows=16, columns=16, **kw)


def value(element):
    return element.get("Value", [None])[0]


def items(answer, key):
    return answer.get(key, {}).get("Value", [])


def stored_state():
    """Everything a refused request must leave untouched: rows and files."""
    files = sorted(p.relative_to(storage.root()) for p in storage.root().rglob("*") if p.is_file())
    rows = sorted(Instance.objects.values_list("sop_instance_uid", "sha256"))
    return rows, files


@pytest.fixture
def api(admin_user):
    return Api(admin_user.username)


def test_all_stored_is_200_with_referenced_sequence(api):
    datasets = small_series(2)
    response = post(api, f"{BASE}/studies", [to_bytes(d) for d in datasets])

    assert response.status_code == 200, response.content
    assert response.headers["Content-Type"].startswith("application/dicom+json")
    answer = response.json()
    study_uid = datasets[0].StudyInstanceUID
    assert value(answer[RETRIEVE_URL]) == f"{BASE}/studies/{study_uid}"
    assert FAILED not in answer
    referenced = items(answer, REFERENCED)
    assert [value(i[SOP_INSTANCE]) for i in referenced] == [d.SOPInstanceUID for d in datasets]
    for item, ds in zip(referenced, datasets, strict=True):
        assert value(item[SOP_CLASS]) == ds.SOPClassUID
        assert value(item[RETRIEVE_URL]) == (
            f"{BASE}/studies/{study_uid}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}"
        )
        assert WARNING_REASON not in item
        instance = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
        assert stored_bytes(instance) == to_bytes(ds)
    assert Study.objects.get(study_instance_uid=study_uid).number_of_study_related_instances == 2
    assert list(storage.incoming_dir().iterdir()) == []


def test_ohif_upload_request(dicomweb_session, dicomweb_url):
    """Byte for byte what OHIF's upload button sends (dcmjs dicomweb-client storeInstances):
    one file, quoted boundary, a CRLF before the first delimiter, Accept */*."""
    ds = ct_slice(rows=16, columns=16)
    boundary = "0d1d8a2e-4c1b-4a57-9b6e-2f1c1e9b7a10"
    response = dicomweb_session.post(
        f"{dicomweb_url}/studies",
        data=body([to_bytes(ds)], boundary=boundary, leading_crlf=True).removesuffix(b"\r\n"),
        headers={
            "Content-Type": f'multipart/related; type="application/dicom"; boundary="{boundary}"',
            "Accept": "*/*",
        },
    )
    assert response.status_code == 200, response.content
    assert value(items(response.json(), REFERENCED)[0][SOP_INSTANCE]) == ds.SOPInstanceUID
    assert Instance.objects.filter(sop_instance_uid=ds.SOPInstanceUID).exists()


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/related; type=application/dicom; boundary=stow-test-boundary",
        'multipart/related; boundary="stow-test-boundary"; type="application/dicom"',
        'multipart/related; type="application/dicom"; transfer-syntax=*; '
        "boundary=stow-test-boundary",
        "multipart/related; boundary=stow-test-boundary",
    ],
)
def test_content_type_variants(api, content_type):
    ds = ct_slice(rows=16, columns=16)
    response = post(api, f"{BASE}/studies", [to_bytes(ds)], content_type)
    assert response.status_code == 200, response.content
    assert Instance.objects.filter(sop_instance_uid=ds.SOPInstanceUID).exists()


def test_bare_application_dicom_body(api):
    ds = ct_slice(rows=16, columns=16)
    response = api.post(
        f"{BASE}/studies",
        data=to_bytes(ds),
        headers={"Content-Type": "application/dicom"},
    )
    assert response.status_code == 200, response.content
    assert Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID).sha256


def test_same_instance_again_is_202_with_warning(api):
    ds = ct_slice(rows=16, columns=16)
    post(api, f"{BASE}/studies", [to_bytes(ds)])
    before = stored_state()

    response = post(api, f"{BASE}/studies", [to_bytes(ds)])

    assert response.status_code == 202
    [item] = items(response.json(), REFERENCED)
    assert value(item[SOP_INSTANCE]) == ds.SOPInstanceUID
    assert value(item[WARNING_REASON]) == 0xB006
    assert Dataset.from_json(response.json()).to_json_dict() == response.json()
    assert stored_state() == before


def test_other_bytes_under_a_stored_uid_are_discarded_with_warning(api, settings):
    settings.OVERWRITE_INSTANCES = False
    ds = ct_slice(rows=16, columns=16)
    post(api, f"{BASE}/studies", [to_bytes(ds)])
    before = stored_state()
    ds.PatientName = "Changed^Name"

    response = post(api, f"{BASE}/studies", [to_bytes(ds)])

    assert response.status_code == 202
    assert value(items(response.json(), REFERENCED)[0][WARNING_REASON]) == 0xB006
    assert stored_state() == before


def test_some_failed_is_202_with_failed_sequence(api):
    good = ct_slice(rows=16, columns=16)
    response = post(api, f"{BASE}/studies", [b"not a DICOM file", to_bytes(good)])

    assert response.status_code == 202
    answer = response.json()
    [failed] = items(answer, FAILED)
    assert value(failed[FAILURE_REASON]) == 0xC000
    [referenced] = items(answer, REFERENCED)
    assert value(referenced[SOP_INSTANCE]) == good.SOPInstanceUID
    assert Instance.objects.count() == 1
    # DICOM JSON that pydicom reads and writes back as it is (the not-DICOM part has no UIDs)
    assert Dataset.from_json(answer).to_json_dict() == answer
    assert failed[SOP_INSTANCE] == {"vr": "UI"}


def test_none_stored_is_409(api):
    truncated = to_bytes(ct_slice(rows=16, columns=16))[:-100]
    before = stored_state()

    response = post(api, f"{BASE}/studies", [b"garbage", truncated])

    assert response.status_code == 409
    failed = items(response.json(), FAILED)
    assert [value(f[FAILURE_REASON]) for f in failed] == [0xC000, 0xC000]
    assert REFERENCED not in response.json()
    assert stored_state() == before
    assert list(storage.incoming_dir().iterdir()) == []


def test_store_into_named_study(api):
    datasets = small_series(1)
    study_uid = datasets[0].StudyInstanceUID
    response = post(api, f"{BASE}/studies/{study_uid}", [to_bytes(datasets[0])])
    assert response.status_code == 200
    assert value(response.json()[RETRIEVE_URL]) == f"{BASE}/studies/{study_uid}"


def test_instance_of_another_study_than_the_url_fails_a900(api):
    ours, theirs = ct_slice(rows=16, columns=16), ct_slice(rows=16, columns=16, study_uid=uid())
    study_uid = ours.StudyInstanceUID

    response = post(
        api,
        f"{BASE}/studies/{study_uid}",
        [to_bytes(ours), to_bytes(theirs)],
    )

    assert response.status_code == 202
    answer = response.json()
    [failed] = items(answer, FAILED)
    assert value(failed[SOP_INSTANCE]) == theirs.SOPInstanceUID
    assert value(failed[SOP_CLASS]) == theirs.SOPClassUID
    assert value(failed[FAILURE_REASON]) == 0xA900
    assert value(answer[RETRIEVE_URL]) == f"{BASE}/studies/{study_uid}"
    assert not Instance.objects.filter(sop_instance_uid=theirs.SOPInstanceUID).exists()
    assert not Study.objects.filter(study_instance_uid=theirs.StudyInstanceUID).exists()


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "multipart/form-data; boundary=stow-test-boundary",
        'multipart/related; type="application/dicom+json"; boundary=stow-test-boundary',
        'multipart/related; type="application/octet-stream"; boundary=stow-test-boundary',
        "text/plain",
    ],
)
def test_wrong_media_type_is_415(api, content_type):
    before = stored_state()
    ds = ct_slice(rows=16, columns=16)
    response = post(api, f"{BASE}/studies", [to_bytes(ds)], content_type)
    assert response.status_code == 415, response.content
    assert stored_state() == before


def test_empty_dicom_body_is_400(api):
    response = api.post(f"{BASE}/studies", headers={"Content-Type": "application/dicom"})
    assert response.status_code == 400
    assert "empty" in response.json()["detail"]


def test_no_content_type_is_415(api):
    response = api.post(f"{BASE}/studies")
    assert response.status_code == 415


def raw(session, url, data: bytes, content_type: str):
    return session.post(url, data=data, headers={"Content-Type": content_type})


@pytest.mark.parametrize(
    "data, content_type, message",
    [
        (b"x", 'multipart/related; type="application/dicom"', "boundary"),
        (
            b"--b\r\nContent-Type: application/dicom\r\n\r\nDICM...",
            DICOM.format(b="b"),
            "truncated",
        ),
        (
            b"--b\r\nContent-Type: application/dicom\r\nDICM\r\n--b--",
            DICOM.format(b="b"),
            "CRLFCRLF",
        ),
        (b"no delimiter at all", DICOM.format(b="b"), "no boundary"),
        (b"--b--\r\n", DICOM.format(b="b"), "no parts"),
        (b"", DICOM.format(b="b"), "empty"),
    ],
)
def test_malformed_multipart_is_400_and_stores_nothing(api, data, content_type, message):
    before = stored_state()
    # A valid instance first: a malformed body is refused whole, its good parts included.
    good = body([to_bytes(ct_slice(rows=16, columns=16))], boundary="b").removesuffix(b"--b--\r\n")
    payload = data if message in ("boundary", "no boundary", "empty", "no parts") else good + data
    response = raw(api, f"{BASE}/studies", payload, content_type)
    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]
    assert stored_state() == before
    assert list(storage.incoming_dir().iterdir()) == []


def test_over_the_size_limit_is_413(api, settings):
    settings.STOW_MAX_BYTES = 1000
    before = stored_state()
    response = post(api, f"{BASE}/studies", [to_bytes(ct_slice(rows=16, columns=16))])
    assert response.status_code == 413
    assert "1000" in response.json()["detail"]
    assert stored_state() == before


def test_size_is_counted_while_reading_when_length_is_not_announced(settings, db):
    """Counted as the bytes stream in, for bodies without (or under-announcing) a length."""
    settings.STOW_MAX_BYTES = 1000
    data = body([b"x" * 600, b"y" * 600], boundary="b")
    with pytest.raises(parsers.RequestTooLarge):
        parsers.MultipartRelatedParser().parse(
            io.BytesIO(data), DICOM.format(b="b"), {"request": type("R", (), {"META": {}})()}
        )
    assert list(storage.incoming_dir().iterdir()) == []


def test_invalid_study_uid_in_url_is_400(api):
    response = post(api, f"{BASE}/studies/1.2.abc", [b"x"])
    assert response.status_code == 400


@pytest.mark.parametrize("role, status", [("reader", 403), (None, 401), ("uploader", 200)])
def test_only_uploaders_store(db, role, status):
    if role:
        user_with_role(role)
    ds = ct_slice(rows=16, columns=16)
    response = post(Api(role), f"{BASE}/studies", [to_bytes(ds)])
    assert response.status_code == status
    assert Instance.objects.filter(sop_instance_uid=ds.SOPInstanceUID).exists() == (status == 200)


def test_browser_session_same_origin(admin_client, live_server, dicomweb_url):
    """OHIF in the browser: the session cookie and the Origin the browser adds, no CSRF
    token (OHIF sends none)."""
    session = requests.Session()
    session.cookies.set("sessionid", admin_client.cookies["sessionid"].value)
    ds = ct_slice(rows=16, columns=16)
    response = post(session, f"{dicomweb_url}/studies", [to_bytes(ds)], Origin=live_server.url)
    assert response.status_code == 200, response.content
    cross_site = post(
        session,
        f"{dicomweb_url}/studies",
        [to_bytes(ct_slice(rows=16, columns=16))],
        Origin="https://evil.example",
    )
    assert cross_site.status_code == 403
    assert Instance.objects.count() == 1


def test_retrieve_urls_behind_a_proxy_under_a_sub_path(api, settings):
    """RetrieveURLs name the host and sub-path the client used (X-Forwarded-Host, SCRIPT_NAME)."""
    settings.USE_X_FORWARDED_HOST = True
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "pacs.example.org"]
    ds = ct_slice(rows=16, columns=16)
    data = body([to_bytes(ds)])
    response = api.client.generic(
        "POST",
        "/dicom-web/studies",
        data,
        content_type=DICOM.format(b="stow-test-boundary"),
        SCRIPT_NAME="/pacs",
        HTTP_X_FORWARDED_HOST="pacs.example.org",
        **api.extra,
    )
    assert response.status_code == 200, response.content
    root = "http://pacs.example.org/pacs/dicom-web"
    answer = response.json()
    assert value(answer[RETRIEVE_URL]) == f"{root}/studies/{ds.StudyInstanceUID}"
    assert value(items(answer, REFERENCED)[0][RETRIEVE_URL]).startswith(f"{root}/studies/")


def test_concurrent_uploads_into_the_same_studies(dicomweb_session, dicomweb_url):
    """Four clients store the same two studies at once, each in its own order and split: every
    request succeeds, every instance is stored once, the counts add up."""
    x, y = ct_series(6, rows=16, columns=16), ct_series(6, rows=16, columns=16)
    orders = [x + y, y + x, x[::-1] + y[::-1], [d for pair in zip(y, x, strict=True) for d in pair]]

    def upload(datasets):
        return post(dicomweb_session, f"{dicomweb_url}/studies", [to_bytes(d) for d in datasets])

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(upload, orders))

    assert [r.status_code for r in responses].count(500) == 0, responses[0].text[-3000:]
    assert all(r.status_code in (200, 202) for r in responses), [r.text for r in responses]
    for response in responses:
        assert len(items(response.json(), REFERENCED)) == 12
    assert Instance.objects.count() == 12
    for series in (x, y):
        study = Study.objects.get(study_instance_uid=series[0].StudyInstanceUID)
        assert study.number_of_study_related_instances == 6
