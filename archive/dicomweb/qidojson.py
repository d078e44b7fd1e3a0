"""QIDO-RS results as DICOM JSON (PS3.18 Annex F): which attributes each level returns, and
how index values are written. Knows nothing of HTTP; the DICOMweb root URL is passed in.

Returned by default (PS3.18 Table 10.6.3-3, plus what OHIF's study list and series panel
read): the level's required attributes, the attributes of the levels above when the URL does
not fix them, every matched attribute and every ``includefield``. Attributes outside the index
come from the instance's stored DICOM JSON, at instance level only; at study and series level
``includefield`` can name only index attributes (others are left out, never read from files).
"""

from pydicom.datadict import tag_for_keyword

from archive.caches import BASE_PLACEHOLDER

from .query import ATTRIBUTES, Level, QidoQuery

STUDY = (
    "SpecificCharacterSet", "StudyDate", "StudyTime", "AccessionNumber", "InstanceAvailability",
    "ModalitiesInStudy", "ReferringPhysicianName", "RetrieveURL", "PatientName", "PatientID",
    "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyID", "StudyDescription",
    "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
)  # fmt: skip
SERIES = (
    "SpecificCharacterSet", "Modality", "SeriesDescription", "RetrieveURL", "StudyInstanceUID",
    "SeriesInstanceUID", "SeriesNumber", "SeriesDate", "SeriesTime",
    "NumberOfSeriesRelatedInstances", "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
)  # fmt: skip
# InstanceCreationDate/Time, ContentDate/Time (StructureSetDate for an RTSTRUCT) and
# InstanceNumber: what OHIF 3.14 orders the versions of an SR, SEG or RTSTRUCT by.
INSTANCE = (
    "SpecificCharacterSet", "SOPClassUID", "SOPInstanceUID", "InstanceAvailability",
    "RetrieveURL", "StudyInstanceUID", "SeriesInstanceUID", "InstanceNumber", "Rows", "Columns",
    "BitsAllocated", "NumberOfFrames", "ContentDate", "ContentTime",
    "InstanceCreationDate", "InstanceCreationTime", "StructureSetDate",
)  # fmt: skip
DEFAULTS = {Level.STUDY: STUDY, Level.SERIES: SERIES, Level.INSTANCE: INSTANCE}

# Not in the index but always known: the JSON is UTF-8, every instance is on line.
CONSTANTS = {
    "SpecificCharacterSet": {"vr": "CS", "Value": ["ISO_IR 192"]},
    "InstanceAvailability": {"vr": "CS", "Value": ["ONLINE"]},
}
TAGS = {
    "SpecificCharacterSet": "00080005",
    "InstanceAvailability": "00080056",
    "RetrieveURL": "00081190",
} | {keyword: attribute.tag for keyword, attribute in ATTRIBUTES.items()}
NUMBER_VRS = {"IS", "US", "UL", "SS", "SL"}


def returned_keywords(query: QidoQuery) -> list[str]:
    """The attributes each result of this query carries, in no particular order."""
    keywords = set(DEFAULTS[query.level])
    if query.level > Level.STUDY and query.study_instance_uid is None:
        keywords |= set(STUDY) - {"RetrieveURL"}
    if query.level > Level.SERIES and query.series_instance_uid is None:
        keywords |= set(SERIES) - {"RetrieveURL"}
    keywords |= {match.attribute.keyword for match in query.matches}
    keywords |= set(query.includefields)
    if query.include_all:
        keywords |= set(ATTRIBUTES)
    # Lower-level attributes have no single value here (OHIF asks for Modality at study
    # level; ModalitiesInStudy answers that).
    return sorted(k for k in keywords if k not in ATTRIBUTES or ATTRIBUTES[k].level <= query.level)


