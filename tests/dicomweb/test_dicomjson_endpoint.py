"""OHIF's DICOM JSON data source: a signed link fetched without cookies, as OHIF fetches it;
the link expires, is bound to its user, and refuses tampering."""

from urllib.parse import parse_qs, urlparse

import pytest
import requests
from dicom_data import ct_series, multiframe, receive_one, to_bytes
from django.contrib.auth.models import Group, User
from django.test import Client
from stow_support import Api

from archive import signing


def store(datasets):
    for ds in datasets:
        assert receive_one(ds).ok
    return datasets[0].StudyInstanceUID


def link_for(session, dicomweb_url, study_uid):
    response = session.get(f"{dicomweb_url}/studies/{study_uid}/ohif-dicom-json-link")
    assert response.status_code == 200, response.text
    return response.json()


def without_cookies(url):
    """What OHIF's secureConfigFetch does: a fresh client, no cookies, no redirects."""
    return requests.get(url, allow_redirects=False)


@pytest.fixture
def reader(db):
    user = User.objects.create_user("reader", password="password")
    user.groups.add(Group.objects.get_or_create(name="reader")[0])
    return user


@pytest.fixture
def reader_session(reader, live_server):
    session = requests.Session()
    session.auth = ("reader", "password")
    return session


def test_link_serves_the_study_without_cookies(
    dicomweb_session, dicomweb_url, live_server, admin_client, settings
):
    datasets = ct_series(3, rows=16, columns=16, patient_name="Link^Test")
    study_uid = store(datasets)

    answer = link_for(dicomweb_session, dicomweb_url, study_uid)
    assert answer["url"].startswith(f"{dicomweb_url}/ohif-dicom-json/")
    assert answer["expires_in"] == settings.DICOMJSON_LINK_MAX_AGE
    response = without_cookies(answer["url"])

    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "private, no-store"
    [study] = response.json()["studies"]
    assert study["StudyInstanceUID"] == study_uid
    [series] = study["series"]
    assert series["SeriesInstanceUID"] == datasets[0].SeriesInstanceUID
    urls = [instance["url"] for instance in series["instances"]]
    assert len(urls) == 3
    wado = f"dicomweb:{live_server.url}/wado?requestType=WADO"
    assert all(url.startswith(wado) for url in urls), urls[0]
    sops = [parse_qs(urlparse(url.removeprefix("dicomweb:")).query)["objectUID"][0] for url in urls]
    assert sorted(sops) == sorted(ds.SOPInstanceUID for ds in datasets)

    # The instance urls are loaded by Cornerstone with the viewer's session cookie.
    first = next(ds for ds in datasets if ds.SOPInstanceUID == sops[0])
    browser = requests.Session()
    browser.cookies.set("sessionid", admin_client.cookies["sessionid"].value)
    instance = browser.get(urls[0].removeprefix("dicomweb:"))
    assert instance.status_code == 200
    assert instance.content == to_bytes(first)
    assert without_cookies(urls[0].removeprefix("dicomweb:")).status_code in (401, 403)


def test_multiframe_has_one_entry_per_frame(dicomweb_session, dicomweb_url):
    study_uid = store([multiframe(4)])
    response = without_cookies(link_for(dicomweb_session, dicomweb_url, study_uid)["url"])
    instances = response.json()["studies"][0]["series"][0]["instances"]
    assert [urlparse(i["url"]).query.split("&frame=")[-1] for i in instances] == [
        "1",
        "2",
        "3",
        "4",
    ]


def test_link_for_several_studies(dicomweb_session, dicomweb_url):
    first = store(ct_series(1, rows=16, columns=16))
    second = store(ct_series(2, rows=16, columns=16))
    response = dicomweb_session.get(
        f"{dicomweb_url}/ohif-dicom-json-link", params={"StudyInstanceUID": f"{first},{second}"}
    )
    assert response.status_code == 200
    studies = without_cookies(response.json()["url"]).json()["studies"]
    assert [s["StudyInstanceUID"] for s in studies] == [first, second]
    assert [len(s["series"][0]["instances"]) for s in studies] == [1, 2]


def test_open_viewer_redirects_to_ohif(dicomweb_session, dicomweb_url, live_server):
    study_uid = store(ct_series(1, rows=16, columns=16))
    response = dicomweb_session.get(
        f"{dicomweb_url}/studies/{study_uid}/ohif-dicom-json-link",
        params={"open": "viewer"},
        allow_redirects=False,
    )
    assert response.status_code == 302
    target = urlparse(response.headers["Location"])
    assert target.path == "/ohif/viewer/dicomjson"
    link = parse_qs(target.query)["url"][0]
    assert without_cookies(link).json()["studies"][0]["StudyInstanceUID"] == study_uid


