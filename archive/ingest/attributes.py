"""The index's attributes of a data set read by pydicom, taken from the elements' raw values.

pydicom reads a file into raw elements (tag, VR, bytes) and converts one into a ``DataElement``
when it is looked up, which validates the value and builds its ``MultiValue``, ``PersonName``
or ``UID``: most of what reading a small file for the index cost. The index keeps text, so
the common VRs of its attributes are decoded here from the raw bytes with pydicom's own
decoder (``charset.decode_bytes``, the data set's character sets) and padding rules, giving
the text that ``str()`` of pydicom's value gives; any other element (another VR, a value
left on disk, one pydicom converted already) goes through pydicom as before. The test
``test_index_attributes`` compares both ways on every file bundled with pydicom.

Pure: a data set in, a dict of field values out. Knows nothing of files or the database.
"""

from collections.abc import Iterable

import pydicom
from pydicom import config
from pydicom.charset import decode_bytes
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.multival import MultiValue
from pydicom.valuerep import IS, TEXT_VR_DELIMS

_ASCII = "iso8859"  # pydicom's default_encoding, for the VRs of the default repertoire
_PLAIN = {"AS", "CS", "DA", "DT", "TM"}  # text as pydicom's convert_string gives it
_TEXT = {"SH", "LO", "UC"}  # text in the data set's character sets, several values
_INTS = {"SeriesNumber", "InstanceNumber", "Rows", "Columns", "NumberOfFrames"}
_INTS |= {"BitsAllocated", "SamplesPerPixel"}


class Column:
    """One index attribute: where it is in a data set, and how long the field is."""

    __slots__ = ("tag", "keyword", "field", "number", "limit", "vr")

    def __init__(self, keyword: str, field: str, limit: int | None):
        self.tag = tag_for_keyword(keyword)
        self.keyword = keyword
        self.field = field
        self.number = keyword in _INTS
        self.limit = limit or 64
        self.vr = dictionary_VR(self.tag)  # what pydicom assumes in an implicit VR file


def columns(fields: Iterable[tuple[str, str, int | None]]) -> list[Column]:
    """(keyword, field, max length) triples as ``Column``s, resolved once."""
    return [Column(*one) for one in fields]


def read(dataset: pydicom.Dataset, table: list[Column]) -> dict:
    """Every column's value: text (several values joined by a backslash, cut to the field's
    length, stripped) or int for the integer fields; empty (None for an int) when absent or
    unreadable, which never rejects a file."""
    elements = dataset._dict
    encodings = None
    values = {}
    for column in table:
        elem = elements.get(column.tag)
        if elem is None:
            values[column.field] = None if column.number else ""
            continue
        raw = _raw(elem, column)
        if raw is None:
            values[column.field] = _converted(dataset, column)
            continue
        vr, data = raw
        if vr == "US":
            # One value (two bytes) is an int; none or several are not (pydicom's int()
            # of an empty or multiple value fails the same way).
            order = "little" if elem.is_little_endian else "big"
            values[column.field] = int.from_bytes(data, order) if len(data) == 2 else None
            continue
        if vr in _TEXT or vr == "PN":
            if encodings is None:
                encodings = _encodings(dataset)
            text = _decoded(vr, data, encodings)
        else:
            text = data.decode(_ASCII).rstrip(" \x00")
            if vr == "UI" and "\\" in text:
                text = "\\".join(one.strip() for one in text.split("\\"))  # UID() strips
            elif vr == "UI":
                text = text.strip()
        values[column.field] = _number(text) if column.number else _cut(text, column)
    return values


def uid(dataset: pydicom.Dataset, keyword: str) -> str:
    """``str()`` of pydicom's value of a UID attribute, stripped; empty when absent. Anything
    but one raw UI value (several, another VR, converted already) goes through pydicom, which
    raises what it raises."""
    tag = tag_for_keyword(keyword)
    elem = dataset._dict.get(tag)
    raw = isinstance(elem, RawDataElement) and elem.value is not None
    if raw and (elem.VR or dictionary_VR(tag)) == "UI":
        text = elem.value.decode(_ASCII).rstrip("\x00 ")
        if "\\" not in text:
            return text.strip()
    return str(dataset.get(keyword, "") or "").strip()


