"""The multipart/related decoder on raw bytes: well-formed bodies as real clients write them,
and every malformed shape we must refuse."""

import io

import pytest

from archive.dicomweb import multipart
from archive.dicomweb.multipart import MalformedMultipart


def body(*payloads: bytes, boundary="b0und", preamble=b"", epilogue=b"", headers=None) -> bytes:
    out = preamble
    for payload in payloads:
        out += f"--{boundary}\r\n".encode()
        out += headers if headers is not None else b"Content-Type: application/dicom\r\n"
        out += b"\r\n" + payload + b"\r\n"
    return out + f"--{boundary}--".encode() + epilogue


def parts(data: bytes, boundary="b0und", chunk_size=7) -> list[tuple[dict, bytes]]:
    """Decode with a tiny chunk size so that delimiters fall across reads."""
    return [
        (part.headers, part.read())
        for part in multipart.decode(io.BytesIO(data), boundary, chunk_size)
    ]


def test_two_parts_with_headers():
    decoded = parts(body(b"first payload", b"second\r\npayload\r\n"))
    assert decoded == [
        ({"content-type": "application/dicom"}, b"first payload"),
        ({"content-type": "application/dicom"}, b"second\r\npayload\r\n"),
    ]


@pytest.mark.parametrize("chunk_size", [1, 2, 5, 16, 4096])
def test_any_chunk_size_gives_the_same_parts(chunk_size):
    payloads = [bytes(range(256)) * 3, b"", b"--b0un", b"\r\n--b0un", b"x"]
    decoded = parts(body(*payloads), chunk_size=chunk_size)
    assert [payload for _, payload in decoded] == payloads


def test_preamble_and_epilogue_are_ignored():
    data = body(b"abc", preamble=b"This is a preamble\r\n", epilogue=b"\r\nepilogue text\r\n")
    assert parts(data) == [({"content-type": "application/dicom"}, b"abc")]


def test_leading_crlf_as_the_javascript_dicomweb_client_writes():
    data = b"\r\n--b0und\r\nContent-Type: application/dicom\r\n\r\nDICM\r\n--b0und--"
    assert parts(data) == [({"content-type": "application/dicom"}, b"DICM")]


def test_part_headers_are_lower_cased_and_trimmed():
    data = body(b"p", headers=b"Content-Type:  application/dicom \r\nContent-ID: <a@b>\r\n")
    [(headers, payload)] = parts(data)
    assert headers == {"content-type": "application/dicom", "content-id": "<a@b>"}
    assert payload == b"p"


def test_part_without_headers():
    data = b"--b0und\r\n\r\npayload\r\n--b0und--\r\n"
    assert parts(data) == [({}, b"payload")]


def test_transport_padding_after_delimiter():
    data = b"--b0und  \r\n\r\npayload\r\n--b0und--"
    assert parts(data) == [({}, b"payload")]


def test_read_in_small_pieces_and_skip_unread_parts():
    data = body(b"0123456789", b"second")
    decoder = multipart.decode(io.BytesIO(data), "b0und", chunk_size=3)
    first = next(decoder)
    assert first.read(4) == b"0123"
    assert first.read(4) == b"4567"
    second = next(decoder)  # the rest of the first part is skipped
    assert second.read() == b"second"
    assert list(decoder) == []


@pytest.mark.parametrize(
    "content_type, boundary",
    [
        ('multipart/related; type="application/dicom"; boundary="abc:def"', "abc:def"),
        ("multipart/related; type=application/dicom; boundary=abc123", "abc123"),
        ("multipart/related;boundary=xyz;type=application/dicom;transfer-syntax=*", "xyz"),
        ("Multipart/Related; BOUNDARY=Mixed", "Mixed"),
    ],
)
def test_boundary_quoted_or_not(content_type, boundary):
    assert multipart.boundary_of(content_type) == boundary


@pytest.mark.parametrize(
    "content_type",
    [
        'multipart/related; type="application/dicom"',
        "multipart/related; boundary=",
        'multipart/related; boundary=""',
        "multipart/related; boundary=" + "x" * 71,
    ],
)
def test_missing_or_bad_boundary(content_type):
    with pytest.raises(MalformedMultipart):
        multipart.boundary_of(content_type)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"no delimiter anywhere in this body", "no boundary"),
        (b"", "no boundary"),
        (b"--b0und\r\nContent-Type: application/dicom\r\n\r\npayload without end", "inside a part"),
        (b"--b0und\r\nContent-Type: application/dicom\r\n\r\npayload\r\n--b0und\r\n", "truncated"),
        (b"--b0und\r\nContent-Type: application/dicom\r\npayload\r\n--b0und--", "blank line"),
        (b"--b0und\r\nContent-Type: application/dicom", "blank line"),
        (b"--b0und\r\nnot a header\r\n\r\npayload\r\n--b0und--", "header line"),
        (b"--b0undjunk\r\n\r\npayload\r\n--b0und--", "after a boundary"),
        (b"--b0und\r\n\r\npayload\r\n--b0und", "truncated"),
    ],
)
def test_malformed_bodies(data, message):
    with pytest.raises(MalformedMultipart, match=message):
        parts(data)


def test_lf_only_line_ends_are_not_a_delimiter():
    data = b"--b0und\nContent-Type: application/dicom\n\npayload\n--b0und--\n"
    with pytest.raises(MalformedMultipart):
        parts(data)


def test_endless_headers_are_refused_early():
    data = b"--b0und\r\n" + b"X-Filler: " + b"a" * (multipart.MAX_HEADER_BYTES + 10)
    with pytest.raises(MalformedMultipart, match="too long"):
        parts(data, chunk_size=4096)


def test_encoder_output_decodes_back():
    boundary = multipart.new_boundary()
    encoded = b"".join(
        multipart.encode(
            [("application/dicom", [b"one", b"-two"]), ("application/octet-stream", [b"3"])],
            boundary,
        )
    )
    decoded = parts(encoded, boundary=boundary)
    assert decoded == [
        ({"content-type": "application/dicom"}, b"one-two"),
        ({"content-type": "application/octet-stream"}, b"3"),
    ]
