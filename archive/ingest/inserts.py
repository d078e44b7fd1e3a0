"""Inserting many new rows of one model with one statement, without building model objects.

Django's ``bulk_create`` makes a model instance per row and compiles every value of every row
through the field's conversions: for the twenty-odd columns of an instance row that was a
tenth of storing a small file. The rows written here hold text, numbers, JSON and the
creation time only, so the statement is compiled once per model and column list, and each
value is converted only where its field needs it (JSON, dates). The pks come back in row
order (``RETURNING``), as ``bulk_create`` relies on too.
"""

import functools

from django.db import connection
from django.db.models import DateTimeField, JSONField, Model
from django.utils import timezone

# Fields whose values the database driver cannot take as they are.
_CONVERTED = (JSONField, DateTimeField)


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
    pks: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            params = []
            for row in chunk:
                for name, field, convert in zip(names, given, converting, strict=True):
                    value = row[name]
                    params.append(_prepared(field, value) if convert else value)
                params.extend(rest)
            values = ", ".join([f"({', '.join(['%s'] * per_row)})"] * len(chunk))
            cursor.execute(f"{sql} VALUES {values} RETURNING {_pk(model)}", params)
            pks.extend(row[0] for row in cursor.fetchall())
    return pks


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
