"""The index's attributes of a data set read by pydicom, taken from the elements' raw values.

The index keeps text: the common VRs of its attributes are decoded from the raw bytes
(``rawelements``), giving the text that ``str()`` of pydicom's value gives, rather than having
pydicom convert every element it looks up; any other element (another VR, a value left on
disk, one pydicom converted already) goes through pydicom as before. The test
``test_index_attributes`` compares both ways on every file bundled with pydicom.

Pure: a data set in, a dict of field values out. Knows nothing of files or the database.
"""

from collections.abc import Iterable

import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.multival import MultiValue
from pydicom.valuerep import CUSTOMIZABLE_CHARSET_VR, IS

from archive import rawelements

_DECODED = {"AS", "CS", "DA", "DT", "TM", "SH", "LO", "UC", "PN", "UI"}  # text VRs decoded here
_INTS = {"SeriesNumber", "InstanceNumber", "Rows", "Columns", "NumberOfFrames"}
_INTS |= {"BitsAllocated", "SamplesPerPixel"}


class Column:
    """One index attribute: where it is in a data set, and how long the field is."""

    __slots__ = ("tag", "keyword", "field", "number", "limit")

    def __init__(self, keyword: str, field: str, limit: int | None):
        self.tag = tag_for_keyword(keyword)
        self.keyword = keyword
        self.field = field
        self.number = keyword in _INTS
        self.limit = limit or 64


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
            # One value is an int; none or several are not (pydicom's int() of an empty or
            # multiple value fails the same way).
            found = rawelements.numbers(vr, data, elem.is_little_endian)
            values[column.field] = found[0] if found and len(found) == 1 else None
            continue
        if encodings is None and vr in CUSTOMIZABLE_CHARSET_VR:
            encodings = rawelements.encodings(dataset)
        found = rawelements.strings(vr, data, encodings)
        if found is None:  # dates pydicom is configured to convert
            values[column.field] = _converted(dataset, column)
            continue
        if vr == "PN":
            found = [name.rstrip("=") for name in found]  # str(PersonName): no empty groups
        text = "\\".join(found)
        values[column.field] = _number(text) if column.number else _cut(text, column)
    return values


def uid(dataset: pydicom.Dataset, keyword: str) -> str:
    """``str()`` of pydicom's value of a UID attribute, stripped; empty when absent. Anything
    but one raw UI value (several, another VR, converted already) goes through pydicom, which
    raises what it raises."""
    found = rawelements.held(dataset._dict.get(tag_for_keyword(keyword)))
    if found is not None and found[0] == "UI":
        values = rawelements.strings("UI", found[1], None)
        if len(values) == 1:
            return values[0]
    return str(dataset.get(keyword, "") or "").strip()


def number(dataset: pydicom.Dataset, keyword: str) -> int | None:
    """``int()`` of pydicom's value of a US or IS attribute (None when absent, empty or several
    values), raising what pydicom raises converting it: a raw US or plainly written IS value
    is decoded here, anything else goes through pydicom (``frames.locate`` reads the image's
    numbers with this)."""
    elem = dataset._dict.get(tag_for_keyword(keyword))
    if elem is None:
        return None
    found = rawelements.held(elem)
    if found is not None and found[0] in ("US", "IS"):
        vr, data = found
        if vr == "US":
            values = rawelements.numbers(vr, data, elem.is_little_endian)
        else:
            values = rawelements.text_numbers(vr, data)
        if values is not None:  # else pydicom's turn, to raise (an odd length) or convert
            return values[0] if len(values) == 1 else None
    value = dataset.get(keyword)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _raw(elem, column: Column) -> tuple[str, bytes] | None:
    """The VR and bytes of an element still in raw form whose VR is decoded here; None for
    any other (pydicom converts it)."""
    found = rawelements.held(elem)
    if found is None:
        return None
    vr = found[0]
    if vr in _DECODED or (column.number and vr in ("US", "IS")):
        return found
    return None


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
