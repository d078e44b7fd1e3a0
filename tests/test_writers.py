"""SQLite's writer lock (``ohifsite.writers.write_transaction``): held for the transaction,
released at its commit before the commit's hooks run, and released by a rollback."""

import fcntl

import pytest
from django.db import connection, transaction

from ohifsite.writers import write_transaction

pytestmark = pytest.mark.django_db(transaction=True)


def _free() -> bool:
    """Whether another writer could take the lock now (flock conflicts between two opens of
    the file, in one process too)."""
    with open(f"{connection.settings_dict['NAME']}.writer-lock", "ab") as other:
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(other, fcntl.LOCK_UN)
        return True


def test_the_lock_is_held_in_the_transaction_and_gone_before_the_commit_hooks():
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL writers queue on row locks")
    seen = []
    with write_transaction():
        seen.append(_free())
        transaction.on_commit(lambda: seen.append(_free()))
    assert seen == [False, True]
    assert _free()


def test_a_rollback_releases_the_lock_and_runs_no_hook():
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL writers queue on row locks")
    seen = []
    with pytest.raises(ZeroDivisionError), write_transaction():
        transaction.on_commit(lambda: seen.append("hook"))
        1 / 0  # noqa: B018
    assert seen == []
    assert _free()


def test_inside_an_outer_transaction_it_is_a_savepoint_without_the_lock():
    with transaction.atomic(), write_transaction():
        assert connection.in_atomic_block
        assert connection.vendor != "sqlite" or _free()


def test_sqlite_keeps_its_temporary_tables_in_memory():
    """On disk, SQLite made and deleted a file in TMPDIR for every STOW request."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's setting")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA temp_store")
        assert cursor.fetchone()[0] == 2  # MEMORY
