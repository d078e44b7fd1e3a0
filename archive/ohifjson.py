"""OHIF's DICOM JSON document (``{"studies": [...]}``, read by OHIF's DicomJSONDataSource).

Built from the index (study and series rows) and each instance's DICOM JSON; pure, no HTTP,
no database. Instance ``metadata`` holds the attributes OHIF reads to display CT, MR, PET with
SUV, CR/DX, US, RGB and multi-frame images (the list Orthanc's OHIF plugin emits, plus OHIF's
own generator's sequences), typed as OHIF expects: numbers as numbers, multi-valued attributes
as lists, person names as strings. Series and instances are ordered by their numbers.

A multi-frame instance becomes one entry per frame, in frame order, whose url ends in
``&frame=N`` (N from 1, as Cornerstone's WADO-URI loader counts), each with the instance's
``NumberOfFrames``: OHIF 3.13 (the pinned viewer) keeps one instance per SOP Instance UID and
takes the url of frame i from the i-th entry of that instance. Enhanced multi-frame objects
get each frame's position, orientation, spacing, rescale and window from their functional
groups.

Objects that are not shown as stacks of images (SEG, RTSTRUCT, SR and KO, presentation states,
documents, video, waveforms such as ECG, slide microscopy) go to OHIF SOP class handlers that
read attributes of their own (a SEG's ``SegmentSequence`` and functional groups, an RTSTRUCT's
ROI sequences, an SR's content tree, a PDF's ``EncapsulatedDocument``, a video's transfer
syntax). OHIF's DICOMweb data source hands those handlers the whole naturalized dataset, so their
first entry carries the whole dataset here too (no hand-kept list of what each reads). Bulk
data cannot be fetched through this data source: a document's becomes a ``DirectRetrieveURL``
(its BulkDataURI with ``accept=`` its MIME type, which a browser can load by URL) or stays
``InlineBinary``; a video's entry url is its rendered resource, which OHIF's video viewport
plays as the <video> source.
"""

import functools
from urllib.parse import urlencode

from pydicom.datadict import keyword_for_tag

from . import kinds

_INT = {
    "Columns", "Rows", "InstanceNumber", "AcquisitionNumber", "BitsAllocated", "BitsStored",
    "HighBit", "PixelRepresentation", "SamplesPerPixel", "PlanarConfiguration",
    "NumberOfFrames", "ActualFrameDuration",
}  # fmt: skip
_FLOAT = {
    "RescaleIntercept", "RescaleSlope", "SliceThickness", "SpacingBetweenSlices",
    "PatientSize", "PatientWeight", "FrameReferenceTime", "FrameTime",
    "RecommendedDisplayFrameRate",
}  # fmt: skip
_FLOAT_LIST = {
    "PixelSpacing",
    "ImagerPixelSpacing",
    "ImageOrientationPatient",
    "ImagePositionPatient",
}
_STR_LIST = {"ImageType", "CorrectedImage"}
_STR = {
    "SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "Modality",
    "PhotometricInterpretation", "FrameOfReferenceUID", "SeriesDate", "SeriesTime",
    "AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime", "ContentDate", "ContentTime",
    "Units", "DecayCorrection", "PresentationLUTShape", "VOILUTFunction", "ViewPosition",
    "ImageLaterality", "Laterality", "PatientPosition", "LossyImageCompression",
}  # fmt: skip
# PALETTE COLOR: the lookup tables' descriptors, and their data as OHIF's metadata provider
# takes it (``InlineBinary``, which DICOM JSON uses for tables up to 1 KB: 8-bit palettes).
_INT_LIST = {
    "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor",
}
_INLINE = {
    "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData",
}
# Window values stay as written: a number, or a list when there are several.
_NATURAL = {"WindowCenter", "WindowWidth"}
# Sequences OHIF reads: PET dose (SUV), US regions (calibration), SR/KO/SEG references.
_SEQUENCES = {
    "RadiopharmaceuticalInformationSequence", "SequenceOfUltrasoundRegions",
    "ConceptNameCodeSequence", "ContentSequence", "ContentTemplateSequence",
    "CurrentRequestedProcedureEvidenceSequence", "CodingSchemeIdentificationSequence",
    "ReferencedSeriesSequence", "ReferencedImageSequence",
}  # fmt: skip
# Functional groups (enhanced multi-frame) go whole into a multi-frame instance's first entry
# only; the attributes they set are also taken out of them per frame (``_FUNCTIONAL_GROUPS``).

