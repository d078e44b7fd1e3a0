"""A DICOM JSON object (PS3.18 F.2) as the bytes of a data set, little endian, implicit or
explicit VR (PS3.5 7.1): how C-FIND's answers go on the wire. Knows nothing of associations.

C-FIND answers are the index's DICOM JSON, a few short strings and numbers each; building a
pydicom ``Dataset`` of every answer and having pydicom write it took two thirds of an answer's
time in the listener. Text and binary numbers are written here, element by element, the way
pydicom writes them (the tests compare the bytes); anything else (sequences, binary values, AT,
an element too long for its VR) is pydicom's to write.
"""

import functools
import struct

from pydicom import Dataset
from pydicom.charset import convert_encodings
from pydicom.dataelem import DataElement
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

from archive.dicomweb import qidojson

# Written here: text, several values joined by a backslash, padded to an even length (UIDs
# with a NUL, the rest with a space); and binary numbers, little endian.
TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM",
            "UC", "UI", "UR", "UT"}  # fmt: skip
NUMBER_FORMATS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "UV": "Q", "SV": "q",
                  "FL": "f", "FD": "d"}  # fmt: skip
# The text's character set: answers say ISO_IR 192 (find.py), UTF-8.
ENCODINGS = convert_encodings(["ISO_IR 192"])


def encode(found: dict, *, implicit_vr: bool) -> bytes:
    """The elements of ``found`` (DICOM JSON, keys ``GGGGEEEE``) in tag order."""
    parts = []
    for key, entry in sorted(found.items()):
        vr = entry["vr"]
        value = _value(vr, entry)
        tag, length_format = _header(key, vr, implicit_vr)
        if value is None or (length_format == "<H" and len(value) > 0xFFFE):
            parts.append(_with_pydicom(key, entry, implicit_vr))
        else:
            parts += (tag, struct.pack(length_format, len(value)), value)
    return b"".join(parts)


@functools.lru_cache(maxsize=4096)  # bounded: peers choose the keys
def _header(key: str, vr: str, implicit_vr: bool) -> tuple[bytes, str]:
    """An element's header but its value's length, and that length's format (worked out
    once for each key a search asks for, not once an answer)."""
    group, element = divmod(int(key, 16), 0x10000)
    if implicit_vr:
        return struct.pack("<HH", group, element), "<I"
    if vr in EXPLICIT_VR_LENGTH_32:  # two reserved bytes and a 4-byte length (PS3.5 7.1.2)
        return struct.pack("<HH2s2x", group, element, vr.encode()), "<I"
    return struct.pack("<HH2s", group, element, vr.encode()), "<H"


def _value(vr: str, entry: dict) -> bytes | None:
    """The element's value field, or None when pydicom is to write the element."""
    values = entry.get("Value")
    if vr == "SQ" or (values is None and len(entry) > 1):  # InlineBinary, BulkDataURI
        return None
    if not values:
        return b""
    if vr in TEXT_VRS:
        if vr == "PN":
            values = [qidojson.person_name_text(value) for value in values]
        elif None in values:
            values = ["" if value is None else value for value in values]
        text = "\\".join(map(str, values)).encode("utf-8")
        if len(text) % 2:
            text += b"\0" if vr == "UI" else b" "
        return text
    if vr in NUMBER_FORMATS and None not in values:
        return struct.pack(f"<{len(values)}{NUMBER_FORMATS[vr]}", *values)
    return None


def _with_pydicom(tag: str, entry: dict, implicit_vr: bool) -> bytes:
    vr = entry["vr"]
    key = next((k for k in ("Value", "InlineBinary", "BulkDataURI") if k in entry), None)
    value = entry[key] if key else None
    element = DataElement.from_json(Dataset, tag, vr, value, key)
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = implicit_vr
    write_data_element(fp, element, ENCODINGS)
    return fp.getvalue()
