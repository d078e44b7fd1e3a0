"""Accept-header negotiation for WADO-RS resources whose answer depends on the stored file.

DRF's negotiation picks a renderer from a fixed list by exact parameter match; WADO-RS needs
more: what a frame can be sent as depends on the transfer syntax it is stored in, clients
write ``type=`` quoted or not, ask ``type="*/*"`` (dicomweb-client) or ``transfer-syntax=*``
(OHIF). The views list what they can produce for one resource (``Offer``s, preferred first)
and ``choose`` returns the first offer the client accepts, honouring q-values (PS3.18 §8.7).
Pure: strings in, dataclasses out.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.http import parse_header_parameters

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
OCTET_STREAM = "application/octet-stream"
DICOM = "application/dicom"
MULTIPART = "multipart/related"

# Transfer syntax -> media type of a frame in it (PS3.18 Table 8.7.3-5 and friends).
FRAME_MEDIA_TYPES = {
    "1.2.840.10008.1.2.5": "image/dicom-rle",
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.4.100": "video/mpeg2",
    "1.2.840.10008.1.2.4.101": "video/mpeg2",
    "1.2.840.10008.1.2.4.102": "video/mp4",
    "1.2.840.10008.1.2.4.103": "video/mp4",
    "1.2.840.10008.1.2.4.104": "video/mp4",
    "1.2.840.10008.1.2.4.105": "video/mp4",
    "1.2.840.10008.1.2.4.106": "video/mp4",
}
VIDEO_MEDIA_TYPES = {ts: mt for ts, mt in FRAME_MEDIA_TYPES.items() if mt.startswith("video/")}
# image/jhc: what Cornerstone's DICOMweb client asks for HTJ2K frames.
ALIASES = {
    "image/x-jls": "image/jls",
    "image/x-dicom-rle": "image/dicom-rle",
    "image/jhc": "image/jphc",
}
# Native little-endian pixel bytes are the same in both VR encodings, so stored frames in
# either are sent as they lie in the file, labelled Explicit VR Little Endian.
NATIVE_AS_STORED = (IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN)


@dataclass(frozen=True)
class MediaRange:
    """One entry of an Accept header, with multipart's ``type=`` split out as ``part``."""

    media_type: str
    part: str | None = None
    transfer_syntax: str | None = None
    q: float = 1.0

    @property
    def multipart(self) -> bool | None:
        """True for multipart/related, False for a single-part type, None for a wildcard."""
        if self.media_type == MULTIPART:
            return True
        return None if self.media_type in ("*/*", "multipart/*") else False

    @property
    def wanted_part(self) -> str:
        if self.multipart is False:
            return self.media_type
        return self.part or "*/*"


@dataclass(frozen=True)
class Offer:
    """Something the server can send: a part media type in a transfer syntax.

    ``stored`` says the bytes are sent as they are in the file; otherwise they are decoded or
    transcoded first. ``untranscodable``: the server cannot decode this syntax (a video
    stream, a codec it has no decoder for), so a bare ``application/octet-stream`` (no
    ``transfer-syntax``) gets it as stored: PS3.18 §8.7.3.5.2 lets an origin server that cannot
    convert answer in the stored syntax, labelled, instead of refusing (Orthanc does the same).
    """

    media_type: str
    transfer_syntax: str | None  # None: not pixel data (a document, a waveform), no syntax
    stored: bool = True
    untranscodable: bool = False


@dataclass(frozen=True)
class Choice:
    offer: Offer
    multipart: bool


@functools.lru_cache(maxsize=256)
def parse(header: str | None) -> tuple[MediaRange, ...]:
    """Parse an Accept header; best q first, header order kept among equals. A viewer sends
    the same few headers thousands of times, so each distinct one is parsed once."""
    ranges = []
    for item in (header or "*/*").split(","):
        if not item.strip():
            continue
        try:
            media_type, params = parse_header_parameters(item.strip())
        except ValueError:
            continue
        params = {k.lower(): v.strip().strip('"').strip() for k, v in params.items()}
        try:
            q = float(params.get("q", 1))
        except ValueError:
            q = 1.0
        part = params.get("type")
        ranges.append(
            MediaRange(
                media_type=_normal(media_type.lower()),
                part=_normal(part.lower()) if part else None,
                transfer_syntax=params.get("transfer-syntax"),
                q=q,
            )
        )
    return tuple(sorted((r for r in ranges if r.q > 0), key=lambda r: -r.q))