# Vendor SUV factors, keyed by tag as Orthanc's plugin does (Philips x2, GE).
_PRIVATE = {"70531000": float, "70531009": float, "0009100D": str}

INSTANCE_KEYWORDS = (
    _INT | _FLOAT | _FLOAT_LIST | _STR_LIST | _STR | _NATURAL | _SEQUENCES | _INT_LIST | _INLINE
)
# Stored in a syntax Cornerstone's WADO-URI loader cannot parse: asked for decoded instead.
_DECODED_FOR_THE_VIEWER = {"1.2.840.10008.1.2.1.99"}  # Deflated Explicit VR Little Endian

# Visible light (video, slide microscopy): image SOP classes whose OHIF handlers (dicom-video,
# dicom-microscopy) read more than the image attributes above, like every kind that is not an
# image (``kinds``: SEG, RT, SR and KO, presentation states, documents, waveforms).
_VISIBLE_LIGHT = "1.2.840.10008.5.1.4.1.1.77.1."
_AVAILABLE_TRANSFER_SYNTAX = "00083002"
_ENCAPSULATED_DOCUMENT = "00420011"
_PIXEL_DATA = "7FE00010"

STUDY_KEYWORDS = (
    "StudyInstanceUID", "StudyDate", "StudyTime", "StudyDescription", "PatientName",
    "PatientID", "AccessionNumber", "PatientAge", "PatientSex",
)  # fmt: skip


def document(study: dict, series_docs: list[dict]) -> dict:
    """The whole document: ``study`` holds study attributes by keyword (from the index),
    ``series_docs`` what ``series`` built for each series of the study."""
    series_docs = sorted(series_docs, key=lambda s: _number_key(s.get("SeriesNumber")))
    modalities = []
    for s in series_docs:
        if s.get("Modality") and s["Modality"] not in modalities:
            modalities.append(s["Modality"])
    study_doc = {keyword: str(study.get(keyword) or "") for keyword in STUDY_KEYWORDS}
    study_doc["NumInstances"] = sum(s["NumInstances"] for s in series_docs)
    study_doc["Modalities"] = "/".join(modalities)
    study_doc["series"] = [{k: v for k, v in s.items() if k != "NumInstances"} for s in series_docs]
    return {"studies": [study_doc]}


def series(attrs: dict, instances: list[dict], wado_uri_root: str) -> dict:
    """One series: ``attrs`` are its attributes by keyword (from the index), ``instances`` the
    DICOM JSON of its instances, ``wado_uri_root`` the absolute WADO-URI endpoint (or a
    placeholder replaced per request). Built series by series, so a large study is never
    held in memory whole."""
    ordered = sorted(instances, key=lambda i: _number_key(_first(i.get("00200013", {}))))
    entries = []
    for dicom_json in ordered:
        entries.extend(_entries(dicom_json, attrs, wado_uri_root))
    first = instance_metadata(ordered[0]) if ordered else {}
    doc = {
        "SeriesInstanceUID": attrs.get("SeriesInstanceUID", ""),
        "SeriesNumber": _to(int, attrs.get("SeriesNumber")),
        "SeriesDescription": attrs.get("SeriesDescription") or "",
        "Modality": attrs.get("Modality") or first.get("Modality", ""),
        "SliceThickness": first.get("SliceThickness"),
        "SeriesDate": attrs.get("SeriesDate") or "",
        "SeriesTime": attrs.get("SeriesTime") or "",
        "instances": entries,
        "NumInstances": len(ordered),
    }
    return {k: v for k, v in doc.items() if v is not None}


