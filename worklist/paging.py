"""One page of the worklist, without counting the table and without deep offsets.

A page fetches one row more than it shows to know whether another follows. "Next" and
"Previous" carry the sort key of the last (or first) row shown, and the next page starts from
there (keyset paging): the database seeks in the sort index instead of skipping every row
before the page, so page 2,000 costs what page 2 costs. A bare page number (a bookmark) still
works, by offset. Knows nothing of HTTP.
"""

import base64
import json
from dataclasses import dataclass, replace
from datetime import date, datetime

from django.db import connections
from django.db.models import Q, QuerySet

from accounts.projects import current_scope
from archive.models import Study

from .query import WorklistQuery

# Sort keys whose values are whole numbers; the rest are text (created_at an ISO timestamp).
INTEGER_KEYS = {
    "pk",
    "state_rank",
    "number_of_study_related_series",
    "number_of_study_related_instances",
}

# What a worklist row shows (the cached JSON documents stay in the database), plus the sort
# keys a cursor is made of.
ROW_FIELDS = (
    "study_instance_uid",
    "study_date",
    "study_time",
    "accession_number",
    "study_description",
    "patient_name",
    "patient_name_key",
    "patient_id",
    "patient_birth_date",
    "patient_sex",
    "modalities_in_study",
    "number_of_study_related_series",
    "number_of_study_related_instances",
    "generation",
    "cache_generation",
    "cache_error",
    "created_at",
)


@dataclass(frozen=True)
class Page:
    studies: list
    number: int
    size: int
    has_next: bool
    has_previous: bool
    next_cursor: str = ""
    previous_cursor: str = ""
    problem: str = ""

    @property
    def first_index(self) -> int:
        return (self.number - 1) * self.size + 1 if self.studies else 0

    @property
    def last_index(self) -> int:
        return (self.number - 1) * self.size + len(self.studies)

    def next_query(self, query: WorklistQuery) -> WorklistQuery:
        return replace(query, page=self.number + 1, after=self.next_cursor, before="")

    def previous_query(self, query: WorklistQuery) -> WorklistQuery:
        if self.number <= 2:
            return replace(query, page=1, after="", before="")
        return replace(query, page=self.number - 1, after="", before=self.previous_cursor)


@dataclass(frozen=True)
class Total:
    """How many studies match: ``kind`` is "" (exact), "about" (PostgreSQL's estimate) or
    "more than" (``value`` is the limit, where no estimate is to be had)."""

    value: int
    kind: str = ""


def visible_studies():
    """The studies the request may see (accounts.projects), before any filter."""
    return Study.objects.filter(current_scope().q())


def count_studies(query: WorklistQuery, today: date, limit: int) -> Total:
    """Counting every match costs as much as reading them all (100,000 rows for the bare
    list), so rows are counted up to ``limit`` only; past it the planner's estimate of the
    same query (EXPLAIN, from the table statistics ANALYZE keeps) is cheap and close enough."""
    studies = query.filter(visible_studies().order_by(), today)
    counted = studies[: limit + 1].count()
    if counted <= limit:
        return Total(counted)
    if connections[studies.db].vendor == "postgresql":
        return Total(max(_planner_estimate(studies), limit + 1), "about")
    return Total(limit, "more than")


def _planner_estimate(studies: QuerySet) -> int:
    sql, params = studies.values("pk").query.sql_with_params()
    with connections[studies.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


def fetch_page(query: WorklistQuery, size: int, today: date) -> Page:
    studies = query.filter(visible_studies().only(*ROW_FIELDS), today)
    keys, descending = query.sort_keys
    cursor, backwards = (query.before, True) if query.before else (query.after, False)
    values = _decode(cursor, keys) if cursor else None
    problem = "" if values or not cursor else "the page link was out of date; showing page 1"
    if values is None:
        number = 1 if cursor else query.page
        offset = (number - 1) * size
        rows = list(query.order(studies)[offset : offset + size + 1])
        shown = rows[:size]
        has_next, has_previous = len(rows) > size, number > 1
    else:
        number = query.page
        ahead = _beyond(keys, values, descending != backwards)
        rows = list(query.order(studies, reverse=backwards).filter(ahead)[: size + 1])
        shown = rows[:size]
        if backwards:
            shown.reverse()
            has_next, has_previous = True, len(rows) > size
        else:
            has_next, has_previous = len(rows) > size, True
        if not shown:  # the rows around the cursor were deleted meanwhile
            has_previous = number > 1
    return Page(
        studies=shown,
        number=number,
        size=size,
        has_next=has_next,
        has_previous=has_previous and number > 1,
        next_cursor=_encode(shown[-1], keys) if shown else "",
        previous_cursor=_encode(shown[0], keys) if shown else "",
        problem=problem,
    )


def _beyond(keys: tuple[str, ...], values: list, descending: bool) -> Q:
    """Rows strictly after ``values`` in the order of ``keys``: (a, b, pk) > (x, y, z) spelt
    out, with a plain bound on the first key so the database can seek in the index."""
    op = "lt" if descending else "gt"
    first = Q(**{f"{keys[0]}__{op}e": values[0]})
    after = Q()
    for i, key in enumerate(keys):
        step = Q(**{f"{key}__{op}": values[i]})
        for earlier, value in zip(keys[:i], values[:i], strict=True):
            step &= Q(**{earlier: value})
        after |= step
    return first & after


def _encode(study, keys: tuple[str, ...]) -> str:
    values = [getattr(study, key) for key in keys]
    values = [value.isoformat() if hasattr(value, "isoformat") else value for value in values]
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, keys: tuple[str, ...]) -> list | None:
    """The sort key values of a cursor, or None if it is not one for this sort."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(values, list) or len(values) != len(keys):
        return None
    if not all(_fits(key, value) for key, value in zip(keys, values, strict=True)):
        return None
    return values


def _fits(key: str, value) -> bool:
    if key in INTEGER_KEYS:
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**62
    if not isinstance(value, str) or len(value) > 400:
        return False
    return key != "created_at" or _is_timestamp(value)


def _is_timestamp(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True
