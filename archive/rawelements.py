"""Values of the elements pydicom has read but not converted yet, decoded from their bytes the
way pydicom's converters (``pydicom.values``) decode them.

pydicom reads a file into raw elements (tag, VR, bytes) and converts one into a ``DataElement``
when it is looked up, which validates the value and builds its ``MultiValue``, ``PersonName``,
``UID``, ``IS`` or ``DSfloat``: most of what reading a small file costs the index
(``ingest.attributes``) and its DICOM JSON (``dicomjson``). Both only need text and numbers,
so the common VRs are decoded here, with pydicom's own decoder (``charset.decode_bytes``, the
data set's character sets) and padding rules. Every function answers None for what pydicom
would treat another way (a VR neither in the element nor the dictionary, ambiguous or UN, a
value left on disk, a value pydicom would fix or refuse, a configuration or hook that changes
conversion); its caller then asks pydicom. The tests ``test_index_attributes`` and
``test_dicomjson_raw`` compare both ways on every file bundled with pydicom.

Pure: elements and bytes in, values out. Knows nothing of files, JSON or the database.
"""

import re
import struct

import pydicom
from pydicom import config
from pydicom.charset import decode_bytes
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.hooks import hooks, raw_element_value, raw_element_vr
from pydicom.tag import _LUT_DESCRIPTOR_TAGS
from pydicom.valuerep import TEXT_VR_DELIMS

# pydicom's default_encoding ("iso8859"), for the VRs of the default repertoire: the same codec
# under the name CPython decodes without looking it up (five times faster on short values).
ASCII = "latin-1"
DATETIME = {"DA", "DT", "TM"}
PLAIN = {"AS", "CS"} | DATETIME  # pydicom's convert_string (DA DT TM when not converted)
TEXT = {"SH", "LO", "UC"}  # the data set's character sets, several values
SINGLE_TEXT = {"LT", "ST", "UT"}  # the data set's character sets, one value with any backslash
STRINGS = PLAIN | TEXT | SINGLE_TEXT | {"AE", "UI", "UR", "PN"}
TEXT_NUMBERS = {"IS", "DS"}  # their text from ``strings``, their numbers from ``text_numbers``
NUMBER_FORMATS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "UV": "Q", "SV": "q",
                  "FL": "f", "FD": "d"}  # fmt: skip
# An IS value is an int, a DS value a float, when each is written plainly (other spellings,
# such as "1.0" for an IS or "nan" for a DS, pydicom accepts, rejects or retries as another VR).
LUT_DESCRIPTORS = frozenset(_LUT_DESCRIPTOR_TAGS)
_IS = re.compile(r" *[+-]?[0-9]{1,15} *")  # 15 digits: exact as a float too (IS compares both)
_DS = re.compile(r" *[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)? *")


def held(elem) -> tuple[str, bytes] | None:
    """The VR and bytes of an element still raw with its value in memory, its VR given by the
    element or (implicit VR) the dictionary, as pydicom's ``raw_element_vr`` hook finds it;
    None for anything else: converted already, left on disk, private or unknown in an implicit
    VR file, UN (which pydicom may replace), ambiguous (which it resolves from other
    elements), a LUT descriptor (whose first value pydicom may fix)."""
    if not isinstance(elem, RawDataElement):
        return None
    value = elem.value
    if value is None and elem.length != 0:  # left on disk
        return None
    vr = elem.VR
    if vr is None:
        try:
            vr = dictionary_VR(elem.tag)
        except KeyError:
            return None
    if vr == "UN" or " or " in vr or elem.tag in LUT_DESCRIPTORS:
        return None
    return vr, value or b""  # pydicom reads some empty values as None


