"""What kind of object an instance is, for the things that show it: images get rendered, the
rest (films, documents, reports, segmentations...) get an icon in lists and their own viewer in
OHIF. Decided from the SOP class and the stored transfer syntax; pure, no HTTP, no database.
"""

from enum import StrEnum

VIDEO_TRANSFER_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.100",  # MPEG2 Main Profile / Main Level
        "1.2.840.10008.1.2.4.101",  # MPEG2 Main Profile / High Level
        "1.2.840.10008.1.2.4.102",  # MPEG-4 AVC/H.264 High Profile / Level 4.1
        "1.2.840.10008.1.2.4.103",  # ... BD-compatible
        "1.2.840.10008.1.2.4.104",  # ... for 2D video
        "1.2.840.10008.1.2.4.105",  # ... for 3D video
        "1.2.840.10008.1.2.4.106",  # ... Stereo High Profile
        "1.2.840.10008.1.2.4.107",  # HEVC/H.265 Main Profile
        "1.2.840.10008.1.2.4.108",  # HEVC/H.265 Main 10 Profile
    }
)


class Kind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    DOCUMENT = "document"  # encapsulated PDF, CDA, STL...
    REPORT = "report"  # SR, key object selection
    SEGMENTATION = "segmentation"
    RT = "rt"  # RT structure sets, plans, doses...
    WAVEFORM = "waveform"  # ECG and other waveforms
    PRESENTATION = "presentation"  # presentation states
    OTHER = "other"


# SOP class families (PS3.4 Annex B), longest prefix first where they nest.
_FAMILIES = (
    ("1.2.840.10008.5.1.4.1.1.66.", Kind.SEGMENTATION),
    ("1.2.840.10008.5.1.4.1.1.481.", Kind.RT),
    ("1.2.840.10008.5.1.4.1.1.88.", Kind.REPORT),
    ("1.2.840.10008.5.1.4.1.1.104.", Kind.DOCUMENT),
    ("1.2.840.10008.5.1.4.1.1.9.", Kind.WAVEFORM),
    ("1.2.840.10008.5.1.4.1.1.11.", Kind.PRESENTATION),
)
NOT_IMAGE_CLASS_PREFIXES = tuple(prefix for prefix, _ in _FAMILIES)
# A short label for each kind that is not an image, for icons.
LABELS = {
    Kind.VIDEO: "VIDEO",
    Kind.DOCUMENT: "PDF",
    Kind.REPORT: "SR",
    Kind.SEGMENTATION: "SEG",
    Kind.RT: "RT",
    Kind.WAVEFORM: "ECG",
    Kind.PRESENTATION: "PR",
    Kind.OTHER: "DICOM",
}


def kind_of(sop_class_uid: str, transfer_syntax_uid: str, has_pixels: bool) -> Kind:
    if transfer_syntax_uid in VIDEO_TRANSFER_SYNTAXES:
        return Kind.VIDEO
    for prefix, kind in _FAMILIES:
        if sop_class_uid.startswith(prefix):
            return kind
    return Kind.IMAGE if has_pixels else Kind.OTHER


def label(kind: Kind, sop_class_uid: str = "") -> str:
    """The icon's word; a document that is not a PDF says DOC."""
    if kind == Kind.DOCUMENT and sop_class_uid != "1.2.840.10008.5.1.4.1.1.104.1":
        return "DOC"
    return LABELS.get(kind, "")