def number(dataset: pydicom.Dataset, keyword: str) -> int | None:
    """``int()`` of pydicom's value of a US or IS attribute (None when absent, empty or several
    values), raising what pydicom raises converting it: one raw US or plain-digits IS value
    is decoded here, anything else goes through pydicom (``frames.locate`` reads the image's
    numbers with this)."""
    tag = tag_for_keyword(keyword)
    elem = dataset._dict.get(tag)
    if elem is None:
        return None
    if isinstance(elem, RawDataElement) and elem.value is not None:
        vr, data = elem.VR or dictionary_VR(tag), elem.value
        if vr == "US" and len(data) % 2 == 0:  # an odd length makes pydicom raise
            order = "little" if elem.is_little_endian else "big"
            return int.from_bytes(data, order) if len(data) == 2 else None
        if vr == "IS":
            text = data.decode(_ASCII).strip(" \x00")
            if text.isascii() and text.isdigit():
                return int(text)
    value = dataset.get(keyword)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _raw(elem, column: Column) -> tuple[str, bytes] | None:
    """The VR and bytes of an element still in raw form whose VR is decoded here; None for
    any other (pydicom converts it)."""
    if not isinstance(elem, RawDataElement) or elem.value is None:
        return None  # converted already, or its value left on disk (deferred)
    vr = elem.VR or column.vr  # implicit VR: the dictionary's, as pydicom's hook does
    if vr in _PLAIN or vr in _TEXT or vr in ("PN", "UI", "US"):
        if vr in ("DA", "DT", "TM") and config.datetime_conversion:
            return None
        if vr == "US" and not column.number:
            return None
        return vr, elem.value
    if vr == "IS" and column.number:
        return vr, elem.value
    return None


def _decoded(vr: str, data: bytes, encodings: list[str]) -> str:
    """``str()`` of pydicom's value of a text VR: PN's padding is stripped before decoding,
    and each name loses its empty trailing groups (``PersonName``); each of several values of
    the others loses its padding after decoding (``convert_PN``, ``convert_text``)."""
    if vr == "PN":
        text = decode_bytes(data.rstrip(b"\x00 "), encodings, TEXT_VR_DELIMS)
        return "\\".join(one.rstrip("=") for one in text.split("\\"))
    text = decode_bytes(data, encodings, TEXT_VR_DELIMS)
    if "\\" in text:
        return "\\".join(one.rstrip("\x00 ") for one in text.split("\\"))
    return text.rstrip("\x00 ")


def _encodings(dataset: pydicom.Dataset) -> list[str]:
    """The character sets pydicom decodes the data set's text with (``Dataset.__getitem__``)."""
    found = dataset.original_character_set or dataset._character_set
    return [found] if isinstance(found, str) else list(found)


def _number(text: str) -> int | None:
    """An IS value as an int, as ``int()`` of pydicom's ``IS`` (None for none or several)."""
    if not text or "\\" in text:
        return None
    if text.isascii() and text.isdigit():
        return int(text)
    try:
        value = IS(text)
        return int(value) if value != "" else None
    except (TypeError, ValueError, OverflowError):
        return None


def _cut(text: str, column: Column) -> str:
    return text[: column.limit].strip()


def _converted(dataset: pydicom.Dataset, column: Column):
    """Through pydicom's ``DataElement`` value, for what ``read`` does not decode itself."""
    try:
        value = dataset.get(column.keyword)
    except Exception:
        value = None
    if column.number:
        try:
            return int(value) if value not in (None, "") else None
        except (TypeError, ValueError):
            return None
    if value is None:
        return ""
    text = "\\".join(str(v) for v in value) if isinstance(value, MultiValue) else str(value)
    return _cut(text, column)