def converted_as_usual() -> bool:
    """Whether pydicom converts raw elements the default way, the one decoded here: no
    callback or hook of its own, validation that warns rather than raises, DS and IS values
    as Python numbers."""
    return (
        config.data_element_callback is None
        and hooks.raw_element_vr is raw_element_vr
        and hooks.raw_element_value is raw_element_value
        and not hooks.raw_element_kwargs
        and config.settings.reading_validation_mode != config.RAISE
        and not config.use_DS_numpy
        and not config.use_IS_numpy
        and pydicom.valuerep.DSclass is pydicom.valuerep.DSfloat
    )


def encodings(dataset: pydicom.Dataset) -> list[str]:
    """The character sets pydicom decodes the data set's text with (``Dataset.__getitem__``)."""
    found = dataset.original_character_set or dataset._character_set
    if not found:
        return [ASCII]  # as pydicom's convert_value
    return [found] if isinstance(found, str) else list(found)


def strings(vr: str, data: bytes, charsets: list[str] | None) -> list[str] | None:
    """The values of a text VR (``STRINGS``, ``TEXT_NUMBERS``) as ``str()`` of pydicom's
    values, padding stripped where pydicom strips it: one string a backslash-separated value
    (one for LT, ST, UT and UR, which keep their backslashes). A PN value is the whole name,
    its groups joined by "=" as decoded. ``charsets`` (``encodings``) only for the VRs of the
    data set's character sets; None for DA, DT and TM when pydicom is configured to convert
    them into dates."""
    if vr in PLAIN or vr == "IS":
        if vr in DATETIME and config.datetime_conversion:
            return None
        return data.decode(ASCII).rstrip(" \x00").split("\\")
    if vr == "DS":
        return data.decode(ASCII).strip().rstrip(" \x00").split("\\")
    if vr == "UI":
        return [one.strip() for one in data.decode(ASCII).rstrip("\x00 ").split("\\")]
    if vr in TEXT:
        text = decode_bytes(data, charsets, TEXT_VR_DELIMS)
        return [one.rstrip("\x00 ") for one in text.split("\\")]
    if vr == "PN":  # padding stripped before decoding (convert_PN)
        return decode_bytes(data.rstrip(b"\x00 "), charsets, TEXT_VR_DELIMS).split("\\")
    if vr in SINGLE_TEXT:
        return [decode_bytes(data, charsets, TEXT_VR_DELIMS).rstrip("\x00 ")]
    if vr == "AE":  # leading spaces are not significant either
        return [one.strip() for one in data.decode(ASCII).split("\\")]
    if vr == "UR":
        return [data.decode(ASCII).rstrip()]
    return None


def numbers(vr: str, data: bytes, little_endian: bool) -> list[int | float] | None:
    """The values of a binary number VR (``NUMBER_FORMATS``); None for a length that is not a
    multiple of the value's size (which pydicom refuses or makes UN)."""
    code = NUMBER_FORMATS[vr]
    size = struct.calcsize("<" + code)  # standard sizes, as pydicom unpacks
    if len(data) % size:
        return None
    return list(struct.unpack(f"{'<' if little_endian else '>'}{len(data) // size}{code}", data))


def text_numbers(vr: str, data: bytes) -> list[int | float] | None:
    """The values of an IS (ints) or DS (floats) as ``int()``/``float()`` of pydicom's values,
    none for an empty one; None when any value is not written plainly, or is empty among
    several."""
    values = strings(vr, data, None)
    if values == [""]:
        return []
    pattern, kind = (_IS, int) if vr == "IS" else (_DS, float)
    if not all(pattern.fullmatch(one) for one in values):
        return None
    return [kind(one) for one in values]


def tags(data: bytes, little_endian: bool) -> list[str] | None:
    """The values of an AT as DICOM JSON writes them (``GGGGEEEE``); None for a length that is
    not a multiple of four."""
    if len(data) % 4:
        return None
    words = struct.unpack(f"{'<' if little_endian else '>'}{len(data) // 2}H", data)
    return [f"{words[i]:04X}{words[i + 1]:04X}" for i in range(0, len(words), 2)]