def instance_metadata(dicom_json: dict) -> dict:
    """The attributes OHIF reads, from one instance's DICOM JSON, typed for OHIF."""
    out = {}
    for tag, element in dicom_json.items():
        if tag in _PRIVATE:
            value = _first(element)
            if value is not None:
                out[tag] = _PRIVATE[tag](value)
            continue
        keyword = _keyword(tag)
        if keyword in INSTANCE_KEYWORDS:
            value = _typed(keyword, element)
            if value is not None:
                out[keyword] = value
    return out


def natural(element: dict):
    """A DICOM JSON element as a plain value: sequences as lists of keyword dicts, person
    names as their alphabetic form, one value as itself, several as a list; binaries omitted."""
    values = element.get("Value")
    if not values:
        return None
    if element.get("vr") == "SQ":
        return [_natural_item(item) for item in values]
    if element.get("vr") == "PN":
        values = [v.get("Alphabetic", "") if isinstance(v, dict) else v for v in values]
    return values[0] if len(values) == 1 else list(values)


def whole_dataset(dicom_json: dict) -> dict:
    """Every attribute of the instance, naturalized (keywords, plain values, sequences as lists
    of dicts); a document's bulk data as a URL a browser can load, or inline."""
    out = {}
    for tag, element in dicom_json.items():
        keyword = _keyword(tag)
        if not keyword:
            continue
        if tag == _ENCAPSULATED_DOCUMENT:
            if document := _document(dicom_json, element):
                out[keyword] = document
            continue
        value = natural(element)
        if value is not None:
            out[keyword] = value
    return out


def _document(dicom_json: dict, element: dict) -> dict | None:
    if "InlineBinary" in element:
        return {"InlineBinary": element["InlineBinary"]}
    if uri := element.get("BulkDataURI"):
        mime = _first(dicom_json.get("00420012", {})) or "application/pdf"
        return {"DirectRetrieveURL": f"{uri}?{urlencode({'accept': mime})}"}
    return None


def _whole(dicom_json: dict, metadata: dict) -> bool:
    sop_class = str(metadata.get("SOPClassUID", ""))
    stored = str(_first(dicom_json.get(_AVAILABLE_TRANSFER_SYNTAX, {})) or "")
    kind = kinds.kind_of(sop_class, stored, has_pixels="Rows" in metadata)
    return kind != kinds.Kind.IMAGE or sop_class.startswith(_VISIBLE_LIGHT)


def _video_url(dicom_json: dict) -> str | None:
    """The rendered resource of a video instance (its MPEG stream, which <video> plays)."""
    stored = _first(dicom_json.get(_AVAILABLE_TRANSFER_SYNTAX, {}))
    if stored not in kinds.VIDEO_TRANSFER_SYNTAXES:
        return None
    uri = dicom_json.get(_PIXEL_DATA, {}).get("BulkDataURI", "")
    base, found, _ = uri.rpartition("/bulk/")
    return f"{base}/rendered" if found else None


