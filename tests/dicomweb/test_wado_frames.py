"""WADO-RS frames and bulk data: stored bytes for ``transfer-syntax=*``, decoded pixels equal to
pydicom's ``pixel_array`` of the original for Explicit VR Little Endian, with the headers OHIF
and dicomweb-client really send."""

import json

import numpy as np
import pydicom
import pytest
from dicom_data import (
    compressed,
    ct_slice,
    encapsulated_pdf,
    mpeg4_video,
    multiframe,
    receive_file,
)
from dicomweb_client.api import DICOMwebClient
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames
from pydicom.pixels import get_decoder
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless
from stored import stored_bytes
from wado_support import (
    OHIF_FRAMES,
    OHIF_FRAMES_QUOTED,
    body_of,
    instance_path,
    parts_of,
    store,
)

from archive.models import Instance

ELE = "1.2.840.10008.1.2.1"
DECODED = f'multipart/related; type="application/octet-stream"; transfer-syntax={ELE}'


def stored_frame(ds, index=0) -> bytes:
    row = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
    raw = stored_bytes(row)
    return b"".join(raw[offset : offset + length] for offset, length in row.frame_offsets[index])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "accept",
    [
        OHIF_FRAMES,
        OHIF_FRAMES_QUOTED,
        'multipart/related; type="*/*"',
        "*/*",
        "multipart/related; type=application/octet-stream",
        DECODED,
        None,
    ],
)
def test_native_frames_are_the_pixel_bytes(reader_client, accept):
    ds = multiframe(4)
    store(ds)
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = reader_client.get(instance_path(ds) + "/frames/1,3,4", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith(
        'multipart/related; type="application/octet-stream"; boundary='
    )
    assert int(response["Content-Length"]) == len(response.content)
    parts = parts_of(response)
    assert [ctype for ctype, _ in parts] == [f"application/octet-stream; transfer-syntax={ELE}"] * 3
    assert [payload for _, payload in parts] == [ds.pixel_array[i].tobytes() for i in (0, 2, 3)]


@pytest.mark.django_db
@pytest.mark.parametrize("transfer_syntax", [RLELossless, JPEGLSLossless, JPEG2000Lossless])
def test_compressed_frames_as_stored_or_decoded(reader_client, transfer_syntax):
    original = ct_slice(0, rows=64, columns=64)
    expected = original.pixel_array.copy()
    ds = compressed(original, transfer_syntax)
    store(ds)
    url = instance_path(ds) + "/frames/1"

    for accept in (OHIF_FRAMES, OHIF_FRAMES_QUOTED):
        ((ctype, payload),) = parts_of(reader_client.get(url, HTTP_ACCEPT=accept))
        assert ctype == f"application/octet-stream; transfer-syntax={transfer_syntax}"
        assert payload == stored_frame(ds)
        assert _decode(payload, ds).tobytes() == expected.tobytes()

    ((ctype, payload),) = parts_of(reader_client.get(url, HTTP_ACCEPT=DECODED))
    assert ctype == f"application/octet-stream; transfer-syntax={ELE}"
    assert payload == expected.tobytes()


@pytest.mark.django_db
def test_compressed_media_type_and_refusals(reader_client):
    ds = compressed(ct_slice(0, rows=32, columns=32), JPEGLSLossless)
    store(ds)
    url = instance_path(ds) + "/frames/1"

    jls = reader_client.get(url, HTTP_ACCEPT='multipart/related; type="image/jls"')
    ((ctype, payload),) = parts_of(jls)
    assert ctype == f"image/jls; transfer-syntax={JPEGLSLossless}"
    assert payload == stored_frame(ds)

    for accept in ('multipart/related; type="image/jp2"', "application/dicom"):
        refused = reader_client.get(url, HTTP_ACCEPT=accept)
        assert refused.status_code == 406
        assert "transfer-syntax=" in refused.json()["detail"]


@pytest.mark.django_db
def test_single_part_frame_as_ohif_singlepart_asks(reader_client):
    ds = compressed(ct_slice(0, rows=32, columns=32), RLELossless)
    store(ds)
    response = reader_client.get(
        instance_path(ds) + "/frames/1", HTTP_ACCEPT="application/octet-stream; transfer-syntax=*"
    )
    assert response["Content-Type"] == f"application/octet-stream; transfer-syntax={RLELossless}"
    assert body_of(response) == stored_frame(ds)

    two = multiframe(2)
    store(two)
    several = reader_client.get(
        instance_path(two) + "/frames/1,2",
        HTTP_ACCEPT="application/octet-stream; transfer-syntax=*",
    )
    assert several.status_code == 406


@pytest.mark.django_db
@pytest.mark.parametrize(
    "frame_list, status", [("0", 400), ("5", 404), ("1,x", 400), ("-1", 400), ("1,2,99", 404)]
)
def test_bad_frame_numbers(reader_client, frame_list, status):
    ds = multiframe(4)
    store(ds)
    response = reader_client.get(instance_path(ds) + f"/frames/{frame_list}")
    assert response.status_code == status
    assert "frame" in response.json()["detail"]


@pytest.mark.django_db
def test_pixel_bulkdata_is_every_frame_native(reader_client):
    ds = multiframe(3)
    store(ds)
    url = instance_path(ds) + "/bulk/7FE00010"
    ((ctype, payload),) = parts_of(reader_client.get(url))
    assert ctype == f"application/octet-stream; transfer-syntax={ELE}"
    assert payload == ds.pixel_array.tobytes()

    single = reader_client.get(url, HTTP_ACCEPT="application/octet-stream")
    assert body_of(single) == ds.pixel_array.tobytes()

    for bad, status in (("7FE0001", 400), ("00091001", 404), ("7FE00010/0", 400)):
        assert reader_client.get(instance_path(ds) + f"/bulk/{bad}").status_code == status


@pytest.mark.django_db(transaction=True)
def test_dicomweb_client_frames_with_its_default_accept(dicomweb_session, dicomweb_url):
    client = DICOMwebClient(dicomweb_url, session=dicomweb_session)
    native = multiframe(3)
    rle = compressed(ct_slice(0, rows=32, columns=32), RLELossless)
    expected_rle = ct_slice(0, rows=32, columns=32).pixel_array
    store(native, rle)

    got = client.retrieve_instance_frames(
        native.StudyInstanceUID, native.SeriesInstanceUID, native.SOPInstanceUID, [2, 3]
    )
    assert got == [native.pixel_array[1].tobytes(), native.pixel_array[2].tobytes()]

    (stored,) = client.retrieve_instance_frames(
        rle.StudyInstanceUID, rle.SeriesInstanceUID, rle.SOPInstanceUID, [1]
    )
    assert _decode(stored, rle).tobytes() == expected_rle.tobytes()

    (decoded,) = client.retrieve_instance_frames(
        rle.StudyInstanceUID,
        rle.SeriesInstanceUID,
        rle.SOPInstanceUID,
        [1],
        media_types=(("application/octet-stream", ELE),),
    )
    assert decoded == expected_rle.tobytes()


def _decode(payload: bytes, ds) -> np.ndarray:
    array, _ = get_decoder(ds.file_meta.TransferSyntaxUID).as_array(
        encapsulate([payload]),
        rows=ds.Rows,
        columns=ds.Columns,
        samples_per_pixel=ds.SamplesPerPixel,
        bits_allocated=ds.BitsAllocated,
        bits_stored=ds.BitsStored,
        pixel_representation=ds.PixelRepresentation,
        photometric_interpretation=ds.PhotometricInterpretation,
        number_of_frames=1,
    )
    return array


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [
        "SC_rgb_jpeg_gdcm.dcm",  # JPEG lossless, RGB
        "SC_rgb_dcmtk_+eb+cy+np.dcm",  # JPEG baseline, YBR_FULL_422: decoded to RGB
        "SC_rgb_rle_2frame.dcm",  # RLE, two RGB frames
        "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS, signed 16 bits
        "MR_small_bigendian.dcm",  # native big endian: decoded, never sent as stored
    ],
)
def test_real_files_from_other_encoders(reader_client, name):
    path = get_testdata_file(name, download=False)
    ds = pydicom.dcmread(path)
    receive_file(path)
    count = int(ds.get("NumberOfFrames") or 1)
    expected = ds.pixel_array if count > 1 else ds.pixel_array[np.newaxis]
    url = instance_path(ds) + "/frames/" + ",".join(str(i + 1) for i in range(len(expected)))
    parts = parts_of(reader_client.get(url, HTTP_ACCEPT=DECODED))
    assert [payload for _, payload in parts] == [
        frame.astype(frame.dtype.newbyteorder("<")).tobytes() for frame in expected
    ]
    stored = parts_of(reader_client.get(url, HTTP_ACCEPT=OHIF_FRAMES))
    stored_ts = ds.file_meta.TransferSyntaxUID
    label = ELE if stored_ts == "1.2.840.10008.1.2.2" else stored_ts
    assert {ctype for ctype, _ in stored} == {f"application/octet-stream; transfer-syntax={label}"}
    if stored_ts.is_compressed:
        assert [payload for _, payload in stored] == list(
            generate_frames(ds.PixelData, number_of_frames=len(expected))
        )


