"""The WADO Accept negotiation on strings alone: what each real client's header gets."""

import pytest

from archive.dicomweb import accept

ELE = "1.2.840.10008.1.2.1"
JLS = "1.2.840.10008.1.2.4.80"


def frame_choice(header, stored=JLS, single=True):
    offers = accept.frame_offers(stored, can_serve_stored=True)
    return accept.choose(accept.parse(header), offers, single_part=single)


def test_parse_strips_quotes_and_orders_by_q():
    ranges = accept.parse(
        'application/json;q=0.5, multipart/related; type="image/x-jls"; transfer-syntax=*, '
        "image/png;q=0"
    )
    assert [(r.media_type, r.part, r.transfer_syntax, r.q) for r in ranges] == [
        ("multipart/related", "image/jls", "*", 1.0),
        ("application/json", None, None, 0.5),
    ]
    assert accept.parse(None) == (accept.MediaRange("*/*"),)
    assert accept.parse("garbage;;;=, */*")[-1].media_type == "*/*"


@pytest.mark.parametrize(
    "header, media_type, transfer_syntax, stored, multipart",
    [
        # OHIF, unquoted and quoted: the stored bytes, labelled octet-stream
        (
            "multipart/related; type=application/octet-stream; transfer-syntax=*",
            "application/octet-stream",
            JLS,
            True,
            True,
        ),  # noqa: E501
        (
            'multipart/related; type="application/octet-stream"; transfer-syntax=*',
            "application/octet-stream",
            JLS,
            True,
            True,
        ),  # noqa: E501
        # dicomweb-client's default and a bare */*: the server's choice, the stored bytes
        ('multipart/related; type="*/*"', "application/octet-stream", JLS, True, True),
        ("*/*", "application/octet-stream", JLS, True, True),
        # the standard's default for octet-stream: Explicit VR Little Endian, decoded
        (
            "multipart/related; type=application/octet-stream",
            "application/octet-stream",
            ELE,
            False,
            True,
        ),  # noqa: E501
        (
            f"multipart/related; type=application/octet-stream; transfer-syntax={ELE}",
            "application/octet-stream",
            ELE,
            False,
            True,
        ),  # noqa: E501
        # the compressed type itself, with or without its syntax
        ("multipart/related; type=image/jls", "image/jls", JLS, True, True),
        (f"multipart/related; type=image/jls; transfer-syntax={JLS}", "image/jls", JLS, True, True),
        # OHIF singlepart
        (
            "application/octet-stream; transfer-syntax=*",
            "application/octet-stream",
            JLS,
            True,
            False,
        ),  # noqa: E501
        ("image/*", "image/jls", JLS, True, False),
    ],
)
def test_frames_of_a_jpeg_ls_instance(header, media_type, transfer_syntax, stored, multipart):
    choice = frame_choice(header)
    assert choice == accept.Choice(accept.Offer(media_type, transfer_syntax, stored), multipart)


@pytest.mark.parametrize(
    "header",
    [
        "multipart/related; type=image/jp2",
        f"multipart/related; type=application/octet-stream; transfer-syntax={JLS}.9",
        "application/dicom+json",
        "text/html, application/xml;q=0.9",
    ],
)
def test_unsatisfiable_frames(header):
    assert frame_choice(header) is None


def test_single_part_only_for_one_frame_and_q_decides():
    assert frame_choice("application/octet-stream; transfer-syntax=*", single=False) is None
    header = f"multipart/related; type=image/jls;q=0.2, multipart/related; type=application/octet-stream; transfer-syntax={ELE}"  # noqa: E501
    assert frame_choice(header).offer.stored is False
    native = frame_choice("multipart/related; type=application/octet-stream", stored=ELE)
    assert native.offer == accept.Offer("application/octet-stream", ELE, True)


def test_instances_as_stored_unless_explicit_vr_little_endian_is_asked():
    offers = accept.instance_offers(JLS)
    as_stored = accept.choose(accept.parse('multipart/related; type="application/dicom"'), offers)
    assert as_stored.offer == accept.Offer("application/dicom", JLS, True)
    decoded = accept.choose(
        accept.parse(f"multipart/related; type=application/dicom; transfer-syntax={ELE}"), offers
    )
    assert decoded.offer == accept.Offer("application/dicom", ELE, False)


@pytest.mark.parametrize(
    "header, gzip",
    [
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("*", True),
        ("gzip;q=0", False),
        ("identity", False),
        (None, False),
    ],
)
def test_accepts_gzip(header, gzip):
    assert accept.accepts_gzip(header) is gzip


def test_what_cannot_be_decoded_answers_a_bare_octet_stream_as_stored():
    """PS3.18 lets a server that cannot convert answer in the stored syntax: a film always, a
    compressed frame when its decoder is missing. What can be decoded still is, as before."""
    bare = accept.parse('multipart/related; type="application/octet-stream"')
    film = accept.choose(bare, accept.video_offers("1.2.840.10008.1.2.4.102"))
    assert film.offer.transfer_syntax == "1.2.840.10008.1.2.4.102" and film.multipart
    undecodable = accept.frame_offers(JLS, can_serve_stored=True, decodable=False)
    assert accept.choose(bare, undecodable).offer.transfer_syntax == JLS
    assert accept.choose(bare, accept.frame_offers(JLS, True)).offer.transfer_syntax == ELE
    explicit = accept.parse(
        f"multipart/related; type=application/octet-stream; transfer-syntax={ELE}"
    )
    assert accept.choose(explicit, undecodable) is None
