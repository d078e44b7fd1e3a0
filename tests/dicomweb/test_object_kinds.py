"""Every kind of object a clinic stores, at the HTTP level, with the requests OHIF 3.13 makes:
a film asked for as bare octet-stream (OHIF's DICOMweb video viewport), deflated and big
endian pixels, a PDF's rendered form, thumbnails of what has no image, and OHIF's DICOM JSON
document carrying what its SEG, SR, PDF and video handlers read."""

import base64
import io
import json

import numpy as np
import pydicom
import pytest
from dicom_data import ct_blocks_series, encapsulated_pdf, mpeg4_video, to_bytes
from django.test import Client
from object_data import deflated, h264_video, length_report, palette_image, segmentation
from PIL import Image
from pydicom.data import get_testdata_file
from wado_support import OHIF_FRAMES, body_of, instance_path, parts_of, store

from archive.models import Instance

pytestmark = pytest.mark.django_db

H264 = "1.2.840.10008.1.2.4.102"
ELE = "1.2.840.10008.1.2.1"
# OHIF 3.13's DICOMweb video viewport fetches PixelData's BulkDataURI with this and nothing else.
OHIF_BULK = 'multipart/related; type="application/octet-stream"'


def test_a_film_answers_ohifs_bare_octet_stream_accept_as_stored(reader_client):
    ds, film = mpeg4_video()
    store(ds)
    bulk = instance_path(ds) + "/bulk/7FE00010"
    for header in (OHIF_BULK, "multipart/related; type=application/octet-stream"):
        response = reader_client.get(bulk, HTTP_ACCEPT=header)
        assert response.status_code == 200, response.content
        assert parts_of(response) == [(f"application/octet-stream; transfer-syntax={H264}", film)]
    single = reader_client.get(bulk, HTTP_ACCEPT="application/octet-stream")
    assert single["Content-Type"] == f"application/octet-stream; transfer-syntax={H264}"
    assert body_of(single) == film
    # Asking for a syntax it cannot be converted to is still refused, naming what can be sent.
    refused = reader_client.get(bulk, HTTP_ACCEPT=f"{OHIF_BULK}; transfer-syntax={ELE}")
    assert refused.status_code == 406
    assert H264 in refused.json()["detail"]


def test_deflated_instances_give_frames_renderings_and_thumbnails(reader_client):
    original = ct_blocks_series(1, size=64)[0]
    expected = original.pixel_array.copy()
    ds = deflated(original)
    store(ds)
    stored = pydicom.dcmread(io.BytesIO(to_bytes(ds)))
    assert stored.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1.99"
    for header in (OHIF_FRAMES, OHIF_BULK):
        ((ctype, payload),) = parts_of(
            reader_client.get(instance_path(ds) + "/frames/1", HTTP_ACCEPT=header)
        )
        assert ctype == f"application/octet-stream; transfer-syntax={ELE}"
        assert np.array_equal(np.frombuffer(payload, "<u2").reshape(64, 64), expected)
    rendered = reader_client.get(instance_path(ds) + "/rendered", HTTP_ACCEPT="image/png")
    assert rendered.status_code == 200
    assert Image.open(io.BytesIO(rendered.content)).size == (64, 64)
    thumbnail = reader_client.get(f"/dicom-web/studies/{ds.StudyInstanceUID}/thumbnail")
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize("name", ["image_dfl.dcm", "MR_small_bigendian.dcm"])
def test_bundled_deflated_and_big_endian_files_render_as_pydicom_decodes_them(reader_client, name):
    ds = pydicom.dcmread(get_testdata_file(name, download=False))
    store(ds)
    ((_, payload),) = parts_of(
        reader_client.get(instance_path(ds) + "/frames/1", HTTP_ACCEPT=OHIF_FRAMES)
    )
    expected = ds.pixel_array
    assert payload == expected.astype(expected.dtype.newbyteorder("<")).tobytes()
    png = reader_client.get(instance_path(ds) + "/rendered", HTTP_ACCEPT="image/png")
    shown = np.asarray(Image.open(io.BytesIO(png.content)), dtype=float)
    assert shown.shape == expected.shape
    assert np.corrcoef(shown.ravel(), expected.astype(float).ravel())[0, 1] > 0.95


def test_a_pdf_renders_as_itself_embeddable_under_cross_origin_isolation(reader_client):
    ds = encapsulated_pdf()
    store(ds)
    # OHIF with singlepart "pdf" (DICOMweb) or without a BulkDataURI (DICOM JSON) loads the
    # rendered resource into <object type="application/pdf">.
    for accept in ("*/*", "application/pdf", "text/html,application/xhtml+xml,*/*;q=0.8"):
        response = reader_client.get(instance_path(ds) + "/rendered", HTTP_ACCEPT=accept)
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == "application/pdf"
        assert body_of(response) == ds.EncapsulatedDocument
        assert response["Cross-Origin-Embedder-Policy"] == "require-corp"
        assert response["Cross-Origin-Resource-Policy"] == "same-origin"
    refused = reader_client.get(instance_path(ds) + "/rendered", HTTP_ACCEPT="image/jpeg")
    assert refused.status_code == 406
    film = reader_client.get(instance_path(ds) + "/bulk/00420011?accept=application/pdf")
    assert film["Cross-Origin-Resource-Policy"] == "same-origin"