@pytest.mark.django_db
def test_encapsulated_pdf_through_its_bulkdata_uri_and_accept_parameter(reader_client):
    ds = encapsulated_pdf()
    store(ds)
    (item,) = json.loads(reader_client.get(instance_path(ds) + "/metadata").content)
    path = item["00420011"]["BulkDataURI"].removeprefix("http://testserver")
    # OHIF's PDF viewport loads the URL in an <iframe>: no Accept header, ?accept= instead.
    pdf = reader_client.get(path + "?accept=application/pdf")
    assert pdf["Content-Type"] == "application/pdf"
    assert body_of(pdf) == ds.EncapsulatedDocument
    ((ctype, payload),) = parts_of(reader_client.get(path))
    assert (ctype, payload) == ("application/octet-stream", ds.EncapsulatedDocument)
    assert reader_client.get(path + "?accept=image/png").status_code == 406
    assert reader_client.get(instance_path(ds) + "/frames/1").status_code == 404


@pytest.mark.django_db
def test_video_stream_from_bulkdata_and_rendered(reader_client):
    ds, stream = mpeg4_video()
    store(ds)
    (item,) = json.loads(reader_client.get(instance_path(ds) + "/metadata").content)
    bulk = item["7FE00010"]["BulkDataURI"].removeprefix("http://testserver")
    # OHIF's video viewport: <video src="{BulkDataURI}?accept=video/mp4">, no Accept header.
    for url in (bulk + "?accept=video/mp4", instance_path(ds) + "/rendered"):
        response = reader_client.get(url)
        assert response["Content-Type"] == "video/mp4; transfer-syntax=1.2.840.10008.1.2.4.102"
        assert body_of(response) == stream
    refused = reader_client.get(instance_path(ds) + "/rendered", HTTP_ACCEPT="image/jpeg")
    assert refused.status_code == 406
    assert reader_client.get(instance_path(ds) + "/frames/1/rendered").status_code == 406


