"""Inserting many new rows of one model with one statement, as ``bulk_create`` does, cheaper.

Django's ``bulk_create`` compiles every value of every row through the field's conversions and
the statement anew each time: for the twenty-odd columns of an instance row that was a tenth
of storing a small file, and a new study's row, its series' and its access log's cost about as
much again. The rows written here hold text, numbers, bytes, JSON, addresses and times, so the
statement is compiled once per model and column list, and each value is converted only where
its field needs it. The pks come back in row order (``RETURNING``), as ``bulk_create`` relies
on too. Knows nothing of the archive.

On PostgreSQL the statement goes to psycopg with the server's own placeholders (``$1``): with
Django's ``%s``, psycopg parses the text again for every statement of more than 50 values
(it keeps the parse of shorter ones only), and twenty instance rows hold 440: 7% of a STOW
request's CPU (bench/README, session 11).
"""

import contextlib
import functools

import psycopg
from django.db import connection
from django.db.models import DateTimeField, GenericIPAddressField, JSONField, Model
from django.utils import timezone

# Fields whose values the database driver cannot take as they are.
_CONVERTED = (JSONField, DateTimeField, GenericIPAddressField)


def insert_rows(model: type[Model], rows: list[dict]) -> list[int]:
    """Insert ``rows`` (field attname -> value, the same keys in each) and return their pks.
    A field not given gets its default, an ``auto_now_add`` field the time now, as ``save``
    gives them."""
    if not rows:
        return []
    names = tuple(rows[0])
    sql, given, others = _statement(model, names)
    now = timezone.now()
    rest = [
        _prepared(field, now if getattr(field, "auto_now_add", False) else field.get_default())
        for field in others
    ]
    converting = [isinstance(field, _CONVERTED) for field in given]
    per_row = len(given) + len(others)
    batch = max(1, connection.ops.bulk_batch_size([*given, *others], rows))
    native = connection.vendor == "postgresql" and not connection.queries_logged
    pks: list[int] = []
    with _cursor(native) as cursor:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            params = []
            for row in chunk:
                for name, field, convert in zip(names, given, converting, strict=True):
                    value = row[name]
                    params.append(_prepared(field, value) if convert else value)
                params.extend(rest)
            values = _values(per_row, len(chunk), native)
            cursor.execute(f"{sql} VALUES {values} RETURNING {_pk(model)}", params)
            pks.extend(row[0] for row in cursor.fetchall())
    return pks


def insert_objects(model: type[Model], objects: list[Model]) -> list[Model]:
    """``bulk_create(objects)`` for new model instances: every field's value but the pk (the
    times of ``auto_now`` and ``auto_now_add`` fields set now, as ``save`` sets them), and
    each object gets its pk."""
    now = timezone.now()
    names = _object_fields(model)
    for name in _times(model):
        for one in objects:
            setattr(one, name, now)
    pks = insert_rows(model, [{name: getattr(one, name) for name in names} for one in objects])
    for one, pk in zip(objects, pks, strict=True):
        one.pk = pk
        one._state.adding = False
        one._state.db = connection.alias
    return objects


@functools.cache
def _object_fields(model: type[Model]) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_fields if not field.primary_key)


@functools.cache
def _times(model: type[Model]) -> tuple[str, ...]:
    return tuple(
        field.attname
        for field in model._meta.concrete_fields
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    )


@contextlib.contextmanager
def _cursor(native: bool):
    """Django's cursor, or psycopg's that takes ``$1`` (Django's errors all the same)."""
    if not native:
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.RawCursor(connection.connection) as cursor:
        yield cursor


@functools.cache
def _values(per_row: int, rows: int, native: bool) -> str:
    """``(%s, %s), (%s, %s)``, or with ``native`` ``($1, $2), ($3, $4)``."""
    if not native:
        return ", ".join([f"({', '.join(['%s'] * per_row)})"] * rows)
    numbers = iter(range(1, per_row * rows + 1))
    return ", ".join(
        f"({', '.join(f'${next(numbers)}' for _ in range(per_row))})" for _ in range(rows)
    )


def _prepared(field, value):
    return field.get_db_prep_save(value, connection=connection)


@functools.cache
def _statement(model: type[Model], names: tuple[str, ...]):
    """``INSERT INTO table (columns)``, the fields given (in ``names`` order), and the other
    concrete fields but the pk (their values are the same in every row)."""
    meta = model._meta
    by_attname = {field.attname: field for field in meta.concrete_fields}
    given = [by_attname[name] for name in names]
    others = [
        field
        for field in meta.concrete_fields
        if field.attname not in names and not field.primary_key
    ]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in (*given, *others))
    return f"INSERT INTO {quote(meta.db_table)} ({columns})", given, others


def _pk(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.pk.column)
