"""A DICOM JSON object (PS3.18 F.2) as the bytes of a data set, little endian, implicit or
explicit VR (PS3.5 7.1): how C-FIND's answers go on the wire. Knows nothing of associations.

C-FIND answers are the index's DICOM JSON, a few short strings and numbers each; building a
pydicom ``Dataset`` of every answer and having pydicom write it took two thirds of an answer's
time in the listener. Text and binary numbers are written here, element by element, the way
pydicom writes them (the tests compare the bytes); anything else (sequences, binary values, AT,
an element too long for its VR) is pydicom's to write.
"""

import struct

from pydicom import Dataset
from pydicom.charset import convert_encodings
from pydicom.dataelem import DataElement
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element

from archive.dicomweb import qidojson

# Written here: text, several values joined by a backslash, padded to an even length (UIDs
# with a NUL, the rest with a space); and binary numbers, little endian.
TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM",
            "UC", "UI", "UR", "UT"}  # fmt: skip
NUMBER_FORMATS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "UV": "Q", "SV": "q",
                  "FL": "f", "FD": "d"}  # fmt: skip
# Explicit VR: these have two reserved bytes and a 4-byte length, the others a 2-byte length.
LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
# The text's character set: answers say ISO_IR 192 (find.py), UTF-8.
ENCODINGS = convert_encodings(["ISO_IR 192"])


def encode(found: dict, *, implicit_vr: bool) -> bytes:
    """The elements of ``found`` (DICOM JSON, keys ``GGGGEEEE``) in tag order."""
    parts = []
    for key, entry in sorted(found.items()):
        tag = int(key, 16)
        vr = entry["vr"]
        value = _value(vr, entry)
        if value is None or (len(value) > 0xFFFE and vr not in LONG_VRS and not implicit_vr):
            parts.append(_with_pydicom(tag, entry, implicit_vr))
        elif implicit_vr:
            parts.append(struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value)
        elif vr in LONG_VRS:
            parts.append(struct.pack("<HH2s2xI", tag >> 16, tag & 0xFFFF, vr.encode(), len(value))
                         + value)  # fmt: skip
        else:
            parts.append(struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), len(value))
                         + value)  # fmt: skip
    return b"".join(parts)


def _value(vr: str, entry: dict) -> bytes | None:
    """The element's value field, or None when pydicom is to write the element."""
    if vr == "SQ" or "InlineBinary" in entry or "BulkDataURI" in entry:
        return None
    values = entry.get("Value")
    if not values:
        return b""
    if vr in TEXT_VRS:
        if vr == "PN":
            values = [qidojson.person_name_text(value) for value in values]
        text = "\\".join("" if value is None else str(value) for value in values).encode("utf-8")
        if len(text) % 2:
            text += b"\0" if vr == "UI" else b" "
        return text
    if vr in NUMBER_FORMATS and None not in values:
        return struct.pack(f"<{len(values)}{NUMBER_FORMATS[vr]}", *values)
    return None


def _with_pydicom(tag: int, entry: dict, implicit_vr: bool) -> bytes:
    vr = entry["vr"]
    key = next((k for k in ("Value", "InlineBinary", "BulkDataURI") if k in entry), None)
    value = entry[key] if key else None
    element = DataElement.from_json(Dataset, f"{tag:08X}", vr, value, key)
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = implicit_vr
    write_data_element(fp, element, ENCODINGS)
    return fp.getvalue()
