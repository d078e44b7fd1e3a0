"""QIDO-RS queries: query parameters -> ``QidoQuery`` (run by ``qidosql.search``). Knows nothing
of HTTP.

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

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from django.db.models import CharField, Lookup
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from archive.models import (
    INSTANCE_FIELDS,
    SERIES_DERIVED_FIELDS,
    SERIES_FIELDS,
    STUDY_DERIVED_FIELDS,
    STUDY_FIELDS,
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
    "InstanceCreationDate": "InstanceCreationTime",
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


def time_upper(text: str) -> str:
    """The last stored time a partial time covers: "10" -> "105959.999999"."""
    whole, _, fraction = text.partition(".")
    return (whole + "5959"[len(whole) - 2 :])[:6] + "." + fraction.ljust(6, "9")


# --- LIKE, for qidosql and for the worklist's ORM queries ------------------------------------


def like(column: str, pattern: str, vendor: str, *, insensitive: bool) -> str:
    """``column LIKE pattern`` with a ready-made pattern (escaped with backslash). On
    PostgreSQL a plain LIKE/ILIKE, what the pg_trgm and varchar_pattern_ops indexes recognise
    (backslash is its default escape); SQLite's LIKE ignores ASCII case either way."""
    if vendor == "postgresql":
        return f"{column} {'ILIKE' if insensitive else 'LIKE'} {pattern}"
    return f"{column} LIKE {pattern} ESCAPE '\\'"


@CharField.register_lookup
class QidoLike(Lookup):
    """``like`` as an ORM lookup; case-sensitive on PostgreSQL (used on upper-cased keys)."""

    lookup_name = "qido_like"
    insensitive = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        sql = like(lhs, rhs, connection.vendor, insensitive=self.insensitive)
        return sql, lhs_params + rhs_params


@CharField.register_lookup
class QidoILike(QidoLike):
    """Case-insensitive ``like`` (PostgreSQL ``ILIKE``, served by pg_trgm GIN indexes)."""

    lookup_name = "qido_ilike"
    insensitive = True


def like_pattern(value: str) -> str:
    """A DICOM wildcard value as a LIKE pattern: ``%``, ``_`` and ``\\`` are escaped first,
    then ``*`` becomes ``%`` and ``?`` becomes ``_``."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")
