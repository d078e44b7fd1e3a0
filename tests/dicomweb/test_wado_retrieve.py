"""WADO-RS retrieve of studies, series and instances: the exact stored bytes come back, as a
third-party client (dicomweb-client) and OHIF ask for them; refusals are clear 4xx."""

import pydicom
import pytest
from dicom_data import compressed, ct_series, ct_slice, mr_slice, to_bytes, uid
from dicomweb_client.api import DICOMwebClient
from wado_support import body_of, instance_path, parts_of, store

from archive.models import Instance


@pytest.fixture
def client_of(dicomweb_session, dicomweb_url):
    return DICOMwebClient(dicomweb_url, session=dicomweb_session)


@pytest.mark.django_db(transaction=True)
def test_dicomweb_client_gets_the_uploaded_bytes_back(client_of):
    study_uid = uid()
    ct = ct_series(2, rows=32, columns=32, study_uid=study_uid)
    mr = mr_slice(0, study_uid=study_uid)
    sent = dict(zip([ds.SOPInstanceUID for ds in (*ct, mr)], store(*ct, mr), strict=True))
    first = ct[0]

    instance = client_of.retrieve_instance(
        first.StudyInstanceUID, first.SeriesInstanceUID, first.SOPInstanceUID
    )
    assert to_bytes(instance) == sent[first.SOPInstanceUID]
    assert instance.pixel_array.tobytes() == first.pixel_array.tobytes()

    series = client_of.retrieve_series(study_uid, first.SeriesInstanceUID)
    assert sorted(ds.SOPInstanceUID for ds in series) == sorted(ds.SOPInstanceUID for ds in ct)

    study = client_of.retrieve_study(study_uid)
    assert len(study) == 3
    for ds in study:
        assert to_bytes(ds) == sent[ds.SOPInstanceUID]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "accept",
    [
        'multipart/related; type="application/dicom"',
        "multipart/related; type=application/dicom; transfer-syntax=*",
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1',
        "*/*",
        None,
    ],
)
def test_series_comes_as_multipart_of_stored_files(reader_client, accept):
    datasets = ct_series(3, rows=16, columns=16)
    sent = store(*datasets)
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = reader_client.get(
        f"/dicom-web/studies/{datasets[0].StudyInstanceUID}/series/{datasets[0].SeriesInstanceUID}",
        **headers,
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith('multipart/related; type="application/dicom"')
    parts = parts_of(response)
    assert [payload for _, payload in parts] == sent  # in InstanceNumber order
    assert parts[0][0] == "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"


@pytest.mark.django_db
def test_boundary_is_random_per_response(reader_client):
    ds = ct_slice(0, rows=8, columns=8)
    store(ds)
    url = f"/dicom-web/studies/{ds.StudyInstanceUID}"
    first, second = reader_client.get(url), reader_client.get(url)
    assert first["Content-Type"] != second["Content-Type"]


@pytest.mark.django_db
def test_compressed_instance_is_stored_as_is_or_decoded_on_request(reader_client):
    ds = compressed(ct_slice(0, rows=32, columns=32))
    original = ds.pixel_array.copy()
    (sent,) = store(ds)
    url = instance_path(ds)

    as_stored = parts_of(reader_client.get(url, HTTP_ACCEPT=_dicom("*")))
    assert as_stored == [("application/dicom; transfer-syntax=1.2.840.10008.1.2.5", sent)]

    decoded = parts_of(reader_client.get(url, HTTP_ACCEPT=_dicom("1.2.840.10008.1.2.1")))
    assert decoded[0][0] == "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
    back = pydicom.dcmread(pydicom.filebase.DicomBytesIO(decoded[0][1]))
    assert back.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert back.pixel_array.tobytes() == original.tobytes()

    refused = reader_client.get(url, HTTP_ACCEPT=_dicom("1.2.840.10008.1.2.4.80"))
    assert refused.status_code == 406
    assert "1.2.840.10008.1.2.1" in refused.json()["detail"]


@pytest.mark.django_db
def test_single_part_instance_when_asked(reader_client):
    ds = ct_slice(0, rows=8, columns=8)
    (sent,) = store(ds)
    response = reader_client.get(instance_path(ds), HTTP_ACCEPT="application/dicom")
    assert response["Content-Type"] == "application/dicom"
    assert body_of(response) == sent


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path, status",
    [
        ("/dicom-web/studies/1.2.3.999", 404),
        ("/dicom-web/studies/1.2.abc", 400),
        ("/dicom-web/studies/..", 400),
        ("/dicom-web/studies/" + "1." * 40 + "1", 400),
        ("/dicom-web/studies/1.2/series/1.3/instances/1.4", 404),
    ],
)
def test_unknown_and_hostile_uids_are_refused(reader_client, path, status):
    response = reader_client.get(path)
    assert response.status_code == status
    assert response.json()["detail"]


@pytest.mark.django_db
def test_unsatisfiable_accept_is_406_with_reason(reader_client):
    ds = ct_slice(0, rows=8, columns=8)
    store(ds)
    response = reader_client.get(
        f"/dicom-web/studies/{ds.StudyInstanceUID}", HTTP_ACCEPT="application/zip"
    )
    assert response.status_code == 406
    assert "application/dicom" in response.json()["detail"]


@pytest.mark.django_db
def test_anonymous_is_refused(client):
    ds = ct_slice(0, rows=8, columns=8)
    store(ds)
    response = client.get(instance_path(ds))
    assert response.status_code in (401, 403)
    assert Instance.objects.count() == 1


def _dicom(transfer_syntax: str) -> str:
    return f'multipart/related; type="application/dicom"; transfer-syntax={transfer_syntax}'
