"""DICOM JSON (PS3.18 Annex F) for one stored instance, with BulkDataURIs for large binaries.

pydicom's ``DataElement.to_json_dict`` encodes every element; this module only adds our policy:
pixel data and binary values over ``BULK_THRESHOLD`` become BulkDataURIs (never read into
memory when pydicom deferred them), elements pydicom cannot encode are left out rather than
failing the instance, and values PostgreSQL's jsonb refuses (NaN, NUL characters) are cleaned.
Text and number elements pydicom still holds raw are written from their bytes (``rawelements``)
as ``to_json_dict`` would write them, without pydicom converting each into a ``DataElement``:
most of the cost of a small instance's JSON.
Sequences nested deeper than INGEST_MAX_SEQUENCE_DEPTH are left out the same way: the document
is walked recursively, here and by every reader after (json, PostgreSQL, OHIF). Ingest refuses
such files; this guards the ones stored before it did. Knows nothing of HTTP, Celery or the
database.

A BulkDataURI names the element by its path in the dataset: ``7FE00010`` at top level,
``00540016/0/00181072`` for an element inside item 0 (items count from 0, as in Orthanc's
content paths) of a sequence. ``bulk_path`` writes that path, ``parse_bulk_path`` reads it back
for the bulkdata endpoint, and ``element_at`` finds the element it names.
"""

import logging
import math
import re
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag
from pydicom.valuerep import CUSTOMIZABLE_CHARSET_VR

from . import elements, rawelements

log = logging.getLogger(__name__)

# Binary values longer than this are given as BulkDataURIs (about Orthanc's ~1 KB).
BULK_THRESHOLD = 1024
BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
PIXEL_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009}
AVAILABLE_TRANSFER_SYNTAX = "00083002"
PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")

BulkPath = tuple[int, ...]  # tag, item index, tag, item index, ..., tag
UriFor = Callable[[BulkPath], str]


def read(path: Path | str) -> Dataset:
    """Parse a stored file once, leaving large values on disk (or, for a small file read
    whole, in memory) until something asks for them (``elements.dcmread``)."""
    return elements.dcmread(path, BULK_THRESHOLD)


def to_json(dataset: Dataset, uri_for: UriFor, *, decode_raw: bool = True) -> dict:
    """The DICOM JSON object of a dataset; ``uri_for(path)`` gives the BulkDataURI of an
    element. File meta information (group 0002) is not part of the dataset and not included;
    the stored transfer syntax is, as Available Transfer Syntax UID (0008,3002), which PS3.18
    metadata may carry and OHIF's video handler reads to recognise a film.

    Text and number elements pydicom holds raw are decoded from their bytes (``rawelements``),
    the rest converted by pydicom; ``decode_raw=False`` converts every element with pydicom,
    which the tests compare against."""
    out = _dataset(dataset, uri_for, (), decode_raw and rawelements.converted_as_usual())
    stored = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
    if stored and AVAILABLE_TRANSFER_SYNTAX not in out:
        out[AVAILABLE_TRANSFER_SYNTAX] = {"vr": "UI", "Value": [str(stored)]}
        out = dict(sorted(out.items()))
    return out


class TooDeep(ValueError):
    pass


def bulk_path(path: BulkPath) -> str:
    return "/".join(f"{part:08X}" if i % 2 == 0 else str(part) for i, part in enumerate(path))


def parse_bulk_path(text: str) -> BulkPath | None:
    """``"00540016/0/00181072"`` -> ``(0x00540016, 0, 0x00181072)``; None if malformed."""
    parts = text.strip("/").split("/")
    if len(parts) % 2 == 0:
        return None
    path = []
    for i, part in enumerate(parts):
        pattern = _TAG if i % 2 == 0 else _ITEM
        if not pattern.fullmatch(part):
            return None
        path.append(int(part, 16) if i % 2 == 0 else int(part))
    return tuple(path)


_TAG = re.compile(r"[0-9A-Fa-f]{8}")
_ITEM = re.compile(r"[0-9]{1,6}")


def element_at(dataset: Dataset, path: BulkPath) -> DataElement | None:
    """The element a BulkDataURI path names, or None when the dataset has no such element."""
    for depth in range(0, len(path) - 1, 2):
        tag, index = path[depth], path[depth + 1]
        if tag not in dataset:
            return None
        items = dataset[tag].value
        if dataset[tag].VR != "SQ" or index >= len(items):
            return None
        dataset = items[index]
    return dataset.get(path[-1])


