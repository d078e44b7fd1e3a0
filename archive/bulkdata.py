"""The value of one bulk data element of a stored file, by the path its BulkDataURI names.

Paths are ``dicomjson``'s (``7FE00010``, ``00540016/0/00181072``); pixel data is served frame
by frame elsewhere, this reads the other binary elements (overlays, waveforms, ICC profiles,
encapsulated documents). Knows nothing of HTTP.
"""

from pathlib import Path

from . import dicomjson

PIXEL_DATA = (0x7FE00010,)
ENCAPSULATED_DOCUMENT = (0x00420011,)


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
