"""C-FIND (PS3.4 C.4.1) on the QIDO-RS query core: an identifier becomes the same
``QidoQuery`` a QIDO-RS request would, run by the same SQL (``qidosql.search``) and written by
the same DICOM JSON code (``qidojson``), then returned as the keys the identifier asked for.
Knows nothing of associations.

Levels PATIENT (Patient Root: studies grouped by Patient ID), STUDY, SERIES and IMAGE, Patient
Root and Study Root alike (the hierarchy's unique keys are matched like any other key, so a
relational query is answered too). Matching is QIDO-RS's: universal (empty or ``*``), single
value, wildcards ``*`` ``?``, UID lists, date and time ranges. A key the index does not hold is
returned, but matching on it is not supported: universal matching, as PS3.4 C.2.2.1 lets an
SCP do for optional keys (at IMAGE level its value is read from the instance's DICOM JSON).
"""

from collections.abc import Iterator
from dataclasses import dataclass, replace

from pydicom import Dataset
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.multival import MultiValue

from accounts.projects import EVERYTHING, Scope
from archive.dicomweb import qidojson
from archive.dicomweb.qidosql import search
from archive.dicomweb.query import ATTRIBUTES, Level, QidoQuery, QueryError

LEVELS = {"PATIENT": Level.STUDY, "STUDY": Level.STUDY, "SERIES": Level.SERIES,
          "IMAGE": Level.INSTANCE}  # fmt: skip
PATIENT_KEYS = {"PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                "NumberOfPatientRelatedStudies", "IssuerOfPatientID"}  # fmt: skip
# Keys answered by the SCP itself, never matched.
SCP_KEYS = {"QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle",
            "InstanceAvailability", "NumberOfPatientRelatedStudies"}  # fmt: skip
PAGE = 500  # rows per statement; answers go out as they are read

IDENTIFIER_DOES_NOT_MATCH = 0xA900
UNABLE_TO_PROCESS = 0xC000


class FindError(Exception):
    def __init__(self, status: int, comment: str):
        super().__init__(comment)
        self.status = status
        self.comment = comment[:64]


@dataclass(frozen=True)
class Find:
    level: str  # as asked: PATIENT, STUDY, SERIES or IMAGE
    query: QidoQuery
    asked: tuple[tuple[int, str], ...]  # (tag, VR) of every key to return, identifier order


def parse(identifier: Dataset, *, patient_root: bool) -> Find:
    """The identifier as a QIDO-RS query. Raises ``FindError`` with the status to answer."""
    try:
        level_name = str(identifier.QueryRetrieveLevel).strip().upper()
    except Exception:  # noqa: BLE001 - missing or unreadable: the same answer
        raise FindError(IDENTIFIER_DOES_NOT_MATCH, "no Query/Retrieve Level") from None
    if level_name not in LEVELS or (level_name == "PATIENT" and not patient_root):
        raise FindError(IDENTIFIER_DOES_NOT_MATCH, f"level {level_name!r} not supported")
    level = LEVELS[level_name]
    params: dict[str, str] = {}
    includes = []
    asked = []
    try:
        elements = list(identifier)
    except Exception as exc:  # noqa: BLE001 - a damaged identifier
        raise FindError(UNABLE_TO_PROCESS, f"identifier cannot be read: {exc}") from None
    for element in elements:
        tag = int(element.tag)
        if element.tag.group == 0x0008 and element.tag.element == 0x0052:
            continue  # QueryRetrieveLevel
        keyword = keyword_for_tag(tag)
        asked.append((tag, element.VR))
        if not keyword or keyword in SCP_KEYS or element.VR == "SQ":
            continue
        if level_name == "PATIENT" and keyword not in PATIENT_KEYS:
            raise FindError(IDENTIFIER_DOES_NOT_MATCH, f"{keyword} is not a patient-level key")
        attribute = ATTRIBUTES.get(keyword)
        if attribute is not None and attribute.level > level:
            if _text(element):
                raise FindError(IDENTIFIER_DOES_NOT_MATCH, f"{keyword} is below {level_name}")
            continue
        includes.append(keyword)
        if attribute is not None and (value := _text(element)):
            params[keyword] = value
    params["includefield"] = ",".join(includes)
    try:
        query = QidoQuery.from_params(params, level, max_limit=PAGE)
    except QueryError as exc:
        raise FindError(IDENTIFIER_DOES_NOT_MATCH, str(exc)) from None
    return Find(level_name, query, tuple(asked))


def answers(find: Find, ae_title: str, scope: Scope = EVERYTHING) -> Iterator[Dataset]:
    """One identifier per match among the studies ``scope`` allows (accounts.projects), read a
    page at a time (the caller may stop: C-CANCEL)."""
    rows = _patients(find.query, scope) if find.level == "PATIENT" else _rows(find.query, scope)
    for row in rows:
        yield _answer(find, row, ae_title)


def _rows(query: QidoQuery, scope: Scope) -> Iterator[Dataset]:
    offset = 0
    while True:
        page = search(replace(query, offset=offset), scope)
        for found in qidojson.datasets(page.rows, query, ""):
            yield Dataset.from_json(found)
        if not page.truncated:
            return
        offset += len(page.rows)


def _patients(query: QidoQuery, scope: Scope) -> Iterator[Dataset]:
    """Studies grouped by patient (Patient ID, then name), newest study's values first."""
    patients: dict[tuple, tuple[Dataset, int]] = {}
    for study in _rows(query, scope):
        key = (study.get("PatientID", ""), str(study.get("PatientName", "")))
        first, count = patients.get(key, (study, 0))
        patients[key] = (first, count + 1)
    for study, count in patients.values():
        study.NumberOfPatientRelatedStudies = count
        yield study


def _answer(find: Find, found: Dataset, ae_title: str) -> Dataset:
    answer = Dataset()
    answer.SpecificCharacterSet = "ISO_IR 192"  # values come from the index as UTF-8
    for tag, vr in find.asked:
        if tag == 0x00080005:
            continue
        if tag == 0x00080054:  # RetrieveAETitle
            answer.add_new(tag, "AE", ae_title)
        elif tag in found:
            answer.add(found[tag])
        else:
            answer.add(DataElement(tag, vr if vr not in ("UN", None) else _vr(tag), None))
    answer.QueryRetrieveLevel = find.level
    return answer


def _vr(tag: int) -> str:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"


def _text(element: DataElement) -> str:
    """A key's value as QIDO-RS would receive it (lists joined by backslash)."""
    value = element.value
    if value is None or value == "":
        return ""
    if isinstance(value, MultiValue | list):
        return "\\".join(str(v) for v in value)
    return str(value).strip()
