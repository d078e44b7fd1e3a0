"""WADO-RS metadata: DICOM JSON from the caches, gzip served as stored, BulkDataURIs that
resolve at this server, also behind a proxy under a sub-path, and OHIF's combined Accept."""

import gzip
import json

import pytest
from dicom_data import ct_series, mr_slice, multiframe, uid
from dicomweb_client.api import DICOMwebClient
from django.urls import set_script_prefix
from wado_support import OHIF_METADATA, body_of, instance_path, parts_of, store

PIXEL_DATA = "7FE00010"


def series_url(ds) -> str:
    return f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/metadata"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "accept", [OHIF_METADATA, "application/dicom+json", "application/json", "*/*", None]
)
def test_series_metadata_in_instance_order(reader_client, accept):
    datasets = ct_series(3, rows=16, columns=16)
    store(*reversed(datasets))
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = reader_client.get(series_url(datasets[0]), **headers)
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] in ("application/dicom+json", "application/json")
    document = json.loads(body_of(response))
    assert [item["00080018"]["Value"][0] for item in document] == [
        ds.SOPInstanceUID for ds in datasets
    ]
    assert document[0]["00100010"]["Value"][0]["Alphabetic"] == "Doe^Jane"
    assert document[0]["00280030"]["Value"] == [0.7, 0.7]
    assert document[1]["00200013"]["Value"] == [2]


@pytest.mark.django_db
def test_gzip_is_served_as_stored_when_accepted(reader_client):
    datasets = ct_series(2, rows=16, columns=16)
    store(*datasets)
    url = series_url(datasets[0])
    zipped = reader_client.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    plain = reader_client.get(url, HTTP_ACCEPT_ENCODING="identity")
    assert zipped["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in plain
    assert "Accept-Encoding" in zipped["Vary"]
    assert gzip.decompress(zipped.content) == plain.content
    assert reader_client.get(url, HTTP_ACCEPT_ENCODING="gzip").content == zipped.content  # cached


@pytest.mark.django_db
def test_study_metadata_joins_every_series(reader_client):
    study_uid = uid()
    ct = ct_series(2, rows=16, columns=16, study_uid=study_uid)
    mr = mr_slice(0, study_uid=study_uid, series_number=2)
    store(*ct, mr)
    document = json.loads(reader_client.get(f"/dicom-web/studies/{study_uid}/metadata").content)
    assert sorted(item["00080060"]["Value"][0] for item in document) == ["CT", "CT", "MR"]
    assert {item["0020000D"]["Value"][0] for item in document} == {study_uid}


@pytest.mark.django_db
def test_instance_metadata_and_its_pixel_bulkdata(reader_client):
    ds = multiframe(3)
    store(ds)
    (item,) = json.loads(reader_client.get(instance_path(ds) + "/metadata").content)
    assert item["00280008"]["Value"] == [3]
    uri = item[PIXEL_DATA]["BulkDataURI"]
    assert uri == f"http://testserver{instance_path(ds)}/bulk/{PIXEL_DATA}"
    ((_, payload),) = parts_of(reader_client.get(uri.removeprefix("http://testserver")))
    assert payload == ds.pixel_array.tobytes()


@pytest.mark.django_db
def test_bulkdata_uris_follow_the_proxy_and_sub_path(reader_client, settings):
    settings.USE_X_FORWARDED_HOST = True
    settings.ALLOWED_HOSTS = ["pacs.example.org", "testserver"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    ds = ct_series(1, rows=16, columns=16)[0]
    store(ds)
    proxied = {
        "HTTP_X_FORWARDED_HOST": "pacs.example.org",
        "HTTP_X_FORWARDED_PROTO": "https",
        "SCRIPT_NAME": "/archive",
        "HTTP_ACCEPT_ENCODING": "gzip",
    }
    # Django's WSGI handler sets the script prefix from SCRIPT_NAME on every request; the test
    # client passes SCRIPT_NAME on but does not, so it is done here as the handler would.
    set_script_prefix("/archive/")
    try:
        behind = json.loads(gzip.decompress(reader_client.get(series_url(ds), **proxied).content))
    finally:
        set_script_prefix("/")
    direct = json.loads(
        gzip.decompress(reader_client.get(series_url(ds), HTTP_ACCEPT_ENCODING="gzip").content)
    )
    tail = f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}/bulk/{PIXEL_DATA}"  # noqa: E501
    assert (
        behind[0][PIXEL_DATA]["BulkDataURI"] == f"https://pacs.example.org/archive/dicom-web{tail}"
    )
    assert direct[0][PIXEL_DATA]["BulkDataURI"] == f"http://testserver/dicom-web{tail}"


@pytest.mark.django_db
def test_metadata_of_unknown_or_malformed_uids(reader_client):
    assert reader_client.get(f"/dicom-web/studies/{uid()}/metadata").status_code == 404
    bad = reader_client.get("/dicom-web/studies/1.2.x/series/1.3/metadata")
    assert bad.status_code == 400
    assert "valid UID" in bad.json()["detail"]
    refused = reader_client.get(
        f"/dicom-web/studies/{uid()}/metadata", HTTP_ACCEPT="application/xml"
    )
    assert refused.status_code == 406


@pytest.mark.django_db(transaction=True)
def test_dicomweb_client_reads_metadata_and_follows_bulkdata(
    dicomweb_session, dicomweb_url, live_server
):
    client = DICOMwebClient(dicomweb_url, session=dicomweb_session)
    ds = multiframe(2)
    store(ds)
    item = client.retrieve_instance_metadata(
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
    )
    assert item["00080018"]["Value"] == [ds.SOPInstanceUID]
    # dicomweb-client sends "Host: localhost" without the port, and the URI is built from the
    # Host the client sent; on the live server's port it is put back before following it.
    uri = item[PIXEL_DATA]["BulkDataURI"]
    assert uri == f"http://localhost{instance_path(ds)}/bulk/{PIXEL_DATA}"
    (payload,) = client.retrieve_bulkdata(uri.replace("http://localhost", live_server.url))
    assert payload == ds.pixel_array.tobytes()
    series = client.retrieve_series_metadata(ds.StudyInstanceUID, ds.SeriesInstanceUID)
    assert series == [item]


@pytest.mark.django_db
def test_revalidation_is_304_until_the_study_changes(reader_client):
    first, second = ct_series(2, rows=16, columns=16)
    store(first)
    url = series_url(first)
    reader_client.get(url)  # builds the cache; the answer after it is fresh
    fresh = reader_client.get(url, HTTP_ACCEPT_ENCODING="gzip")
    etag = fresh["ETag"]
    assert etag.startswith('W/"')
    again = reader_client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    store(second)  # the study's generation moves: the old ETag no longer matches
    changed = reader_client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert len(json.loads(changed.content)) == 2
    assert reader_client.get(url)["ETag"] not in (etag, None)