def choose(
    ranges: Sequence[MediaRange], offers: list[Offer], *, single_part: bool = True
) -> Choice | None:
    """The first offer the best acceptable range allows; None means 406."""
    for media_range in ranges:
        multipart = media_range.multipart
        if multipart is False and not single_part:
            continue
        for offer in offers:
            if _allows(media_range, offer):
                return Choice(offer, multipart is not False)
    return None


def frame_offers(stored_ts: str, can_serve_stored: bool, decodable: bool = True) -> list[Offer]:
    """What a frame stored in ``stored_ts`` can be sent as, cheapest first; when it cannot be
    decoded here, only as stored (``untranscodable``)."""
    offers = []
    if can_serve_stored and stored_ts in NATIVE_AS_STORED:
        return [Offer(OCTET_STREAM, EXPLICIT_VR_LITTLE_ENDIAN)]
    if can_serve_stored and stored_ts in FRAME_MEDIA_TYPES:
        offers += [
            Offer(OCTET_STREAM, stored_ts, untranscodable=not decodable),
            Offer(FRAME_MEDIA_TYPES[stored_ts], stored_ts),
        ]
    if decodable or not offers:
        offers.append(Offer(OCTET_STREAM, EXPLICIT_VR_LITTLE_ENDIAN, stored=False))
    return offers


def video_offers(stored_ts: str) -> list[Offer]:
    """A video's stream, as stored: its own media type, or octet-stream (also when asked
    without a transfer syntax, as OHIF's DICOMweb video viewport does: it cannot be decoded)."""
    return [
        Offer(VIDEO_MEDIA_TYPES[stored_ts], stored_ts),
        Offer(OCTET_STREAM, stored_ts, untranscodable=True),
    ]


def instance_offers(stored_ts: str) -> list[Offer]:
    """A Part-10 file as stored, or transcoded to Explicit VR Little Endian."""
    offers = [Offer(DICOM, stored_ts)]
    if stored_ts != EXPLICIT_VR_LITTLE_ENDIAN:
        offers.append(Offer(DICOM, EXPLICIT_VR_LITTLE_ENDIAN, stored=False))
    return offers


def part_content_type(offer: Offer) -> str:
    if offer.transfer_syntax is None:
        return offer.media_type
    return f"{offer.media_type}; transfer-syntax={offer.transfer_syntax}"


def accepts_gzip(header: str | None) -> bool:
    """Whether Accept-Encoding allows gzip (``gzip`` or ``*`` with a non-zero q)."""
    for item in (header or "").split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() not in ("gzip", "*"):
            continue
        key, _, value = params.strip().partition("=")
        try:
            return key.strip().lower() != "q" or float(value) > 0
        except ValueError:
            return False
    return False


def _allows(media_range: MediaRange, offer: Offer) -> bool:
    wanted = media_range.wanted_part
    if not _type_matches(wanted, offer.media_type):
        return False
    ts = media_range.transfer_syntax
    if ts == "*" or offer.transfer_syntax is None:
        return True
    if ts is not None:
        return ts == offer.transfer_syntax
    # No transfer-syntax parameter: octet-stream means the standard's default (Explicit VR
    # Little Endian), or the stored syntax when the server cannot convert it; a Part-10 file,
    # a compressed type or a wildcard leaves the choice to us.
    if wanted == OCTET_STREAM:
        return offer.transfer_syntax == EXPLICIT_VR_LITTLE_ENDIAN or offer.untranscodable
    return True


def _type_matches(wanted: str, offered: str) -> bool:
    if wanted == "*/*":
        return True
    main, _, sub = wanted.partition("/")
    if sub == "*":
        return offered.startswith(main + "/")
    return wanted == offered


def _normal(media_type: str) -> str:
    return ALIASES.get(media_type, media_type)
