"""QIDO-RS searches: query parameters -> ``QidoQuery`` -> rows of the index. Knows nothing of HTTP.

Matching follows PS3.4 C.2.2.2 as PS3.18 §8.3.4 applies it to query parameters:

* single value; an empty value or ``*`` alone matches everything (universal matching);
* lists, comma- or backslash-separated, for UIDs, code strings (e.g. ``ModalitiesInStudy=CT,MR``)
  and numbers;
* wildcards ``*`` and ``?`` for text; ``%`` and ``_`` in the value are literal characters;
* DA and TM ranges, open ones included (``-20240101``, ``20240101-``); a date range given
  together with a time range of the same pair (StudyDate + StudyTime, ...) is matched as one
  datetime range (PS3.4 C.2.2.2.5.1, combined datetime matching);
* ``fuzzymatching=true``: person names match when each queried name component is a prefix of
  a component of the stored name (any component when only one is given).

Text is matched as stored except: person names always ignore case (PatientName through the
upper-cased ``Study.patient_name_key``), and wildcard matching ignores case for every text
attribute, which is what users of a study list expect and what trigram indexes serve.
Every attribute matched is in the index, so no search reads a file.
"""

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from django.db.models import CharField, Exists, F, Lookup, OuterRef, Q, QuerySet
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from archive.models import (
    INSTANCE_FIELDS,
    SERIES_DERIVED_FIELDS,
    SERIES_FIELDS,
    STUDY_DERIVED_FIELDS,
    STUDY_FIELDS,
    Instance,
    Series,
    Study,
)
from archive.uids import is_valid_uid


class Level(IntEnum):
    STUDY = 1
    SERIES = 2
    INSTANCE = 3


class QueryError(ValueError):
    """A query parameter that cannot be honoured; the message names it and says why."""

    def __init__(self, parameter: str, reason: str):
        super().__init__(f"{parameter}: {reason}")
        self.parameter = parameter
        self.reason = reason


@dataclass(frozen=True)
class Attribute:
    keyword: str
    tag: str  # eight upper-case hex digits, as in DICOM JSON
    vr: str
    level: Level
    field: str  # on the model of its own level


def _catalogue() -> dict[str, Attribute]:
    tables = (
        (Level.STUDY, STUDY_FIELDS | STUDY_DERIVED_FIELDS),
        (Level.SERIES, SERIES_FIELDS | SERIES_DERIVED_FIELDS),
        (Level.INSTANCE, INSTANCE_FIELDS),
    )
    return {
        keyword: Attribute(
            keyword, f"{tag_for_keyword(keyword):08X}", dictionary_VR(keyword), level, name
        )
        for level, table in tables
        for keyword, name in table.items()
    }


# Every attribute the index holds: what can be matched, and what is returned without a file.
ATTRIBUTES = _catalogue()
MODELS = {Level.STUDY: Study, Level.SERIES: Series, Level.INSTANCE: Instance}
ORDERING = {
    Level.STUDY: (F("study_date").desc(), F("study_time").desc(), F("pk").desc()),
    Level.SERIES: (F("series_number").asc(nulls_last=True), F("pk").asc()),
    Level.INSTANCE: (F("instance_number").asc(nulls_last=True), F("pk").asc()),
}
# Attributes with an index (archive/models.py, migrations 0002-0004; wildcards on text through
# pg_trgm on PostgreSQL). The others only narrow a search that one of these (or a study or
# series in the URL) already narrows, so that no search reads a whole table.
INDEXED = {
    "StudyInstanceUID", "StudyDate", "AccessionNumber", "StudyID", "StudyDescription",
    "ReferringPhysicianName", "PatientName", "PatientID", "PatientBirthDate", "ModalitiesInStudy",
    "SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDate", "SeriesDescription",
    "SOPInstanceUID", "SOPClassUID", "InstanceNumber",
}  # fmt: skip
# Parameters PS3.18 §8.3 defines besides the attribute keys. ``accept`` and ``charset`` are
# content negotiation (DRF's URL_ACCEPT_OVERRIDE reads ``accept``); answers are always UTF-8.
CONTROL_PARAMETERS = {"limit", "offset", "fuzzymatching", "includefield", "accept", "charset"}
# Date and time attributes matched together as one datetime range.
DATE_TIME_PAIRS = {
    "StudyDate": "StudyTime",
    "SeriesDate": "SeriesTime",
    "ContentDate": "ContentTime",
    "PerformedProcedureStepStartDate": "PerformedProcedureStepStartTime",
}
DATE_OF_TIME = {time: date for date, time in DATE_TIME_PAIRS.items()}
TEXT_LISTS = {"UI", "CS"}  # VRs whose values may be given as a list
NUMBERS = {"IS", "US", "UL", "SS", "SL"}
MAX_OFFSET = 2**31 - 1
MAX_LIST = 1000  # values in one list (a UID list), far below any database's parameter limit