def datasets(rows: list[dict], query: QidoQuery, base_url: str) -> list[dict]:
    """One DICOM JSON object per row, keys in tag order. ``base_url`` is the absolute
    DICOMweb root (e.g. ``https://host/pacs/dicom-web``) RetrieveURLs start with."""
    keywords = returned_keywords(query)
    # Worked out once per search, not per row: (tag, keyword, VR) in tag order.
    plan = sorted(
        (TAGS[k], k, ATTRIBUTES[k].vr if k in ATTRIBUTES and k not in CONSTANTS else None)
        for k in keywords
        if k in ATTRIBUTES or k in CONSTANTS or k == "RetrieveURL"
    )
    results = []
    for row in rows:
        result = {}
        for tag, keyword, vr in plan:
            if vr is not None:
                result[tag] = _element(vr, row[keyword])
            elif keyword == "RetrieveURL":
                result[tag] = {"vr": "UR", "Value": [retrieve_url(base_url, row, query.level)]}
            else:
                result[tag] = CONSTANTS[keyword]
        if query.needs_metadata and row.get("metadata"):
            result |= _from_metadata(row["metadata"], keywords, query, base_url, result)
            result = dict(sorted(result.items()))
        results.append(result)
    return results


def retrieve_url(base_url: str, row: dict, level: Level) -> str:
    url = f"{base_url}/studies/{row['StudyInstanceUID']}"
    if level >= Level.SERIES:
        url += f"/series/{row['SeriesInstanceUID']}"
    if level >= Level.INSTANCE:
        url += f"/instances/{row['SOPInstanceUID']}"
    return url


def _from_metadata(metadata: dict, keywords, query, base_url: str, have: dict) -> dict:
    """Elements of the stored DICOM JSON not already taken from the index; bulk data is left
    out (QIDO-RS returns no bulk data), and BulkDataURIs inside sequences are made absolute."""
    wanted = set(metadata) if query.include_all else {_tag(k) for k in keywords} & set(metadata)
    extra = {}
    for tag in wanted - set(have):
        element = metadata[tag]
        if "BulkDataURI" in element or "InlineBinary" in element:
            continue
        extra[tag] = _absolute(element, base_url)
    return extra


def _absolute(value, base_url: str):
    """The element with every BulkDataURI inside it resolved against this request's root."""
    if isinstance(value, dict):
        return {
            key: item.replace(BASE_PLACEHOLDER, base_url)
            if key == "BulkDataURI"
            else _absolute(item, base_url)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_absolute(item, base_url) for item in value]
    return value


def _tag(keyword: str) -> str:
    if keyword in TAGS:
        return TAGS[keyword]
    tag = tag_for_keyword(keyword)
    return f"{tag:08X}" if tag is not None else keyword.upper()


def _element(vr: str, value) -> dict:
    """An index value as a DICOM JSON element; empty values give an element without Value
    (PS3.18 F.2.5), as type 2 attributes require."""
    if value is None or value == "":
        return {"vr": vr}
    if vr in NUMBER_VRS:
        return {"vr": vr, "Value": [int(value)]}
    parts = str(value).split("\\")
    if vr == "PN":
        return {"vr": vr, "Value": [_person_name(part) for part in parts]}
    if vr == "DS":
        return {"vr": vr, "Value": [_decimal(part) for part in parts]}
    return {"vr": vr, "Value": parts}


# A person name's component groups, as DICOM JSON names them (PS3.18 F.2.2) and as the text
# value orders them between "=".
PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")


def _person_name(text: str) -> dict:
    if "=" not in text:
        return {"Alphabetic": text}
    groups = text.split("=")
    return {name: group for name, group in zip(PN_GROUPS, groups, strict=False) if group}


def person_name_text(value) -> str:
    """A DICOM JSON person name back as the text value (``_person_name``'s inverse)."""
    if not isinstance(value, dict):
        return str(value or "")
    return "=".join(value.get(name, "") for name in PN_GROUPS).rstrip("=")


def _decimal(text: str):
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text else number
