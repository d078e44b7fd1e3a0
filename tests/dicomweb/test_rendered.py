"""Rendered frames and thumbnails: decoded with Pillow and compared with the windowing the
standard defines (PS3.3 C.11.2.1.2), within JPEG's tolerance."""

import io

import numpy as np
import pydicom
import pytest
from dicom_data import (
    compressed,
    ct_series,
    ct_slice,
    multiframe,
    receive_file,
    rgb_image,
)
from PIL import Image
from pydicom.data import get_testdata_file
from wado_support import instance_path, store


def image(response) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)))


def expected_ct(ds, center, width) -> np.ndarray:
    values = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
    out = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255
    out[values <= low], out[values > high] = 0, 255
    return out


@pytest.mark.django_db
def test_default_window_is_the_instance_window_as_jpeg(reader_client):
    ds = ct_slice(0, rows=64, columns=64)
    store(ds)
    response = reader_client.get(instance_path(ds) + "/rendered")
    assert response["Content-Type"] == "image/jpeg"
    got = image(response).astype(np.float64)
    assert got.shape == (64, 64)
    assert np.abs(got - expected_ct(ds, 40, 400)).mean() < 3


@pytest.mark.django_db
def test_window_parameter_and_png_are_exact(reader_client):
    ds = compressed(ct_slice(1, rows=64, columns=64))
    original = ct_slice(1, rows=64, columns=64)
    store(ds)
    response = reader_client.get(
        instance_path(ds) + "/frames/1/rendered?window=500,1500", HTTP_ACCEPT="image/png"
    )
    assert response["Content-Type"] == "image/png"
    want = np.clip(np.rint(expected_ct(original, 500, 1500)), 0, 255)
    assert np.abs(image(response).astype(int) - want).max() <= 1


@pytest.mark.django_db
def test_monochrome1_is_inverted_and_rgb_kept(reader_client):
    ds = ct_slice(2, rows=32, columns=32)
    ds.PhotometricInterpretation = "MONOCHROME1"
    rgb = rgb_image()
    store(ds, rgb)
    got = image(
        reader_client.get(instance_path(ds) + "/rendered?window=40,400", HTTP_ACCEPT="image/png")
    )
    assert np.abs(got.astype(int) - (255 - np.rint(expected_ct(ds, 40, 400)))).max() <= 1
    colour = image(reader_client.get(instance_path(rgb) + "/rendered", HTTP_ACCEPT="image/png"))
    assert (colour == rgb.pixel_array).all()


@pytest.mark.django_db
def test_frame_of_a_multiframe_and_viewport(reader_client):
    ds = multiframe(5)
    store(ds)
    got = image(
        reader_client.get(instance_path(ds) + "/frames/4/rendered", HTTP_ACCEPT="image/png")
    )
    frame = ds.pixel_array[3].astype(np.float64)  # no window: the frame's own range
    want = np.clip(np.rint((frame - frame.min()) / (frame.max() - frame.min()) * 255), 0, 255)
    assert np.abs(got.astype(int) - want).max() <= 1
    small = image(reader_client.get(instance_path(ds) + "/rendered?viewport=40,40"))
    assert small.shape == (32, 40)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query, status",
    [
        ("?window=40", 400),
        ("?window=40,0", 400),
        ("?window=a,b", 400),
        ("?window=40,400,CUBIC", 400),
        ("?quality=0", 400),
        ("?viewport=10", 400),
    ],
)
def test_bad_parameters_are_400(reader_client, query, status):
    ds = ct_slice(0, rows=16, columns=16)
    store(ds)
    response = reader_client.get(instance_path(ds) + "/rendered" + query)
    assert response.status_code == status
    assert response.json()["detail"]


@pytest.mark.django_db
def test_thumbnails_show_the_middle_image_and_are_small(reader_client):
    datasets = ct_series(5, rows=256, columns=256)
    store(*datasets)
    first = datasets[0]
    study = reader_client.get(f"/dicom-web/studies/{first.StudyInstanceUID}/thumbnail")
    series = reader_client.get(
        f"/dicom-web/studies/{first.StudyInstanceUID}/series/{first.SeriesInstanceUID}/thumbnail"
    )
    assert study["Content-Type"] == "image/jpeg"
    assert study.content == series.content
    thumb = image(series).astype(np.float64)
    assert thumb.shape == (128, 128)
    middle = np.clip(np.rint(expected_ct(datasets[2], 40, 400)), 0, 255).astype(np.uint8)
    want = np.asarray(Image.fromarray(middle).resize((128, 128), Image.Resampling.LANCZOS))
    assert np.abs(thumb - want).mean() < 6
    instance = reader_client.get(instance_path(datasets[4]) + "/thumbnail", HTTP_ACCEPT="image/png")
    assert instance["Content-Type"] == "image/png"
    assert image(instance).shape == (128, 128)


@pytest.mark.django_db
def test_rendered_of_unknown_instance_is_404(reader_client):
    ds = ct_slice(0, rows=16, columns=16)
    response = reader_client.get(instance_path(ds) + "/rendered")
    assert response.status_code == 404
    assert "no instance" in response.json()["detail"]


@pytest.mark.django_db
def test_jpeg_baseline_ycbcr_renders_in_colour(reader_client):
    path = get_testdata_file("SC_rgb_dcmtk_+eb+cy+np.dcm", download=False)
    ds = pydicom.dcmread(path)
    receive_file(path)
    got = image(reader_client.get(instance_path(ds) + "/rendered", HTTP_ACCEPT="image/png"))
    assert got.shape == (100, 100, 3)
    assert (got == ds.pixel_array).all()  # pydicom's RGB conversion of the YCbCr frame