def thumbnail_of(reader_client, url):
    response = reader_client.get(url, HTTP_ACCEPT="image/png")
    assert response.status_code == 200, response.content
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


def test_what_has_no_image_gets_an_icon_of_its_kind_never_an_error(reader_client):
    series = ct_blocks_series(3, size=128)
    film = h264_video()
    objects = [segmentation(series), length_report(series), encapsulated_pdf(), film]
    store(*objects)
    icons = []
    for ds in objects:
        study = thumbnail_of(reader_client, f"/dicom-web/studies/{ds.StudyInstanceUID}/thumbnail")
        instance = thumbnail_of(reader_client, instance_path(ds) + "/thumbnail?viewport=64,64")
        assert instance.shape == (64, 64, 3)
        # The icon's frame and label in OHIF's light blue on its dark blue.
        assert (study == (9, 12, 41)).all(axis=-1).mean() > 0.5
        assert (np.abs(study.astype(int) - (90, 204, 230)).sum(axis=-1) < 60).any()
        icons.append(instance)
    # One per kind: SEG, SR, PDF and VIDEO are told apart.
    assert len({icon.tobytes() for icon in icons}) == 4
    # A study with images and a SEG over them shows the images.
    store(*series)
    study = series[0].StudyInstanceUID
    shown = thumbnail_of(reader_client, f"/dicom-web/studies/{study}/thumbnail")
    assert (shown == (9, 12, 41)).all(axis=-1).mean() < 0.1


def dicom_json_document(reader_client, study_uid) -> dict:
    link = reader_client.get(f"/dicom-web/studies/{study_uid}/ohif-dicom-json-link").json()
    response = Client().get(link["url"].removeprefix("http://testserver"))
    assert response.status_code == 200
    return json.loads(body_of(response))


def entries_of(document, series_uid) -> list[dict]:
    (study,) = document["studies"]
    (series,) = [s for s in study["series"] if s["SeriesInstanceUID"] == series_uid]
    return series["instances"]


def test_dicom_json_carries_what_ohifs_seg_sr_pdf_and_video_handlers_read(reader_client):
    series = ct_blocks_series(3, size=128)
    seg, sr = segmentation(series), length_report(series)
    pdf = encapsulated_pdf(study_uid=series[0].StudyInstanceUID)
    film = h264_video(study_uid=series[0].StudyInstanceUID)
    palette = palette_image(study_uid=series[0].StudyInstanceUID)
    packed = deflated(ct_blocks_series(1, size=32, study_uid=series[0].StudyInstanceUID)[0])
    store(*series, seg, sr, pdf, film, palette, packed)
    document = dicom_json_document(reader_client, series[0].StudyInstanceUID)

    # SEG: segments, functional groups with the pixel measures, the referenced series.
    (first, *others) = entries_of(document, seg.SeriesInstanceUID)
    meta = first["metadata"]
    assert meta["SegmentSequence"][0]["SegmentLabel"] == "Square"
    shared = meta["SharedFunctionalGroupsSequence"][0]
    assert shared["PixelMeasuresSequence"][0]["PixelSpacing"] == [0.7, 0.7]
    assert len(meta["PerFrameFunctionalGroupsSequence"]) == 3
    referenced = meta["ReferencedSeriesSequence"][0]
    assert referenced["SeriesInstanceUID"] == series[0].SeriesInstanceUID
    assert len(others) == 2 and "SegmentSequence" not in others[0]["metadata"]

    # SR: the content tree with the length and its coordinates.
    ((entry),) = entries_of(document, sr.SeriesInstanceUID)
    text = json.dumps(entry["metadata"]["ContentSequence"])
    assert "22.4" in text and "POLYLINE" in text
    assert entry["metadata"]["ContentTemplateSequence"][0]["TemplateIdentifier"] == "1500"

    # PDF: a URL a browser loads, with the MIME type asked for.
    ((entry),) = entries_of(document, pdf.SeriesInstanceUID)
    url = entry["metadata"]["EncapsulatedDocument"]["DirectRetrieveURL"]
    assert url == (f"http://testserver{instance_path(pdf)}/bulk/00420011?accept=application%2Fpdf")
    assert body_of(reader_client.get(url.removeprefix("http://testserver"))) == (
        pdf.EncapsulatedDocument
    )

    # Video: one entry whose url is the rendered film (OHIF's <video> source), plus the
    # transfer syntax its handler looks for.
    ((entry),) = entries_of(document, film.SeriesInstanceUID)
    assert entry["url"] == f"http://testserver{instance_path(film)}/rendered"
    assert entry["metadata"]["AvailableTransferSyntaxUID"] == H264
    response = reader_client.get(entry["url"].removeprefix("http://testserver"))
    assert response["Content-Type"].startswith("video/mp4")

    # Palette colour: the lookup tables as OHIF's metadata provider reads them.
    ((entry),) = entries_of(document, palette.SeriesInstanceUID)
    red = entry["metadata"]["RedPaletteColorLookupTableData"]["InlineBinary"]
    assert base64.b64decode(red) == palette.RedPaletteColorLookupTableData
    assert entry["metadata"]["RedPaletteColorLookupTableDescriptor"] == [256, 0, 16]
    # Deflated: Cornerstone's WADO-URI loader cannot inflate, so it asks for the file decoded.
    ((entry),) = entries_of(document, packed.SeriesInstanceUID)
    assert entry["url"].endswith("&transferSyntax=1.2.840.10008.1.2.1")
    decoded = reader_client.get(entry["url"].removeprefix("dicomweb:http://testserver"))
    assert pydicom.dcmread(io.BytesIO(body_of(decoded))).file_meta.TransferSyntaxUID == ELE

    # Plain images keep their compact entries.
    ct = entries_of(document, series[0].SeriesInstanceUID)
    assert len(ct) == 3 and "PatientName" not in ct[0]["metadata"]


