"""WADO-URI (/wado): the Part-10 file for OHIF's DICOM JSON urls and Cornerstone (whatever
Accept it sends), rendered JPEG by default, and 400/404/406 for bad requests."""

import io

import numpy as np
import pydicom
import pytest
from dicom_data import compressed, ct_slice, multiframe
from PIL import Image
from wado_support import body_of, store

CORNERSTONE_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def wado(ds, **params) -> str:
    query = {
        "requestType": "WADO",
        "studyUID": ds.StudyInstanceUID,
        "seriesUID": ds.SeriesInstanceUID,
        "objectUID": ds.SOPInstanceUID,
        **params,
    }
    return "/wado?" + "&".join(f"{k}={v}" for k, v in query.items())


@pytest.mark.django_db
@pytest.mark.parametrize("transfer_syntax", [None, "*", "1.2.840.10008.1.2.5"])
def test_dicom_file_as_stored_whatever_the_accept(reader_client, transfer_syntax):
    ds = compressed(ct_slice(0, rows=32, columns=32))
    (sent,) = store(ds)
    params = {"contentType": "application%2Fdicom"}
    if transfer_syntax:
        params["transferSyntax"] = transfer_syntax
    response = reader_client.get(wado(ds, **params), HTTP_ACCEPT=CORNERSTONE_ACCEPT)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/dicom"
    assert body_of(response) == sent


@pytest.mark.django_db
def test_frame_of_a_multiframe_file_and_decoded_transfer_syntax(reader_client):
    ds = multiframe(3)
    (sent,) = store(ds)
    whole = reader_client.get(wado(ds, contentType="application/dicom", frame=2))
    assert body_of(whole) == sent
    rle = compressed(ct_slice(0, rows=32, columns=32))
    original = ct_slice(0, rows=32, columns=32).pixel_array
    store(rle)
    decoded = reader_client.get(
        wado(rle, contentType="application/dicom", transferSyntax="1.2.840.10008.1.2.1")
    )
    back = pydicom.dcmread(io.BytesIO(body_of(decoded)))
    assert back.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert back.pixel_array.tobytes() == original.tobytes()


@pytest.mark.django_db
def test_jpeg_is_the_default_and_frame_is_honoured(reader_client):
    ds = multiframe(4)
    store(ds)
    response = reader_client.get(wado(ds, frame=3))
    assert response["Content-Type"] == "image/jpeg"
    got = np.asarray(Image.open(io.BytesIO(response.content))).astype(np.float64)
    frame = ds.pixel_array[2].astype(np.float64)
    want = (frame - frame.min()) / (frame.max() - frame.min()) * 255
    assert np.abs(got - want).mean() < 4
    png = reader_client.get(wado(ds, contentType="image/png", windowCenter=128, windowWidth=256))
    assert png["Content-Type"] == "image/png"
    assert np.asarray(Image.open(io.BytesIO(png.content))).shape == (64, 80)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params, status",
    [
        ({"requestType": "WADO"}, 400),
        ({"requestType": "XYZ", "studyUID": "1.2", "seriesUID": "1.3", "objectUID": "1.4"}, 400),
        ({"requestType": "WADO", "studyUID": "1.2", "seriesUID": "1.3", "objectUID": "x"}, 400),
        ({"requestType": "WADO", "studyUID": "1.2", "seriesUID": "1.3", "objectUID": "1.4"}, 404),
    ],
)
def test_missing_invalid_and_unknown(reader_client, params, status):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = reader_client.get(f"/wado?{query}")
    assert response.status_code == status
    assert response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params, status",
    [
        ({"contentType": "application/pdf"}, 406),
        ({"contentType": "application/dicom", "transferSyntax": "1.2.840.10008.1.2.4.50"}, 406),
        ({"frame": "9"}, 404),
        ({"frame": "x"}, 400),
        ({"windowCenter": "40"}, 400),
        ({"rows": "-3"}, 400),
    ],
)
def test_refusals_for_a_stored_instance(reader_client, params, status):
    ds = ct_slice(0, rows=16, columns=16)
    store(ds)
    response = reader_client.get(wado(ds, **params))
    assert response.status_code == status
    assert response.json()["detail"]


@pytest.mark.django_db
def test_anonymous_gets_nothing(client):
    ds = ct_slice(0, rows=16, columns=16)
    store(ds)
    assert client.get(wado(ds, contentType="application/dicom")).status_code in (401, 403)
