"""The value of one bulk data element of a stored file, by the path its BulkDataURI names.

Paths are ``dicomjson``'s (``7FE00010``, ``00540016/0/00181072``); pixel data is served frame
by frame elsewhere, this reads the other binary elements (overlays, waveforms, ICC profiles,
encapsulated documents). Knows nothing of HTTP.
"""

from pathlib import Path

from . import dicomjson

PIXEL_DATA = (0x7FE00010,)


def read_value(file: Path, path: dicomjson.BulkPath) -> bytes | None:
    """The raw value of the element, or None when the file has no such element or it holds
    no binary value."""
    element = dicomjson.element_at(dicomjson.read(file), path)
    if element is None or element.VR == "SQ" or element.value is None:
        return None
    value = element.value
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return None
