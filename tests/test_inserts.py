"""``ohifsite.inserts.insert_rows`` writes what Django's ``bulk_create`` writes: every column,
defaults and creation times included, and the pks in row order."""

import datetime

import pytest
from django.utils import timezone

from archive.models import Instance, Series, Study
from ohifsite.inserts import insert_rows

pytestmark = pytest.mark.django_db


def _values(uid: str, series: Series) -> dict:
    return {
        "series_id": series.pk,
        "sop_instance_uid": uid,
        "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2",
        "instance_number": 7,
        "transfer_syntax_uid": "1.2.840.10008.1.2.1",
        "rows": 64,
        "columns": None,
        "photometric_interpretation": "MONOCHROME2",
        "content_date": "20260101",
        "frame_offsets": [[1234, 8192]],
        "file_path": f"a/b/{uid}.dcm",
        "file_size": 9358,
        "sha256": "ab" * 32,
    }


def test_rows_equal_those_bulk_create_writes_and_pks_come_in_order():
    study = Study.objects.create(study_instance_uid="1.2.3")
    series = Series.objects.create(study=study, series_instance_uid="1.2.3.4")
    before = timezone.now()
    ours = insert_rows(Instance, [_values(f"1.2.3.4.{i}", series) for i in range(30)])
    django = Instance.objects.bulk_create(
        Instance(**_values(f"1.2.3.5.{i}", series)) for i in range(30)
    )

    assert [
        row.sop_instance_uid for row in Instance.objects.filter(pk__in=ours).order_by("pk")
    ] == [f"1.2.3.4.{i}" for i in range(30)]
    assert [Instance.objects.get(pk=pk).sop_instance_uid for pk in ours] == [
        f"1.2.3.4.{i}" for i in range(30)
    ]
    for pk, row in zip(ours, django, strict=True):
        mine = Instance.objects.filter(pk=pk).values().get()
        theirs = Instance.objects.filter(pk=row.pk).values().get()
        assert mine["created_at"] - before < datetime.timedelta(minutes=1)
        assert mine["created_at"].tzinfo is not None
        for key in ("id", "created_at", "sop_instance_uid", "file_path"):
            mine.pop(key), theirs.pop(key)
        assert mine == theirs
        assert mine["frame_offsets"] == [[1234, 8192]]
        assert mine["metadata"] is None and mine["number_of_frames"] is None


def test_nothing_to_insert_is_no_statement(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert insert_rows(Instance, []) == []


def test_a_row_that_breaks_a_constraint_raises_djangos_integrity_error():
    """Ingest starts again on Django's IntegrityError (a concurrent writer): on PostgreSQL the
    statement goes through psycopg's own cursor, whose errors must arrive as Django's."""
    from django.db import IntegrityError, transaction

    study = Study.objects.create(study_instance_uid="1.2.3")
    series = Series.objects.create(study=study, series_instance_uid="1.2.3.4")
    insert_rows(Instance, [_values("1.2.3.4.1", series)])
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(Instance, [_values("1.2.3.4.2", series), _values("1.2.3.4.1", series)])
    assert Instance.objects.count() == 1


def test_postgresql_is_not_made_to_parse_a_long_statement_again(monkeypatch):
    """With Django's ``%s``, psycopg parses a statement of more than 50 values every time
    (``_query2pg_nocache``); twenty instance rows have 440."""
    from django.db import connection
    from psycopg import _queries

    if connection.vendor != "postgresql":
        pytest.skip("psycopg's")
    parsed = []
    real = _queries._query2pg_nocache
    monkeypatch.setattr(_queries, "_query2pg_nocache", lambda *a: parsed.append(1) or real(*a))
    study = Study.objects.create(study_instance_uid="1.2.3")
    series = Series.objects.create(study=study, series_instance_uid="1.2.3.4")
    pks = insert_rows(Instance, [_values(f"1.2.3.4.{i}", series) for i in range(20)])
    assert len(pks) == 20 and parsed == []


def test_objects_are_written_as_bulk_create_writes_them_and_get_their_pks():
    from accounts.models import AccessEvent
    from ohifsite.inserts import insert_objects

    before = timezone.now()
    ours = insert_objects(
        Study, [Study(study_instance_uid=f"1.2.{i}", patient_name="Doe^J") for i in range(3)]
    )
    django = Study.objects.bulk_create(
        [Study(study_instance_uid=f"1.3.{i}", patient_name="Doe^J") for i in range(3)]
    )
    for mine, theirs in zip(ours, django, strict=True):
        assert mine.pk is not None and not mine._state.adding
        stored = Study.objects.filter(pk=mine.pk).values().get()
        other = Study.objects.filter(pk=theirs.pk).values().get()
        assert stored["study_instance_uid"] == mine.study_instance_uid
        assert stored["created_at"] == mine.created_at and mine.created_at >= before
        assert stored["updated_at"] == mine.updated_at
        for key in ("id", "created_at", "updated_at", "study_instance_uid"):
            stored.pop(key), other.pop(key)
        assert stored == other

    events = insert_objects(
        AccessEvent,
        [AccessEvent(action="store", ip=""), AccessEvent(action="store", ip="192.0.2.7")],
    )
    assert list(
        AccessEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("pk").values_list("ip")
    ) == [(None,), ("192.0.2.7",)]
