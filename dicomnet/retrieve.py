"""What a C-MOVE or C-GET identifier asks for (PS3.4 C.4.2, C.4.3): the stored instances of the
studies, series or instances it names by their unique keys. Knows nothing of associations."""

from dataclasses import dataclass

from pydicom import Dataset

from accounts.projects import EVERYTHING, Scope
from archive.models import Instance
from archive.uids import is_valid_uid

from .find import IDENTIFIER_DOES_NOT_MATCH, FindError
from .peers import Outbound

# Level -> the unique key that must be given, and the lookup it filters the instances by.
KEYS = {
    "PATIENT": ("PatientID", "series__study__patient_id__in"),
    "STUDY": ("StudyInstanceUID", "series__study__study_instance_uid__in"),
    "SERIES": ("SeriesInstanceUID", "series__series_instance_uid__in"),
    "IMAGE": ("SOPInstanceUID", "sop_instance_uid__in"),
}
MAX_VALUES = 1000


@dataclass(frozen=True)
class Selection:
    level: str
    study_uids: list[str]  # for the access log
    files: list[Outbound]


def select(identifier: Dataset, *, patient_root: bool, scope: Scope = EVERYTHING) -> Selection:
    """The instances to send, in study, series and instance order, among the studies ``scope``
    allows (accounts.projects). Raises ``FindError``."""
    level = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    if level not in KEYS or (level == "PATIENT" and not patient_root):
        raise FindError(IDENTIFIER_DOES_NOT_MATCH, f"level {level!r} not supported")
    keyword, lookup = KEYS[level]
    values = _values(identifier.get(keyword))
    if not values:
        raise FindError(IDENTIFIER_DOES_NOT_MATCH, f"{keyword} is required at {level}")
    if keyword != "PatientID" and not all(is_valid_uid(v) for v in values):
        raise FindError(IDENTIFIER_DOES_NOT_MATCH, f"{keyword} is not a UID list")
    instances = (
        Instance.objects.filter(scope.q("series__study__"), **{lookup: values})
        .select_related("series__study")
        .order_by(
            "series__study_id", "series__series_number", "series_id", "instance_number", "id"
        )  # fmt: skip
    )
    files, studies = [], {}
    for instance in instances:
        studies[instance.series.study.study_instance_uid] = True
        files.append(
            Outbound(
                instance.pk,
                instance.file_path,
                instance.sop_class_uid,
                instance.sop_instance_uid,
                instance.transfer_syntax_uid,
            )
        )
    return Selection(level, list(studies), files)


def _values(element) -> list[str]:
    if not element:
        return []
    items = element.split("\\") if isinstance(element, str) else list(element)
    return [str(item).strip() for item in items if str(item).strip()][:MAX_VALUES]
