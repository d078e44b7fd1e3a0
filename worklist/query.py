"""The worklist's filters and sorting: query-string parameters -> a Study QuerySet.

Everything a search needs lives in the URL, so a search can be bookmarked and shared;
``WorklistQuery.from_params`` reads it and ``to_params`` writes it back for links. Paging is in
``paging``. Knows nothing of HTTP.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from urllib.parse import urlencode

from django.db.models import Q, QuerySet

from archive.dicomweb.query import like_pattern  # also registers the qido_like lookup
from archive.models import CacheState

# Column key in the URL -> the fields it sorts by (ties end on the primary key, so that pages
# never overlap or skip a row).
SORTS = {
    "name": ("patient_name_key",),
    "pid": ("patient_id",),
    "birth": ("patient_birth_date",),
    "sex": ("patient_sex",),
    "date": ("study_date", "study_time"),
    "description": ("study_description",),
    "modalities": ("modalities_in_study",),
    "accession": ("accession_number",),
    "series": ("number_of_study_related_series",),
    "instances": ("number_of_study_related_instances",),
    "state": ("state_rank",),
    "received": ("created_at",),
}
DEFAULT_SORT = "-date"

# Preset -> days before today that the range starts.
DATE_PRESETS = {"today": 0, "7d": 6, "30d": 29}
STATES = tuple(CacheState.values)
# Sorting by state puts what needs attention first.
MODALITY_CHOICES = (
    "CR", "CT", "DX", "ECG", "IO", "MG", "MR", "NM", "OT", "PR", "PT", "RF", "RTSTRUCT",
    "SEG", "SM", "SR", "US", "XA",
)  # fmt: skip
# Page sizes offered; 0 in a query means the site's WORKLIST_PAGE_SIZE.
PAGE_SIZES = (25, 50, 100)
MAX_TEXT = 64
MAX_PAGE = 100_000
MAX_CURSOR = 400

_MODALITY = re.compile(r"[A-Z0-9_]{1,16}")


@dataclass(frozen=True)
class WorklistQuery:
    patient_name: str = ""
    patient_id: str = ""
    accession: str = ""
    description: str = ""
    modalities: tuple[str, ...] = ()
    date_preset: str = ""  # "", a DATE_PRESETS key, or "custom" (date_from / date_to)
    date_from: date | None = None
    date_to: date | None = None
    state: str = ""
    sort: str = DEFAULT_SORT
    page: int = 1
    size: int = 0
    # Dense rows (no thumbnails, less padding): about twice the studies on a screen.
    compact: bool = False
    # Keyset paging: the sort key of the row this page follows (after) or precedes (before),
    # as written by ``paging``; a page number alone falls back to an offset.
    after: str = ""
    before: str = ""
    # Parameters that could not be used, in words for the user; the rest of the search runs.
    problems: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_params(cls, params: Mapping) -> "WorklistQuery":
        problems = []

        def text(key):
            value = str(params.get(key, "") or "").strip()
            if len(value) > MAX_TEXT:
                problems.append(f"{key} was cut to {MAX_TEXT} characters")
            return value[:MAX_TEXT]

        modalities = []
        getlist = getattr(params, "getlist", lambda key: [params[key]] if key in params else [])
        for raw in getlist("modality"):
            for value in str(raw).upper().replace(",", " ").split():
                if _MODALITY.fullmatch(value) and value not in modalities:
                    modalities.append(value)
                else:
                    problems.append(f"modality {value[:20]!r} is not a modality code")

        preset = text("date")
        date_from = _parse_date(text("from"), "from", problems)
        date_to = _parse_date(text("to"), "to", problems)
        if preset and preset not in DATE_PRESETS and preset != "custom":
            problems.append(f"date {preset[:20]!r} is not one of today, 7d, 30d or custom")
            preset = ""
        if not preset and (date_from or date_to):
            preset = "custom"
        if date_from and date_to and date_from > date_to:
            problems.append("the date range ends before it starts; the dates were swapped")
            date_from, date_to = date_to, date_from

        state = text("state")
        if state and state not in STATES:
            problems.append(f"state {state[:20]!r} is not one of {', '.join(STATES)}")
            state = ""

        sort = text("sort") or DEFAULT_SORT
        if sort.lstrip("-") not in SORTS:
            problems.append(f"cannot sort by {sort[:20]!r}")
            sort = DEFAULT_SORT

        page = text("page") or "1"
        if not page.isdigit() or not 1 <= int(page) <= MAX_PAGE:
            problems.append(f"page {page[:20]!r} is not a page number")
            page = "1"

        size = text("size")
        if size and not (size.isdigit() and int(size) in PAGE_SIZES):
            problems.append(f"size {size[:20]!r} is not one of {', '.join(map(str, PAGE_SIZES))}")
            size = ""

        return cls(
            patient_name=text("name"),
            patient_id=text("pid"),
            accession=text("accession"),
            description=text("description"),
            modalities=tuple(modalities),
            date_preset=preset,
            date_from=date_from if preset == "custom" else None,
            date_to=date_to if preset == "custom" else None,
            state=state,
            sort=sort,
            page=int(page),
            size=int(size or 0),
            compact=text("rows") == "compact",
            after=str(params.get("after", "") or "")[:MAX_CURSOR],
            before=str(params.get("before", "") or "")[:MAX_CURSOR],
            problems=tuple(problems),
        )

    @property
    def is_filtered(self) -> bool:
        return any(
            (
                self.patient_name,
                self.patient_id,
                self.accession,
                self.description,
                self.modalities,
                self.date_preset,
                self.state,
            )
        )

    def date_range(self, today: date) -> tuple[str, str]:
        """The StudyDate range as DICOM DA strings; an empty end is open."""
        if self.date_preset in DATE_PRESETS:
            start = today - timedelta(days=DATE_PRESETS[self.date_preset])
            return _da(start), _da(today)
        return _da(self.date_from), _da(self.date_to)

    def filter(self, studies: QuerySet, today: date) -> QuerySet:
        if self.patient_name:
            studies = studies.filter(_name_match(self.patient_name))
        if self.patient_id:
            studies = studies.filter(_wildcard("patient_id", self.patient_id))
        if self.accession:
            studies = studies.filter(_wildcard("accession_number", self.accession))
        if self.description:
            # ILIKE '%...%': served by the trigram index on PostgreSQL (archive migration 0003).
            pattern = f"%{like_pattern(self.description)}%"
            studies = studies.filter(study_description__qido_ilike=pattern)
        if self.modalities:
            studies = studies.filter(_any_modality(self.modalities))
        start, end = self.date_range(today)
        if start:
            studies = studies.filter(study_date__gte=start)
        if end:
            studies = studies.filter(study_date__lte=end)
        if self.state:
            studies = studies.in_cache_state(self.state)
        return studies

    @property
    def sort_keys(self) -> tuple[tuple[str, ...], bool]:
        """The fields the list is ordered by, ending on the primary key, and whether they
        descend (all the same way, so one composite index can serve them)."""
        return (*SORTS[self.sort.lstrip("-")], "pk"), self.sort.startswith("-")

    def order(self, studies: QuerySet, *, reverse: bool = False) -> QuerySet:
        keys, descending = self.sort_keys
        if "state_rank" in keys:
            studies = studies.with_state_rank()
        descending = descending != reverse
        return studies.order_by(*(f"-{key}" if descending else key for key in keys))

    def to_params(self, **changes) -> str:
        """The query string for this search with some values changed (a link's href)."""
        query = replace(self, **changes)
        pairs = [
            ("name", query.patient_name),
            ("pid", query.patient_id),
            ("accession", query.accession),
            ("description", query.description),
            *(("modality", m) for m in query.modalities),
            ("date", query.date_preset),
            ("from", query.date_from.isoformat() if query.date_from else ""),
            ("to", query.date_to.isoformat() if query.date_to else ""),
            ("state", query.state),
            ("sort", "" if query.sort == DEFAULT_SORT else query.sort),
            ("page", "" if query.page == 1 else str(query.page)),
            ("size", str(query.size) if query.size else ""),
            ("rows", "compact" if query.compact else ""),
            ("after", query.after),
            ("before", query.before),
        ]
        return urlencode([(key, value) for key, value in pairs if value])

    def sort_params(self, column: str) -> str:
        """The link of a column header: sort by it, or flip the order if it is the sort."""
        if self.sort.lstrip("-") == column:
            sort = column if self.sort.startswith("-") else f"-{column}"
        else:
            sort = f"-{column}" if column in ("date", "received", "series", "instances") else column
        return self.to_params(sort=sort, page=1, after="", before="")


def _name_match(typed: str) -> Q:
    """Patient name as a clinician types it: "doe, ja" or "DOE^JA" match names starting so
    (an indexed prefix search); one word alone ("jane") also matches the start of any other
    part or word of the name (given, middle names), as OHIF's list finds "*jane*" but without
    matching inside words; "*" and "?" are DICOM wildcards anywhere. Case never matters."""
    pattern = re.sub(r"\s*,\s*", "^", typed.strip()).upper()
    if "*" in pattern or "?" in pattern:
        return _wildcard("patient_name_key", pattern)
    match = _wildcard("patient_name_key", pattern + "*")
    if "^" not in pattern:
        word = like_pattern(pattern)
        for separator in ("^", " "):  # served by the trigram index on PostgreSQL
            match |= Q(patient_name_key__qido_like=f"%{separator}{word}%")
    return match


def _wildcard(field_name: str, pattern: str) -> Q:
    """DICOM wildcard matching (PS3.4 C.2.2.2.4: "*" any run, "?" one character), translated
    as QIDO-RS does it, so the worklist and QIDO-RS find the same studies."""
    if "*" not in pattern and "?" not in pattern:
        return Q(**{field_name: pattern})
    return Q(**{f"{field_name}__qido_like": like_pattern(pattern)})


def _any_modality(modalities: tuple[str, ...]) -> Q:
    """ModalitiesInStudy holds codes joined by backslashes; match whole codes only."""
    match = Q()
    for code in modalities:
        match |= (
            Q(modalities_in_study=code)
            | Q(modalities_in_study__startswith=f"{code}\\")
            | Q(modalities_in_study__endswith=f"\\{code}")
            | Q(modalities_in_study__contains=f"\\{code}\\")
        )
    return match


def _parse_date(value: str, key: str, problems: list) -> date | None:
    if not value:
        return None
    for pattern in (r"\d{4}-\d{2}-\d{2}", r"\d{8}"):
        if re.fullmatch(pattern, value):
            digits = value.replace("-", "")
            try:
                return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
            except ValueError:
                break
    problems.append(f"{key} {value[:20]!r} is not a date (YYYY-MM-DD)")
    return None


def _da(value: date | None) -> str:
    return value.strftime("%Y%m%d") if value else ""
