"""Range on frames and bulk data: 206 answers are byte-exact slices of the whole answer, the
slices of two requests join into it (Cornerstone's progressive loading appends them), several
ranges come as multipart/byteranges, ranges outside the answer are 416."""

import io

import pytest
from dicom_data import compressed, ct_slice, encapsulated_pdf, multiframe
from pydicom.uid import RLELossless
from wado_support import OHIF_FRAMES, body_of, instance_path, store

from archive.dicomweb import byteranges, multipart
from archive.dicomweb.byteranges import Span, Unsatisfiable

SINGLE = "application/octet-stream; transfer-syntax=*"


def test_parse_forms():
    assert byteranges.parse("bytes=0-9", 100) == [Span(0, 9)]
    assert byteranges.parse("bytes=90-", 100) == [Span(90, 99)]
    assert byteranges.parse("bytes=-10", 100) == [Span(90, 99)]
    assert byteranges.parse("bytes=-500", 100) == [Span(0, 99)]
    assert byteranges.parse("bytes=95-200", 100) == [Span(95, 99)]
    assert byteranges.parse("bytes=0-4, 50-59", 100) == [Span(0, 4), Span(50, 59)]
    assert byteranges.parse("bytes=0-10,5-20,21-30", 100) == [Span(0, 30)]  # merged
    assert byteranges.parse("bytes=0-4,200-300", 100) == [Span(0, 4)]  # unsatisfiable dropped
    for ignored in (None, "", "items=0-9", "bytes=", "bytes=a-b", "bytes=9-0", "bytes=0-9;x"):
        assert byteranges.parse(ignored, 100) is None
    assert byteranges.parse("bytes=" + ",".join(["0-1"] * 40), 100) is None
    for outside in ("bytes=100-", "bytes=500-600", "bytes=-0"):
        with pytest.raises(Unsatisfiable):
            byteranges.parse(outside, 100)


@pytest.mark.django_db
def test_frame_ranges_are_slices_that_join(reader_client):
    ds = compressed(ct_slice(0, rows=96, columns=96), RLELossless)
    store(ds)
    url = instance_path(ds) + "/frames/1"
    whole = reader_client.get(url, HTTP_ACCEPT=OHIF_FRAMES)
    assert whole.status_code == 200
    assert whole["Accept-Ranges"] == "bytes"
    full = body_of(whole)

    head = reader_client.get(url, HTTP_ACCEPT=OHIF_FRAMES, HTTP_RANGE="bytes=0-99")
    assert head.status_code == 206
    assert head["Content-Range"] == f"bytes 0-99/{len(full)}"
    assert head["Content-Length"] == "100"
    assert head["Content-Type"] == whole["Content-Type"]  # same boundary: the bytes continue
    assert head.content == full[:100]

    rest = reader_client.get(url, HTTP_ACCEPT=OHIF_FRAMES, HTTP_RANGE="bytes=100-")
    assert rest.status_code == 206
    assert rest["Content-Range"] == f"bytes 100-{len(full) - 1}/{len(full)}"
    assert head.content + rest.content == full

    tail = reader_client.get(url, HTTP_ACCEPT=SINGLE, HTTP_RANGE="bytes=-16")
    single = body_of(reader_client.get(url, HTTP_ACCEPT=SINGLE))
    assert tail.status_code == 206
    assert tail.content == single[-16:]
    assert tail["Content-Type"] == f"application/octet-stream; transfer-syntax={RLELossless}"


@pytest.mark.django_db
def test_several_ranges_come_as_multipart_byteranges(reader_client):
    ds = multiframe(2)
    store(ds)
    url = instance_path(ds) + "/frames/2"
    full = body_of(reader_client.get(url, HTTP_ACCEPT=SINGLE))
    response = reader_client.get(url, HTTP_ACCEPT=SINGLE, HTTP_RANGE="bytes=0-9, 20-29, -5")
    assert response.status_code == 206
    assert response["Content-Type"].startswith("multipart/byteranges; boundary=")
    boundary = multipart.boundary_of(response["Content-Type"])
    parts = [
        (part.headers["content-range"], part.content_type, part.read())
        for part in multipart.decode(io.BytesIO(response.content), boundary)
    ]
    n, native = len(full), "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
    assert parts == [
        (f"bytes 0-9/{n}", native, full[:10]),
        (f"bytes 20-29/{n}", native, full[20:30]),
        (f"bytes {n - 5}-{n - 1}/{n}", native, full[-5:]),
    ]


@pytest.mark.django_db
def test_unsatisfiable_ignored_and_if_range(reader_client):
    ds = multiframe(2)
    store(ds)
    url = instance_path(ds) + "/frames/1"
    full = reader_client.get(url, HTTP_ACCEPT=SINGLE)
    size = len(body_of(full))

    outside = reader_client.get(url, HTTP_ACCEPT=SINGLE, HTTP_RANGE=f"bytes={size}-")
    assert outside.status_code == 416
    assert outside["Content-Range"] == f"bytes */{size}"
    assert "Range" in outside.json()["detail"]

    for header in ("bytes=5-1", "lines=0-3", "bytes=x-"):
        ignored = reader_client.get(url, HTTP_ACCEPT=SINGLE, HTTP_RANGE=header)
        assert ignored.status_code == 200
        assert body_of(ignored) == body_of(full)

    # Our ETags are weak; If-Range needs a strong match, so the whole answer comes back.
    guarded = reader_client.get(
        url, HTTP_ACCEPT=SINGLE, HTTP_RANGE="bytes=0-3", HTTP_IF_RANGE=full["ETag"]
    )
    assert guarded.status_code == 200
    assert body_of(guarded) == body_of(full)


@pytest.mark.django_db
def test_bulk_data_ranges(reader_client):
    ds = multiframe(3)
    store(ds)
    url = instance_path(ds) + "/bulk/7FE00010"
    pixels = ds.pixel_array.tobytes()
    middle = reader_client.get(
        url, HTTP_ACCEPT="application/octet-stream", HTTP_RANGE="bytes=100-199"
    )
    assert middle.status_code == 206
    assert middle["Content-Range"] == f"bytes 100-199/{len(pixels)}"
    assert middle.content == pixels[100:200]

    pdf = encapsulated_pdf()
    store(pdf)
    document = bytes(pdf.EncapsulatedDocument)
    bulk = instance_path(pdf) + "/bulk/00420011?accept=application/pdf"
    first = reader_client.get(bulk, HTTP_RANGE="bytes=0-7")
    assert first.status_code == 206
    assert first["Content-Type"] == "application/pdf"
    assert first.content == document[:8]
    assert reader_client.get(bulk)["Accept-Ranges"] == "bytes"
