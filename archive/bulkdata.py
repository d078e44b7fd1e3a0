"""The value of one bulk data element of a stored file, by the path its BulkDataURI names.

Paths are ``dicomjson``'s (``7FE00010``, ``00540016/0/00181072``). Image pixel data is
served frame by frame elsewhere; this reads the other binary elements (overlays, waveforms,
ICC profiles, encapsulated documents) and the stream of a video. Knows nothing of HTTP.
"""

import struct
from collections.abc import Iterator
from pathlib import Path

import pydicom

from . import dicomjson

PIXEL_DATA = (0x7FE00010,)
ENCAPSULATED_DOCUMENT = (0x00420011,)
ITEM = 0xFFFEE000
SEQUENCE_DELIMITER = 0xFFFEE0DD
CHUNK = 256 * 1024


def read_value(file: Path, path: dicomjson.BulkPath) -> tuple[bytes, str | None] | None:
    """The raw value of the element and, for an encapsulated document, its MIME type (from
    MIMETypeOfEncapsulatedDocument); None when the file has no such binary element."""
    dataset = dicomjson.read(file)
    element = dicomjson.element_at(dataset, path)
    if element is None or element.VR == "SQ" or element.value is None:
        return None
    value = element.value
    if isinstance(value, str):
        value = value.encode()
    if not isinstance(value, bytes):
        return None
    media_type = None
    if path == ENCAPSULATED_DOCUMENT:
        media_type = str(dataset.get("MIMETypeOfEncapsulatedDocument", "")).strip() or None
    return value, media_type


def encapsulated_stream(file: Path) -> Iterator[bytes]:
    """Every fragment of the encapsulated pixel data, in order, read in chunks: for a video
    instance (MPEG-2, MPEG-4, HEVC), the stream exactly as the file holds it."""
    element = pydicom.dcmread(file, defer_size=1024).get_item(PIXEL_DATA[0], keep_deferred=True)
    tell = getattr(element, "value_tell", None)
    if tell is None:
        raise ValueError(f"{file.name}: pixel data position unknown")
    with open(file, "rb") as f:
        f.seek(tell)
        offset_table = True
        while True:
            header = f.read(8)
            if len(header) < 8:
                raise ValueError(f"{file.name}: pixel data ends before its delimiter")
            group, number, length = struct.unpack("<HHL", header)
            tag = group << 16 | number
            if tag == SEQUENCE_DELIMITER:
                return
            if tag != ITEM:
                raise ValueError(f"{file.name}: unexpected tag {tag:08X} in pixel data")
            if offset_table:
                offset_table = False
                f.seek(length, 1)
                continue
            while length:
                chunk = f.read(min(CHUNK, length))
                if not chunk:
                    raise ValueError(f"{file.name}: a pixel data fragment is cut short")
                length -= len(chunk)
                yield chunk