def _dataset(dataset: Dataset, uri_for: UriFor, parent: BulkPath, decode_raw: bool) -> dict:
    out = {}
    charsets = []  # the data set's character sets, found when a text value needs them
    for tag in sorted(dataset.keys(), key=int):  # BaseTag compares in Python, int in C
        if tag.group == 0x0002:
            continue
        path = (*parent, int(tag))
        try:
            value = _from_raw(dataset, tag, charsets) if decode_raw else None
            if value is None:
                value = _element(dataset, tag, uri_for, path, decode_raw)
        except Exception as exc:  # one bad element must not lose the whole instance
            log.warning("DICOM JSON: element %08X left out: %s", tag, exc)
            continue
        out[f"{tag:08X}"] = value
    return out


def _from_raw(dataset: Dataset, tag: BaseTag, charsets: list[str]) -> dict | None:
    """The DICOM JSON of an element pydicom holds raw, decoded from its bytes as pydicom's
    ``to_json_dict`` would write it after converting it (``_element``); None when pydicom is to
    convert it (another VR, a value left on disk or one decoded differently)."""
    raw = dataset._dict[tag]
    found = rawelements.held(raw)
    if found is None:
        return None
    vr, data = found
    if vr in rawelements.TEXT_NUMBERS:
        values = rawelements.text_numbers(vr, data)
    elif vr in rawelements.STRINGS:
        if not charsets and vr in CUSTOMIZABLE_CHARSET_VR:
            charsets += rawelements.encodings(dataset)
        values = rawelements.strings(vr, data, charsets)
        if vr == "PN" and values is not None:
            values = _names(values)
        elif values == [""]:
            values = []  # one empty value is none (pydicom's VM 0)
    elif vr in rawelements.NUMBER_FORMATS:
        values = rawelements.numbers(vr, data, raw.is_little_endian)
    elif vr == "AT":
        values = rawelements.tags(data, raw.is_little_endian)
    else:
        return None
    if values is None:
        return None
    return {"vr": vr, "Value": [_clean(v) for v in values]} if values else {"vr": vr}


def _names(names: list[str]) -> list[dict] | None:
    """PN values as pydicom's ``to_json_dict`` writes them: a name's first three groups, its
    empty trailing groups dropped (``PersonName``); no value for one empty name, and None
    (pydicom's turn) for an empty one among several, which pydicom fails to write."""
    out = []
    for name in names:
        groups = name.split("=")
        while groups and not groups[-1]:
            groups.pop()
        if not groups:
            return [] if len(names) == 1 else None
        out.append(dict(zip(PN_GROUPS, groups, strict=False)))
    return out


def _element(
    dataset: Dataset, tag: BaseTag, uri_for: UriFor, path: BulkPath, decode_raw: bool
) -> dict:
    raw = dataset.get_item(tag, keep_deferred=True)
    if _is_deferred_binary(raw):
        return {"vr": _deferred_vr(raw), "BulkDataURI": uri_for(path)}
    elem = dataset[tag]
    if elem.VR == "SQ":
        if len(path) // 2 >= (limit := settings.INGEST_MAX_SEQUENCE_DEPTH):
            raise TooDeep(f"sequences nested more than {limit} deep")
        items = [
            _dataset(item, uri_for, (*path, i), decode_raw) for i, item in enumerate(elem.value)
        ]
        return {"vr": "SQ", "Value": items} if items else {"vr": "SQ"}
    if int(tag) in PIXEL_TAGS and not elem.is_empty:
        return {"vr": elem.VR, "BulkDataURI": uri_for(path)}
    encoded = elem.to_json_dict(lambda _elem: uri_for(path), BULK_THRESHOLD)
    if "Value" in encoded:
        encoded["Value"] = [_clean(v) for v in encoded["Value"]]
    return encoded


def _is_deferred_binary(raw) -> bool:
    """A value pydicom left on disk (longer than BULK_THRESHOLD) that JSON carries by URI."""
    if not isinstance(raw, RawDataElement) or raw.value is not None or raw.length == 0:
        return False
    return int(raw.tag) in PIXEL_TAGS or _deferred_vr(raw) in BINARY_VRS


def _deferred_vr(raw: RawDataElement) -> str:
    vr = raw.VR
    if not vr:
        try:
            vr = dictionary_VR(raw.tag)
        except KeyError:
            return "UN"  # private or unknown element in an implicit VR file
    if " or " in vr:  # ambiguous ("OB or OW", "US or SS or OW"): large values are words
        return "OW" if "OW" in vr else vr.split(" or ")[0]
    return vr


def _clean(value):
    """jsonb accepts neither NaN/Infinity nor NUL characters; DICOM JSON allows null values."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value