def test_expired_link_is_refused(dicomweb_session, dicomweb_url, settings):
    study_uid = store(ct_series(1, rows=16, columns=16))
    url = link_for(dicomweb_session, dicomweb_url, study_uid)["url"]
    settings.DICOMJSON_LINK_MAX_AGE = 0  # any age is too old now
    response = without_cookies(url)
    assert response.status_code == 403
    assert "expired" in response.json()["detail"]


def test_tampered_link_is_refused(dicomweb_session, dicomweb_url):
    study_uid = store(ct_series(1, rows=16, columns=16))
    url = link_for(dicomweb_session, dicomweb_url, study_uid)["url"]
    head, token = url.rsplit("/", 1)
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    response = without_cookies(f"{head}/{flipped}")
    assert response.status_code == 403
    assert "studies" not in response.text
    # A token signed with another salt (another purpose) is no link either.
    from django.core.signing import TimestampSigner

    forged = TimestampSigner(salt="other").sign_object({"u": 1, "h": "", "s": [study_uid]})
    assert without_cookies(f"{head}/{forged}").status_code == 403


def test_link_is_bound_to_its_user(reader, reader_session, dicomweb_url):
    study_uid = store(ct_series(1, rows=16, columns=16))
    url = link_for(reader_session, dicomweb_url, study_uid)["url"]
    assert without_cookies(url).status_code == 200
    assert signing.read_token(url.rsplit("/", 1)[1]).user == reader

    reader.groups.clear()
    assert without_cookies(url).status_code == 403
    reader.groups.add(Group.objects.get(name="reader"))
    assert without_cookies(url).status_code == 200

    reader.is_active = False
    reader.save()
    assert without_cookies(url).status_code == 403
    reader.is_active = True
    reader.save()

    reader.set_password("another password")
    reader.save()
    response = without_cookies(url)
    assert response.status_code == 403
    assert "no access" in response.json()["detail"]


def test_link_view_needs_a_reader_and_a_stored_study(dicomweb_session, dicomweb_url):
    study_uid = store(ct_series(1, rows=16, columns=16))
    anonymous = requests.get(f"{dicomweb_url}/studies/{study_uid}/ohif-dicom-json-link")
    assert anonymous.status_code in (401, 403)
    assert "url" not in anonymous.text
    unknown = dicomweb_session.get(f"{dicomweb_url}/studies/1.2.3.4/ohif-dicom-json-link")
    assert unknown.status_code == 404
    hostile = dicomweb_session.get(f"{dicomweb_url}/studies/..%2Fetc/ohif-dicom-json-link")
    assert hostile.status_code in (400, 404)
    invalid = dicomweb_session.get(
        f"{dicomweb_url}/ohif-dicom-json-link", params={"StudyInstanceUID": "1.2.x"}
    )
    assert invalid.status_code == 400


def test_deleted_study_is_404(dicomweb_session, dicomweb_url):
    from archive.models import Study

    study_uid = store(ct_series(1, rows=16, columns=16))
    url = link_for(dicomweb_session, dicomweb_url, study_uid)["url"]
    Study.objects.filter(study_instance_uid=study_uid).delete()
    assert without_cookies(url).status_code == 404


def test_links_and_instance_urls_behind_a_proxy_under_a_sub_path(admin_user, settings):
    settings.USE_X_FORWARDED_HOST = True
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "pacs.example.org"]
    proxy = {"SCRIPT_NAME": "/pacs", "HTTP_X_FORWARDED_HOST": "pacs.example.org"}
    study_uid = store(ct_series(1, rows=16, columns=16))
    api = Api(admin_user.username)

    answer = api.client.get(
        f"/dicom-web/studies/{study_uid}/ohif-dicom-json-link", **proxy, **api.extra
    ).json()
    root = "http://pacs.example.org/pacs"
    assert answer["url"].startswith(f"{root}/dicom-web/ohif-dicom-json/")
    assert answer["viewer_url"].startswith(f"{root}/ohif/viewer/")

    token_path = answer["url"].removeprefix(root)
    document = Client().get(token_path, **proxy).json()  # a fresh client: no cookies
    [instance] = document["studies"][0]["series"][0]["instances"]
    assert instance["url"].startswith(f"dicomweb:{root}/wado?requestType=WADO")