@pytest.mark.django_db
def test_frames_and_stored_files_revalidate_by_etag(reader_client):
    ds = compressed(ct_slice(0, rows=64, columns=64), RLELossless)
    (sent,) = store(ds)
    url = instance_path(ds) + "/frames/1"

    first = reader_client.get(url, HTTP_ACCEPT=OHIF_FRAMES)
    etag = first["ETag"]
    assert first["Cache-Control"] == "private, no-cache"
    assert "Accept" in first["Vary"]
    again = reader_client.get(url, HTTP_ACCEPT=OHIF_FRAMES, HTTP_IF_NONE_MATCH=etag)
    assert (again.status_code, again.content, again["ETag"]) == (304, b"", etag)
    assert (
        reader_client.get(url, HTTP_ACCEPT=OHIF_FRAMES, HTTP_IF_NONE_MATCH="*").status_code == 304
    )
    # The decoded frame is another representation: sent in full, with its own ETag.
    decoded = reader_client.get(url, HTTP_ACCEPT=DECODED, HTTP_IF_NONE_MATCH=etag)
    assert decoded.status_code == 200 and decoded["ETag"] != etag
    ((_, payload),) = parts_of(decoded)
    assert payload == ds.pixel_array.tobytes()

    # The Part-10 file, by WADO-RS and by WADO-URI.
    part10 = reader_client.get(instance_path(ds), HTTP_ACCEPT="application/dicom")
    assert body_of(part10) == sent
    file_etag = part10["ETag"]
    assert file_etag not in (etag, decoded["ETag"])
    assert (
        reader_client.get(
            instance_path(ds), HTTP_ACCEPT="application/dicom", HTTP_IF_NONE_MATCH=file_etag
        ).status_code
        == 304
    )
    wado_uri = (
        f"/wado?requestType=WADO&studyUID={ds.StudyInstanceUID}&seriesUID={ds.SeriesInstanceUID}"
        f"&objectUID={ds.SOPInstanceUID}&contentType=application%2Fdicom"
    )
    assert reader_client.get(wado_uri, HTTP_IF_NONE_MATCH=file_etag).status_code == 304
    assert body_of(reader_client.get(wado_uri, HTTP_IF_NONE_MATCH='W/"other"')) == sent
