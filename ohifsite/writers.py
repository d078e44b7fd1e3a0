"""SQLite's one writer, queued fairly: the writes that every request makes (an ingest slice,
its access log rows) wait for each other on a file lock beside the database.

SQLite lets one transaction write at a time, and a writer that finds the database locked
sleeps (1, 2, 5, 10, ... 100 ms: SQLite's busy handler) before it looks again: with four STOW
clients a request spent a quarter of its time asleep there. A file lock is handed by the kernel
to the next waiter the moment it is released. Other writers (a cache build, the admin) still
take their turn through the busy handler. Knows nothing of the archive.
"""

import contextlib
import fcntl

from django.db import connection, transaction


@contextlib.contextmanager
def write_transaction():
    """``transaction.atomic()`` for a write on the default database, queued on the file lock
    on SQLite. The lock goes at the commit, before the commit's hooks run (a Celery message,
    a journal's removal): the next writer need not wait for them. Nothing is queued on
    PostgreSQL (row locks), for an in-memory database, or inside an outer transaction: that
    may hold the database's lock already, and waiting for the file lock while holding it
    could deadlock."""
    if connection.vendor != "sqlite" or connection.in_atomic_block or connection.is_in_memory_db():
        with transaction.atomic():
            yield
        return
    # A file opened each time: threads of one process exclude each other too. Closing it
    # releases the lock whatever happened (a rollback drops the hook below).
    with open(f"{connection.settings_dict['NAME']}.writer-lock", "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with transaction.atomic():
            transaction.on_commit(lambda: fcntl.flock(lock, fcntl.LOCK_UN))  # the first hook
            yield
