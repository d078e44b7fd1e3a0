"""HTJ2K over WADO-RS: frames, bulk data and instances in HTJ2K when asked by transfer syntax
(.201/.202/.203) or media type (image/jphc, Cornerstone's image/jhc, quoted or not), from the
rendition or encoded on the fly before it exists; the stored syntax for ``*``; decoded pixels
for Explicit VR Little Endian; a ranged prefix decodes to a lower resolution."""

import io

import imagecodecs
import numpy as np
import pydicom
import pytest
from dicom_data import ct_slice, multiframe, rgb_image
from stored import stored_bytes, stored_pieces
from wado_support import OHIF_FRAMES, body_of, instance_path, parts_of, store

from archive import renditions
from archive.models import Instance, Rendition

pytestmark = pytest.mark.django_db

ELE = "1.2.840.10008.1.2.1"
RPCL = "1.2.840.10008.1.2.4.202"


def frames_accept(part: str, ts: str | None = RPCL, quoted=True) -> str:
    part = f'"{part}"' if quoted else part
    return f"multipart/related; type={part}" + (f"; transfer-syntax={ts}" if ts else "")


def with_rendition(ds) -> Rendition:
    store(ds)
    row = Instance.objects.select_related("series").get(sop_instance_uid=ds.SOPInstanceUID)
    assert renditions.build(row) == "built"
    return Rendition.objects.get(instance=row)


def smooth_ct():
    ds = ct_slice(0)
    y, x = np.mgrid[0:512, 0:512]
    ds.PixelData = (1000 + 600 * np.sin(x / 19.0) * np.cos(y / 27.0)).astype(np.uint16).tobytes()
    return ds


OCTETS = "application/octet-stream"
HT201, HT203 = "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.203"


@pytest.mark.parametrize(
    "accept, label",
    [
        (frames_accept(OCTETS), f"{OCTETS}; transfer-syntax={RPCL}"),
        (frames_accept(OCTETS, quoted=False), f"{OCTETS}; transfer-syntax={RPCL}"),
        (frames_accept(OCTETS, HT201), f"{OCTETS}; transfer-syntax={HT201}"),
        (frames_accept(OCTETS, f'"{HT203}"'), f"{OCTETS}; transfer-syntax={HT203}"),
        (frames_accept("image/jphc", None), f"image/jphc; transfer-syntax={RPCL}"),
        (frames_accept("image/jphc", None, quoted=False), f"image/jphc; transfer-syntax={RPCL}"),
        (frames_accept("image/jhc", None), f"image/jphc; transfer-syntax={RPCL}"),
        (frames_accept("image/jhc", HT201, quoted=False), f"image/jphc; transfer-syntax={HT201}"),
    ],
)
def test_frames_from_the_rendition(reader_client, accept, label):
    ds = multiframe(3)
    rendition = with_rendition(ds)
    response = reader_client.get(instance_path(ds) + "/frames/1,3", HTTP_ACCEPT=accept)
    assert response.status_code == 200
    parts = parts_of(response)
    assert [ctype for ctype, _ in parts] == [label, label]
    for (_, payload), index in zip(parts, (0, 2), strict=True):
        assert payload == stored_pieces(rendition, rendition.frame_offsets[index])
        assert imagecodecs.htj2k_decode(payload).tobytes() == ds.pixel_array[index].tobytes()


def test_star_is_stored_and_explicit_little_endian_is_decoded(reader_client):
    ds = multiframe(2)
    with_rendition(ds)
    url = instance_path(ds) + "/frames/2"
    ((ctype, payload),) = parts_of(reader_client.get(url, HTTP_ACCEPT=OHIF_FRAMES))
    assert ctype == f"application/octet-stream; transfer-syntax={ELE}"
    assert payload == ds.pixel_array[1].tobytes()
    # HTJ2K or anything: HTJ2K wins when named first, the stored syntax when * is first.
    both = f"{frames_accept('application/octet-stream')}, {OHIF_FRAMES}"
    ((ctype, _),) = parts_of(reader_client.get(url, HTTP_ACCEPT=both))
    assert ctype.endswith(RPCL)


