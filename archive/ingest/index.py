"""Indexing parsed files: rows written, files placed, in one transaction per slice.

The one indexing path. A slice holds the new files of one or more studies (``receive``
hands over everything it read at once). Studies the archive does not hold yet (the usual
case for a modality or an import) are written in bulk across the slice: one insert each for
their studies, series and instances. Files of studies already held are indexed per study
under a lock of its row: one query each for its series and instances, one insert, one update
of each count; anything out of the ordinary (a SOP Instance UID already stored or sent twice,
a series of another study, a replacement) is settled row by row. Every file of the slice is
then placed at once, which lets the disk flush them together, and the slice commits once.

Studies are locked and inserted in Study Instance UID order, so two writers whose slices
share studies wait for each other instead of deadlocking. A concurrent writer that created
the same study, series or instance first makes the whole transaction start again, and then
it sees that writer's rows.
"""

import functools
from collections.abc import Callable

from django.db import IntegrityError, OperationalError, connection

from ohifsite.inserts import insert_objects
from ohifsite.writers import write_transaction

from ..models import Series, Study
from . import held, place
from .outcome import IngestResult, failure_of
from .read import Parsed
from .rows import Work, insert, relpath

ATTEMPTS = 3
# PostgreSQL's "deadlock detected" and "could not serialize": start again, as for a conflict.
_RETRY_STATES = {"40P01", "40001"}


def index_studies(
    studies: list[list[Parsed]], then: Callable[[list[list[IngestResult]]], None] | None = None
) -> list[list[IngestResult]]:
    """Index the files of several studies (one list per study) in one transaction; the
    results in the same shape and order. Commits unless called inside an outer transaction.

    ``then(results)`` is called once with the results: inside the transaction that writes
    them (so what it writes, an access log's rows, commits with them or not at all), or,
    when placing the files failed and nothing was written, after it."""
    order = sorted(range(len(studies)), key=lambda k: studies[k][0].study_instance_uid)
    place.prepare([(one.spooled, relpath(one.attrs)) for batch in studies for one in batch])
    for attempt in range(ATTEMPTS):
        works = [Work(studies[k]) for k in order]
        placement = None
        try:
            with write_transaction():
                _write(works, careful=attempt > 0)
                files = [one for work in works for one in work.to_place]
                if files:
                    placement = place.place(files)
                results = _in_order(order, works)
                if then is not None:
                    then(results)
            return results
        except place.PlaceFailed as exc:  # rows rolled back, no file placed
            for work in works:
                work.results = [
                    work.failed(i, *failure_of(exc.error)) for i in range(len(work.batch))
                ]
            break
        except (IntegrityError, OperationalError) as exc:
            if placement is not None:
                placement.undo()
            if attempt == ATTEMPTS - 1 or not _conflict(exc):
                raise
        except BaseException:
            if placement is not None:
                placement.undo()
            raise
    results = _in_order(order, works)
    if then is not None:
        then(results)
    return results


def _in_order(order: list[int], works: list[Work]) -> list[list[IngestResult]]:
    """The works' results in the order their studies were given (works are in UID order)."""
    results: list = [None] * len(order)
    for k, work in zip(order, works, strict=True):
        results[k] = work.results
    return results


def _conflict(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    return getattr(exc.__cause__, "sqlstate", None) in _RETRY_STATES


def _write(works: list[Work], careful: bool) -> None:
    """Lock the studies the archive holds (one query, in UID order), index into them, then
    insert the new ones together."""
    uids = [work.uid for work in works]
    if len(set(uids)) != len(uids):
        raise ValueError("index_studies takes one list per study")
    with connection.cursor() as cursor:
        cursor.execute(_lock_sql(len(uids)), uids)
        locked = {
            row.study_instance_uid: row
            for row in (
                Study.from_db(connection.alias, _LOCKED, values) for values in cursor.fetchall()
            )
        }
    new = []
    for work in works:
        study = locked.get(work.uid)
        if study is None and not careful and work.sops_unique():
            new.append(work)
        else:
            held.index_into(work, study)
    if new:
        _write_new_studies(new)


# What indexing reads of a study it holds, and whose study it is for the results.
_LOCKED = (
    "id",
    "study_instance_uid",
    "generation",
    "modalities_in_study",
    "patient_id",
    "patient_name",
)


@functools.cache
def _lock_sql(count: int) -> str:
    """``Study.objects.select_for_update().filter(study_instance_uid__in=...).only(...)
    .order_by("study_instance_uid")``, written once per count: compiling that query cost a web
    worker more than running it, on every request."""
    quote = connection.ops.quote_name
    # In the model's order of fields: ``from_db`` takes the values in that order.
    fields = [field for field in Study._meta.concrete_fields if field.attname in _LOCKED]
    columns = ", ".join(quote(field.column) for field in fields)
    uid = quote(Study._meta.get_field("study_instance_uid").column)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    return (
        f"SELECT {columns} FROM {quote(Study._meta.db_table)}"
        f" WHERE {uid} IN ({', '.join(['%s'] * count)}) ORDER BY {uid}{lock}"
    )


def _write_new_studies(works: list[Work]) -> None:
    """Studies the archive does not hold yet, in the fewest statements: the studies and their
    series are inserted with their counts, the instances in one insert. Should another study
    hold one of their series or instances, an insert fails and the next attempt takes the
    careful way, which reports them."""
    studies = insert_objects(Study, [work.new_study() for work in works])
    for work, row in zip(works, studies, strict=True):
        work.study = row
    created = insert_objects(Series, [series for work in works for series in work.new_series()])
    series = {row.series_instance_uid: row for row in created}
    insert(
        [
            (work, i, series[parsed.series_instance_uid])
            for work in works
            for i, parsed in enumerate(work.batch)
        ]
    )
    for work in works:
        work.stamp(1)
