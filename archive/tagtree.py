"""An instance's DICOM JSON (PS3.18 Annex F) as rows a person reads: tag, keyword, VR and the
value in words, sequences as lists of items of rows (for the read-only tag browser, which folds
them). Knows nothing of HTTP or of where the JSON came from."""

from dataclasses import dataclass, field

from pydicom.datadict import dictionary_description, dictionary_keyword
from pydicom.tag import Tag

# Longer values are cut: the browser is for reading, WADO-RS serves the whole value.
MAX_TEXT = 2000
MAX_VALUES = 64


@dataclass
class Element:
    tag: str  # "(0010,0010)"
    keyword: str  # "PatientName", or "" for a private or unknown tag
    name: str  # "Patient's Name", or "Private tag" / "Unknown tag"
    vr: str
    value: str = ""
    items: list[list["Element"]] = field(default_factory=list)  # SQ only

    @property
    def is_sequence(self) -> bool:
        return self.vr == "SQ"


def elements(dicom_json: dict) -> list[Element]:
    """The attributes of one dataset (or sequence item), in tag order."""
    return [_element(key, attribute) for key, attribute in sorted(dicom_json.items())]


def _element(key: str, attribute: dict) -> Element:
    tag = Tag(int(key, 16))
    vr = attribute.get("vr", "UN")
    keyword, name = _names(tag)
    element = Element(f"({tag.group:04X},{tag.element:04X})", keyword, name, vr)
    if vr == "SQ":
        element.items = [elements(item or {}) for item in attribute.get("Value", [])]
        element.value = f"{len(element.items)} item{'' if len(element.items) == 1 else 's'}"
    else:
        element.value = _value(vr, attribute)
    return element


def _names(tag: Tag) -> tuple[str, str]:
    if tag.is_private:
        return "", "Private tag"
    try:
        return dictionary_keyword(tag), dictionary_description(tag)
    except KeyError:
        return "", "Unknown tag"


def _value(vr: str, attribute: dict) -> str:
    if "BulkDataURI" in attribute:
        return "(binary: retrieved through its BulkDataURI)"
    if "InlineBinary" in attribute:
        size = len(attribute["InlineBinary"]) * 3 // 4
        return f"(binary, about {size} bytes)"
    values = attribute.get("Value", [])
    if vr == "PN":
        values = ["=".join(v for v in person.values() if v) for person in values]
    shown = "\\".join("" if v is None else str(v) for v in values[:MAX_VALUES])
    if len(values) > MAX_VALUES:
        shown += f"\\… ({len(values)} values)"
    return shown if len(shown) <= MAX_TEXT else shown[:MAX_TEXT] + "…"