def test_before_the_rendition_exists(reader_client):
    ds = ct_slice(0, rows=64, columns=64)
    store(ds)
    url = instance_path(ds) + "/frames/1"
    # HTJ2K or the stored syntax: the stored one, no waiting for an encoder.
    either = f"{frames_accept('application/octet-stream')}, {OHIF_FRAMES}"
    ((ctype, payload),) = parts_of(reader_client.get(url, HTTP_ACCEPT=either))
    assert ctype == f"application/octet-stream; transfer-syntax={ELE}"
    assert payload == ds.pixel_array.tobytes()
    # HTJ2K only: encoded on the fly, lossless.
    ((ctype, payload),) = parts_of(
        reader_client.get(url, HTTP_ACCEPT=frames_accept("application/octet-stream"))
    )
    assert ctype == f"application/octet-stream; transfer-syntax={RPCL}"
    assert imagecodecs.htj2k_decode(payload).tobytes() == ds.pixel_array.tobytes()
    assert renditions.progression(payload) == renditions.RPCL
    assert not Rendition.objects.exists()


def test_pixels_that_cannot_be_htj2k_are_refused_not_failed(reader_client):
    ds = rgb_image()
    ds.PhotometricInterpretation = "YBR_FULL"
    store(ds)
    response = reader_client.get(
        instance_path(ds) + "/frames/1", HTTP_ACCEPT=frames_accept("application/octet-stream")
    )
    assert response.status_code == 406
    assert "transfer-syntax=" in response.json()["detail"]


def test_pixel_bulk_data_in_htj2k(reader_client):
    ds = multiframe(2)
    rendition = with_rendition(ds)
    response = reader_client.get(
        instance_path(ds) + "/bulk/7FE00010", HTTP_ACCEPT=frames_accept("image/jphc", None)
    )
    parts = parts_of(response)
    assert [p for _, p in parts] == [
        stored_pieces(rendition, pieces) for pieces in rendition.frame_offsets
    ]


@pytest.mark.parametrize("built", [True, False])
def test_instance_in_htj2k(reader_client, built):
    ds = rgb_image()
    if built:
        rendition = with_rendition(ds)
    else:
        store(ds)
    url = instance_path(ds)
    single = reader_client.get(url, HTTP_ACCEPT=f"application/dicom; transfer-syntax={RPCL}")
    assert single.status_code == 200
    data = body_of(single)
    if built:
        assert data == stored_bytes(rendition)
    copy = pydicom.dcmread(io.BytesIO(data))
    assert copy.file_meta.TransferSyntaxUID == RPCL
    assert copy.pixel_array.tobytes() == ds.pixel_array.tobytes()

    several = reader_client.get(
        url, HTTP_ACCEPT=f'multipart/related; type="application/dicom"; transfer-syntax={RPCL}'
    )
    ((ctype, payload),) = parts_of(several)
    assert ctype == f"application/dicom; transfer-syntax={RPCL}"
    assert pydicom.dcmread(io.BytesIO(payload)).pixel_array.tobytes() == ds.pixel_array.tobytes()

    stored = reader_client.get(url, HTTP_ACCEPT="application/dicom")
    assert pydicom.dcmread(io.BytesIO(body_of(stored))).file_meta.TransferSyntaxUID == ELE


def test_a_ranged_prefix_decodes_to_a_lower_resolution(reader_client):
    ds = smooth_ct()
    with_rendition(ds)
    url = instance_path(ds) + "/frames/1"
    single = f"application/octet-stream; transfer-syntax={RPCL}"
    whole = body_of(reader_client.get(url, HTTP_ACCEPT=single))
    head = reader_client.get(url, HTTP_ACCEPT=single, HTTP_RANGE=f"bytes=0-{len(whole) // 4}")
    assert head.status_code == 206
    low = imagecodecs.htj2k_decode(head.content, skipres=2, resilient=True)
    assert low.shape == (128, 128)
    assert np.array_equal(low, imagecodecs.htj2k_decode(whole, skipres=2))
    assert imagecodecs.htj2k_decode(whole).tobytes() == ds.pixel_array.tobytes()