_DATE = re.compile(r"[0-9]{8}")
_TIME = re.compile(r"([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\.([0-9]{1,6}))?)?)?")
_INTEGER = re.compile(r"-?[0-9]{1,10}")
_COUNT = re.compile(r"[0-9]{1,12}")
_TAG = re.compile(r"[0-9A-Fa-f]{8}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Match:
    attribute: Attribute
    kind: str  # "exact", "list", "wildcard", "range", "span" (one TM value), "fuzzy"
    values: tuple


@dataclass(frozen=True)
class QidoQuery:
    level: Level
    matches: tuple[Match, ...] = ()
    includefields: frozenset[str] = frozenset()  # keywords, or tags when pydicom has no keyword
    include_all: bool = False
    limit: int = 100
    offset: int = 0
    fuzzy: bool = False
    study_instance_uid: str | None = None  # fixed by the URL
    series_instance_uid: str | None = None

    @classmethod
    def from_params(
        cls,
        params: Mapping[str, str | Sequence[str]],
        level: Level,
        *,
        study_uid: str | None = None,
        series_uid: str | None = None,
        max_limit: int = 1000,
    ) -> "QidoQuery":
        """Parse QIDO-RS query parameters (values already percent-decoded). Raises
        ``QueryError`` naming the first parameter that is unknown or malformed."""
        params = {
            key: [value] if isinstance(value, str) else list(value) for key, value in params.items()
        }
        for key, values in params.items():
            if key not in ("includefield",) and len(values) > 1:
                raise QueryError(key, "given more than once")
            if any(_CONTROL.search(value) for value in values):
                # (PostgreSQL refuses NUL in text; no DICOM value has control characters.)
                raise QueryError(key, "contains control characters")
        options = {}
        # No limit (or 0) means the server's maximum; more than that is clamped to it.
        options["limit"] = min(_count(params, "limit", maximum=None) or max_limit, max_limit)
        options["offset"] = _count(params, "offset", maximum=MAX_OFFSET) or 0
        fuzzy = params.get("fuzzymatching", ["false"])[0].strip().lower()
        if fuzzy not in ("true", "false", ""):
            raise QueryError("fuzzymatching", f"must be true or false, not {fuzzy!r:.40}")
        options["fuzzy"] = fuzzy == "true"

        includes = set()
        for value in params.get("includefield", []):
            for item in filter(None, (part.strip() for part in value.split(","))):
                if item == "all":
                    options["include_all"] = True
                else:
                    includes.add(_known_keyword("includefield", item))
        options["includefields"] = frozenset(includes)

        matches = {}
        for key, values in params.items():
            if key in CONTROL_PARAMETERS:
                continue
            (value,) = values
            attribute = _matchable(key, level)
            if match := _parse_match(key, attribute, value.strip(), options["fuzzy"]):
                matches[key] = match
        narrowed = (
            study_uid or series_uid or any(m.attribute.keyword in INDEXED for m in matches.values())
        )
        for key, match in matches.items():
            if not narrowed and match.attribute.keyword not in INDEXED:
                raise QueryError(
                    key,
                    "has no index: combine it with an indexed key "
                    f"({', '.join(sorted(INDEXED))}) or search within a study",
                )
        return cls(
            level,
            tuple(matches.values()),
            study_instance_uid=study_uid,
            series_instance_uid=series_uid,
            **options,
        )

    @property
    def needs_metadata(self) -> bool:
        """True when an asked-for attribute is not in the index: instance searches then read
        it from each instance's DICOM JSON (``Instance.metadata``)."""
        if self.level is not Level.INSTANCE:
            return False
        return self.include_all or any(k not in ATTRIBUTES for k in self.includefields)

    def where(self) -> Q:
        """The filter for this query's level model."""
        condition = Q()
        if self.study_instance_uid is not None:
            condition &= Q(
                **{_path("study_instance_uid", Level.STUDY, self.level): self.study_instance_uid}
            )
        if self.series_instance_uid is not None:
            condition &= Q(
                **{_path("series_instance_uid", Level.SERIES, self.level): self.series_instance_uid}
            )
        ranges = {m.attribute.keyword: m for m in self.matches if m.kind == "range"}
        for match in self.matches:
            keyword = match.attribute.keyword
            if keyword in ranges and DATE_TIME_PAIRS.get(keyword) in ranges:
                condition &= _datetime_range(match, ranges[DATE_TIME_PAIRS[keyword]], self.level)
            elif keyword in ranges and DATE_OF_TIME.get(keyword) in ranges:
                continue  # matched together with its date, above
            else:
                condition &= _condition(match, self.level)
        return condition


@dataclass(frozen=True)
class Page:
    rows: list[dict]  # keyword -> value as the index holds it; "metadata" when asked for
    truncated: bool  # more rows match than were returned


def search(query: QidoQuery) -> Page:
    """Run the query: one SQL statement, index columns only, newest studies first."""
    rows, paths = _selection(query.level, query.needs_metadata)
    rows = rows.filter(query.where())[query.offset : query.offset + query.limit + 1]
    found = [{paths[column]: value for column, value in row.items()} for row in rows]
    return Page(found[: query.limit], truncated=len(found) > query.limit)


@functools.cache
def _selection(level: Level, metadata: bool) -> tuple[QuerySet, dict[str, str]]:
    """The columns and order of a search at ``level``, and each column's keyword; made once
    (resolving some thirty lookups is a good part of a small search's time), filtered per
    search on a copy."""
    paths = {
        _path(attribute.field, attribute.level, level): keyword
        for keyword, attribute in ATTRIBUTES.items()
        if attribute.level <= level
    }
    if metadata:
        paths["metadata"] = "metadata"
    rows = MODELS[level].objects.order_by(*ORDERING[level]).values(*paths)
    return rows, paths


# --- parsing ---------------------------------------------------------------------------------


def _count(params: dict, name: str, maximum: int | None) -> int | None:
    values = params.get(name)
    if not values or values[0].strip() == "":
        return None
    value = values[0].strip()
    if not _COUNT.fullmatch(value):
        raise QueryError(name, f"must be a whole number of 0 or more, not {value!r:.40}")
    number = int(value)
    if maximum is not None and number > maximum:
        raise QueryError(name, f"must be at most {maximum}")
    return number


def _known_keyword(parameter: str, key: str) -> str:
    """A keyword or an eight-digit tag, as a keyword (or the upper-case tag when the data
    dictionary has no keyword for it, e.g. a private tag)."""
    if _TAG.fullmatch(key):
        return keyword_for_tag(int(key, 16)) or key.upper()
    if "." in key and all(_TAG.fullmatch(p) or tag_for_keyword(p) for p in key.split(".")):
        raise QueryError(
            parameter, "matching or including attributes inside sequences is not supported"
        )
    if tag_for_keyword(key) is None:
        raise QueryError(parameter, f"{key!r:.60} is neither a DICOM keyword nor a tag (GGGGEEEE)")
    return key


def _matchable(key: str, level: Level) -> Attribute:
    keyword = _known_keyword(key, key)
    if keyword == "Modality" and level is Level.STUDY:
        keyword = "ModalitiesInStudy"  # what clients mean by Modality in a study search
    attribute = ATTRIBUTES.get(keyword)
    if attribute is None:
        supported = ", ".join(k for k, a in ATTRIBUTES.items() if a.level <= level)
        raise QueryError(key, f"not a supported query key here (supported: {supported})")
    if attribute.level > level:
        raise QueryError(
            key,
            f"is a {attribute.level.name.lower()}-level attribute, "
            f"not matchable in a {level.name.lower()} search",
        )
    return attribute


def _parse_match(key: str, attribute: Attribute, value: str, fuzzy: bool) -> Match | None:
    if value in ("", "*"):
        return None
    vr = attribute.vr
    wildcard = "*" in value or "?" in value
    if vr in ("DA", "TM"):
        return _parse_range(key, attribute, value)
    if len(re.findall(r"[,\\]", value)) >= MAX_LIST:
        raise QueryError(key, f"lists are limited to {MAX_LIST} values")
    if vr == "UI" or vr in NUMBERS:
        items = [item.strip() for item in re.split(r"[,\\]", value)]
        check = is_valid_uid if vr == "UI" else _INTEGER.fullmatch
        for item in items:
            if not check(item):
                what = "a valid UID" if vr == "UI" else "an integer"
                raise QueryError(key, f"{item!r:.70} is not {what} (wildcards are not allowed)")
        if vr in NUMBERS:
            items = [int(item) for item in items]
        return Match(attribute, "list" if len(items) > 1 else "exact", tuple(items))
    if vr in TEXT_LISTS and re.search(r"[,\\]", value):
        items = tuple(item.strip() for item in re.split(r"[,\\]", value) if item.strip())
        return Match(attribute, "list", items)
    if vr == "PN" and fuzzy:
        return Match(attribute, "fuzzy", (value,))
    return Match(attribute, "wildcard" if wildcard else "exact", (value,))


def _parse_range(key: str, attribute: Attribute, value: str) -> Match:
    valid = _valid_date if attribute.vr == "DA" else _valid_time
    if value.count("-") > 1:
        raise QueryError(key, f"{value!r:.40} is not a {attribute.vr} value or range")
    low, dash, high = value.partition("-")
    for bound in filter(None, (low, high)):
        if not valid(bound):
            form = "YYYYMMDD" if attribute.vr == "DA" else "HH[MM[SS[.FFFFFF]]]"
            raise QueryError(key, f"{bound!r:.40} is not a valid {attribute.vr} ({form})")
    if not dash:
        if attribute.vr == "DA":
            return Match(attribute, "exact", (value,))
        return Match(attribute, "span", (value, value))  # a partial time: a range, unpaired
    if attribute.vr == "DA" and low and high and low > high:
        # (A time range may end before it starts: with a date range it spans midnight.)
        raise QueryError(key, f"range {value!r} ends before it starts")
    return Match(attribute, "range", (low, high))


def _valid_date(text: str) -> bool:
    if not _DATE.fullmatch(text):
        return False
    try:
        datetime.strptime(text, "%Y%m%d")
    except ValueError:
        return False
    return True


def _valid_time(text: str) -> bool:
    parts = _TIME.fullmatch(text)
    if not parts:
        return False
    hours, minutes, seconds, _ = parts.groups()
    return int(hours) < 24 and int(minutes or 0) < 60 and int(seconds or 0) < 61


def _time_upper(text: str) -> str:
    """The last stored time a partial time covers: "10" -> "105959.999999"."""
    whole, _, fraction = text.partition(".")
    return (whole + "5959"[len(whole) - 2 :])[:6] + "." + fraction.ljust(6, "9")


# --- translation to SQL -----------------------------------------------------------------------


@CharField.register_lookup
class QidoLike(Lookup):
    """``LIKE`` with a ready-made pattern (escaped with backslash); case-sensitive on
    PostgreSQL, ASCII case-insensitive on SQLite (used on upper-cased keys only)."""

    lookup_name = "qido_like"
    operator = "LIKE"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        if connection.vendor == "postgresql":
            # No ESCAPE clause: backslash is PostgreSQL's default, and a plain LIKE/ILIKE is
            # what the pg_trgm and varchar_pattern_ops indexes recognise.
            return f"{lhs} {self.operator} {rhs}", lhs_params + rhs_params
        return f"{lhs} LIKE {rhs} ESCAPE '\\'", lhs_params + rhs_params


@CharField.register_lookup
class QidoILike(QidoLike):
    """Case-insensitive ``LIKE`` (PostgreSQL ``ILIKE``, served by pg_trgm GIN indexes)."""

    lookup_name = "qido_ilike"
    operator = "ILIKE"


def like_pattern(value: str) -> str:
    """A DICOM wildcard value as a LIKE pattern: ``%``, ``_`` and ``\\`` are escaped first,
    then ``*`` becomes ``%`` and ``?`` becomes ``_``."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _path(name: str, owner: Level, base: Level) -> str:
    """The lookup path from the base level's model to a field of the owner level's model."""
    hops = {(Level.SERIES, Level.STUDY): "study__", (Level.INSTANCE, Level.SERIES): "series__"}
    hops[(Level.INSTANCE, Level.STUDY)] = "series__study__"
    return hops.get((base, owner), "") + name


def _condition(match: Match, base: Level) -> Q:
    attribute = match.attribute
    if attribute.keyword == "ModalitiesInStudy":
        outer = _path("pk", Level.STUDY, base)
        modality = _condition(Match(ATTRIBUTES["Modality"], match.kind, match.values), Level.SERIES)
        return Q(Exists(Series.objects.filter(modality, study=OuterRef(outer))))
    path = _path(attribute.field, attribute.level, base)
    if attribute.vr == "PN":
        return _person_name(match, attribute, base)
    if match.kind == "list":
        return Q(**{f"{path}__in": match.values})
    if match.kind == "exact":
        return Q(**{path: match.values[0]})
    if match.kind == "wildcard":
        return Q(**{f"{path}__qido_ilike": like_pattern(match.values[0])})
    low, high = match.values
    condition = Q()
    if low:
        condition &= Q(**{f"{path}__gte": low})
    if high:
        condition &= Q(**{f"{path}__lte": _time_upper(high) if attribute.vr == "TM" else high})
    return condition


def _person_name(match: Match, attribute: Attribute, base: Level) -> Q:
    """Case-insensitive name matching; PatientName uses its upper-cased, indexed key."""
    value = match.values[0]
    if attribute.keyword == "PatientName":
        path, lookup, value = (
            _path("patient_name_key", Level.STUDY, base),
            "qido_like",
            value.upper(),
        )
    else:
        path, lookup = _path(attribute.field, attribute.level, base), "qido_ilike"
    if match.kind != "fuzzy":
        return Q(**{f"{path}__{lookup}": like_pattern(value)})
    components = [like_pattern(part) for part in value.rstrip("^").split("^")]
    if len(components) > 1:
        return Q(**{f"{path}__{lookup}": "%^".join(components) + "%"})
    # One component: the start of any component of any name group (family, given, ...).
    condition = Q(**{f"{path}__{lookup}": components[0] + "%"})
    for separator in ("^", "=", " "):
        condition |= Q(**{f"{path}__{lookup}": f"%{separator}{components[0]}%"})
    return condition


def _datetime_range(date: Match, time: Match, base: Level) -> Q:
    """StudyDate=d1-d2 with StudyTime=t1-t2: from d1 at t1 to d2 at t2."""
    date_path = _path(date.attribute.field, date.attribute.level, base)
    time_path = _path(time.attribute.field, time.attribute.level, base)
    (low_date, high_date), (low_time, high_time) = date.values, time.values
    condition = Q()
    if low_date:
        after = Q(**{f"{date_path}__gt": low_date})
        on_first_day = Q(**{date_path: low_date})
        if low_time:
            on_first_day &= Q(**{f"{time_path}__gte": low_time})
        condition &= after | on_first_day
    if high_date:
        before = Q(**{f"{date_path}__lt": high_date})
        on_last_day = Q(**{date_path: high_date})
        if high_time:
            on_last_day &= Q(**{f"{time_path}__lte": _time_upper(high_time)})
        condition &= before | on_last_day
    return condition