def _entries(dicom_json: dict, series: dict, wado_uri_root: str) -> list[dict]:
    metadata = instance_metadata(dicom_json)
    if _whole(dicom_json, metadata):
        metadata = {**whole_dataset(dicom_json), **metadata}
    if video := _video_url(dicom_json):
        return [{"metadata": metadata, "url": video}]
    query = {
        "requestType": "WADO",
        "studyUID": metadata.get("StudyInstanceUID", ""),
        "seriesUID": metadata.get("SeriesInstanceUID") or series.get("SeriesInstanceUID", ""),
        "objectUID": metadata.get("SOPInstanceUID", ""),
        "contentType": "application/dicom",
    }
    if _first(dicom_json.get(_AVAILABLE_TRANSFER_SYNTAX, {})) in _DECODED_FOR_THE_VIEWER:
        query["transferSyntax"] = "1.2.840.10008.1.2.1"
    url = f"dicomweb:{wado_uri_root}?{urlencode(query)}"
    frames = metadata.get("NumberOfFrames") or 1
    if frames <= 1:
        return [{"metadata": metadata, "url": url}]
    shared = _functional_groups(dicom_json, "52009229", 0)
    compact = instance_metadata(dicom_json)
    entries = []
    for n in range(1, frames + 1):
        own = metadata if n == 1 else compact
        frame_metadata = {**own, **shared, **_functional_groups(dicom_json, "52009230", n - 1)}
        entries.append({"metadata": frame_metadata, "url": f"{url}&frame={n}"})
    # OHIF keeps the first entry's metadata for the instance and reads each frame's geometry
    # from its functional groups: they go there, once, not into every entry.
    for tag, keyword in _GROUP_SEQUENCES.items():
        if groups := natural(dicom_json.get(tag, {})):
            entries[0]["metadata"][keyword] = groups
    return entries


# Functional group macros (enhanced multi-frame) -> the per-image attributes they replace.
_FUNCTIONAL_GROUPS = {
    "00209113": ("ImagePositionPatient",),  # PlanePositionSequence
    "00209116": ("ImageOrientationPatient",),  # PlaneOrientationSequence
    "00289110": ("PixelSpacing", "SliceThickness", "SpacingBetweenSlices"),  # PixelMeasures
    "00289145": ("RescaleIntercept", "RescaleSlope"),  # PixelValueTransformationSequence
    "00289132": ("WindowCenter", "WindowWidth"),  # FrameVOILUTSequence
}


_GROUP_SEQUENCES = {
    "52009229": "SharedFunctionalGroupsSequence",
    "52009230": "PerFrameFunctionalGroupsSequence",
}


def _functional_groups(dicom_json: dict, sequence_tag: str, index: int) -> dict:
    items = dicom_json.get(sequence_tag, {}).get("Value") or []
    if index >= len(items):
        return {}
    out = {}
    for macro_tag, keywords in _FUNCTIONAL_GROUPS.items():
        macro = (items[index].get(macro_tag, {}).get("Value") or [{}])[0]
        typed = instance_metadata(macro)
        out.update({k: typed[k] for k in keywords if k in typed})
    return out


def _typed(keyword: str, element: dict):
    if keyword in _SEQUENCES:
        return natural(element)
    if keyword in _INLINE:
        inline = element.get("InlineBinary")
        return {"InlineBinary": inline} if inline else None
    values = [v for v in element.get("Value") or [] if v is not None]
    if not values:
        return None
    if keyword in _INT:
        return _to(int, values[0])
    if keyword in _FLOAT:
        return _to(float, values[0])
    if keyword in _FLOAT_LIST:
        numbers = [_to(float, v) for v in values]
        return numbers if None not in numbers else None
    if keyword in _INT_LIST:
        numbers = [_to(int, v) for v in values]
        return numbers if None not in numbers else None
    if keyword in _STR_LIST:
        return [str(v) for v in values]
    if keyword in _NATURAL:
        return values[0] if len(values) == 1 else values
    return str(values[0])


def _natural_item(item: dict) -> dict:
    out = {}
    for tag, element in item.items():
        value = natural(element)
        if value is not None:
            out[_keyword(tag) or tag] = value
    return out


@functools.lru_cache(maxsize=4096)  # bounded: files choose the tags (private ones too)
def _keyword(tag: str) -> str:
    """pydicom's keyword of a ``GGGGEEEE`` tag, empty if it has none: looked up once a tag
    rather than once an element of every instance."""
    try:
        return keyword_for_tag(int(tag, 16))
    except ValueError:
        return ""


def _first(element: dict):
    values = element.get("Value") or []
    return values[0] if values else None


def _to(kind, value):
    try:
        return kind(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _number_key(number) -> tuple:
    return (number is None, number if number is not None else 0)
