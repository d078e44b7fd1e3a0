"""Prepared statements on PostgreSQL for work made of the same statements again and again.

Planning a statement costs PostgreSQL more than running it when the statement finds one row by
a key or inserts a few: for a STOW request of twenty small instances, parsing and planning its
statements was about a fifth of the database server's CPU (bench/README, session 11). psycopg
can prepare a statement once per connection and reuse its plan, but the archive keeps that off
by default (``prepare_threshold`` in settings): a plan kept for a wildcard search can be far
slower than one made for its pattern. Inside ``prepared_statements()`` a statement this
connection has run before is prepared; what runs there (ingest's indexing, the cache builds,
QIDO searches led by a UID or PatientID) looks rows up by key and inserts them, whatever the
values. A lookup whose good plan needs
statistics that a new archive has not gathered yet stays outside: ingest's search for bytes
already stored, by hash, was kept as a scan of the whole table. Knows nothing of the archive.
"""

import contextlib

from django.db import connection


@contextlib.contextmanager
def prepared_statements():
    """Nothing changes on SQLite, or when values are not bound on the server
    (DATABASE_PREPARED_STATEMENTS off, behind a pooler that cannot keep them)."""
    if connection.vendor != "postgresql" or not connection.settings_dict["OPTIONS"].get(
        "server_side_binding"
    ):
        yield
        return
    connection.ensure_connection()
    raw = connection.connection
    before = raw.prepare_threshold
    raw.prepare_threshold = 1
    try:
        yield
    finally:
        raw.prepare_threshold = before
