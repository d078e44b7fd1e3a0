"""Prepared statements inside ``ohifsite.prepared.prepared_statements`` (ingest and the cache
builds run in it):
a statement the connection ran before is prepared there, and nothing is prepared outside."""

import pytest
from dicom_data import ct_slice, receive_one, uid
from django.db import connection

from ohifsite.prepared import prepared_statements

pytestmark = pytest.mark.django_db


def _prepared(pattern: str) -> int:
    """Prepared statements whose text is like ``pattern`` (starts with it, unless it says)."""
    pattern = pattern if "%" in pattern else f"{pattern}%"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", [pattern]
        )
        return cursor.fetchone()[0]


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's prepared statements")
    if not connection.settings_dict["OPTIONS"].get("server_side_binding"):
        pytest.skip("DATABASE_PREPARED_STATEMENTS is off")


def test_ingest_prepares_its_statements_from_the_second_time(postgresql):
    insert = 'INSERT INTO "archive_instance"'
    study = uid()
    assert receive_one(ct_slice(0, rows=8, columns=8, study_uid=study)).ok
    assert _prepared(insert) == 0
    for i in (1, 2):  # the new study's instances, then one more study's
        assert receive_one(ct_slice(i, rows=8, columns=8, study_uid=study if i == 1 else uid())).ok
    assert _prepared(insert) == 1  # prepared once, then reused
    # Not the lookup of stored bytes: a plan kept for it before there are statistics scans.
    assert _prepared("%i.sha256 IN%") == 0


def test_cache_builds_prepare_their_statements(postgresql):
    from archive import caches
    from archive.models import Study

    for _ in range(3):
        assert receive_one(ct_slice(0, rows=8, columns=8)).ok
    for study in Study.objects.all():
        assert caches.build(study.pk, study.generation) == "built"
    assert _prepared('UPDATE "archive_instance" SET "metadata"') == 1


def test_outside_nothing_new_is_prepared(postgresql):
    connection.ensure_connection()
    threshold = connection.connection.prepare_threshold
    with prepared_statements(), connection.cursor() as cursor:
        for _ in range(3):
            cursor.execute("SELECT %s::int + 1", [1])
    assert _prepared("SELECT $1::int + 1") == 1
    assert connection.connection.prepare_threshold == threshold
    other = "SELECT %s::int + 2"
    with connection.cursor() as cursor:
        for _ in range(3):
            cursor.execute(other, [1])
    assert _prepared("SELECT $1::int + 2") == 0


def test_sqlite_is_left_alone():
    if connection.vendor == "postgresql":
        pytest.skip("SQLite")
    with prepared_statements(), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