def test_palette_colour_renders_through_its_lookup_tables(reader_client):
    ds = palette_image()
    store(ds)
    shown = thumbnail_of(reader_client, instance_path(ds) + "/rendered")
    expected = pydicom.pixels.apply_color_lut(ds.pixel_array, ds) >> 8
    assert np.abs(shown.astype(int) - expected.astype(int)).max() <= 1


def test_thumbnails_answer_ohifs_fetch_strategy(reader_client):
    """OHIF's thumbnailRendering "thumbnail" with thumbnailRequestStrategy "fetch" asks each
    series' /thumbnail with Accept: image/jpeg and viewport=256,256."""
    series = ct_blocks_series(3, size=128)
    film = h264_video(study_uid=series[0].StudyInstanceUID)
    store(*series, film)
    for ds in (series[0], film):
        url = f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/thumbnail"
        response = reader_client.get(url + "?viewport=256,256", HTTP_ACCEPT="image/jpeg")
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == "image/jpeg"
        width, height = Image.open(io.BytesIO(response.content)).size
        assert max(width, height) <= 256


def test_instance_searches_carry_what_ohif_314_orders_versions_by(reader_client):
    """OHIF 3.14 saves SR/SEG/RTSTRUCT "to current" (a new instance in the series) and orders the
    versions by InstanceCreationDate/Time, ContentDate (or StructureSetDate) and InstanceNumber:
    a plain instance search returns them all, from the index (no includefield, no worker)."""
    first, second = ct_blocks_series(2, size=16)
    for ds, day in ((first, "20240102"), (second, "20240103")):
        ds.InstanceCreationDate, ds.InstanceCreationTime = day, "101010"
        ds.ContentDate, ds.ContentTime = day, "111111.5"
        ds.StructureSetDate = day
    store(first, second)
    assert not Instance.objects.filter(metadata__isnull=False).exists()
    url = f"/dicom-web/studies/{first.StudyInstanceUID}/series/{first.SeriesInstanceUID}/instances"
    plain = reader_client.get(url).json()
    wanted = {
        "00080012": ("DA", "InstanceCreationDate"),
        "00080013": ("TM", "InstanceCreationTime"),
        "00080023": ("DA", "ContentDate"),
        "00080033": ("TM", "ContentTime"),
        "30060008": ("DA", "StructureSetDate"),
        "00200013": ("IS", "InstanceNumber"),
    }
    for result, ds in zip(plain, (first, second), strict=True):
        for tag, (vr, keyword) in wanted.items():
            value = ds.InstanceNumber if vr == "IS" else str(getattr(ds, keyword))
            assert result[tag] == {"vr": vr, "Value": [value]}, keyword
    # Matching on the creation date and time together, as on ContentDate/ContentTime.
    later = reader_client.get(
        url, {"InstanceCreationDate": "20240103-", "InstanceCreationTime": "100000-"}
    ).json()
    assert [i["00080018"]["Value"] for i in later] == [[second.SOPInstanceUID]]


def test_a_new_instance_in_an_existing_series_is_in_the_next_metadata(reader_client):
    """Saving "to current" adds a SEG to its series: the next metadata request has it (the
    study's generation makes every cached document stale), never the old document."""
    series = ct_blocks_series(2, size=64)
    seg = segmentation(series)
    store(*series, seg)
    url = f"/dicom-web/studies/{seg.StudyInstanceUID}/series/{seg.SeriesInstanceUID}/metadata"
    before = reader_client.get(url)
    assert len(json.loads(body_of(before))) == 1
    again = segmentation(series, label="Again")
    again.SeriesInstanceUID = seg.SeriesInstanceUID
    again.InstanceNumber = 2
    store(again)
    after = reader_client.get(url, HTTP_IF_NONE_MATCH=before.get("ETag", '"none"'))
    assert after.status_code == 200
    labels = [i["00620002"]["Value"][0]["00620005"]["Value"] for i in json.loads(body_of(after))]
    assert labels == [["Square"], ["Again"]]
