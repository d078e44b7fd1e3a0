"""Instances of one study indexed together (``archive.ingest.receive`` of many files, as STOW
does): the same rows, counts and files as one by one, and the unusual cases (already stored, sent
twice, other bytes under a stored UID, a series of another study) answered as ``index``
answers them, in the order given."""

import io
import os

import pytest
from dicom_data import ct_series, ct_slice, mr_slice, to_bytes, uid

from archive import ingest, storage
from archive.ingest import Status
from archive.models import Instance, Series, Study

pytestmark = pytest.mark.django_db


def spooled(ds):
    return storage.spool(io.BytesIO(to_bytes(ds)))


def index_together(datasets):
    return ingest.receive(ingest.Arrival.from_spooled(spooled(ds)) for ds in datasets)


def test_two_series_at_once_have_exact_counts_rows_and_files():
    study_uid = uid()
    ct = ct_series(3, rows=16, columns=16, study_uid=study_uid)
    mr = [mr_slice(i, study_uid=study_uid, series_number=2) for i in range(2)]
    mr[1].SeriesInstanceUID = mr[0].SeriesInstanceUID

    results = index_together([ct[0], mr[0], ct[1], mr[1], ct[2]])

    assert [r.status for r in results] == [Status.STORED] * 5
    assert [r.sop_instance_uid for r in results] == [
        ds.SOPInstanceUID for ds in (ct[0], mr[0], ct[1], mr[1], ct[2])
    ]
    study = Study.objects.get(study_instance_uid=study_uid)
    assert study.number_of_study_related_series == 2
    assert study.number_of_study_related_instances == 5
    assert study.modalities_in_study == "CT\\MR"
    assert study.generation == 1
    assert {r.generation for r in results} == {1}
    counts = dict(
        Series.objects.values_list("series_instance_uid", "number_of_series_related_instances")
    )
    assert counts == {ct[0].SeriesInstanceUID: 3, mr[0].SeriesInstanceUID: 2}
    for ds, result in zip([ct[0], mr[0], ct[1], mr[1], ct[2]], results, strict=True):
        instance = Instance.objects.get(pk=result.instance_pk)
        assert instance.sop_instance_uid == ds.SOPInstanceUID
        assert instance.absolute_path.read_bytes() == to_bytes(ds)
        assert instance.frame_offsets
    assert list(storage.incoming_dir().iterdir()) == []


def test_adding_to_a_stored_study_keeps_counting():
    study_uid = uid()
    first = ct_series(2, rows=16, columns=16, study_uid=study_uid)
    index_together(first)
    more = ct_series(2, rows=16, columns=16, study_uid=study_uid)
    for ds in more:
        ds.SeriesInstanceUID = first[0].SeriesInstanceUID
    index_together(more)
    study = Study.objects.get(study_instance_uid=study_uid)
    assert (study.number_of_study_related_series, study.number_of_study_related_instances) == (1, 4)
    assert Series.objects.get().number_of_series_related_instances == 4
    assert study.generation == 2


def test_unusual_instances_in_a_batch_are_answered_one_by_one(settings):
    settings.OVERWRITE_INSTANCES = False
    study_uid = uid()
    stored = ct_slice(0, rows=16, columns=16, study_uid=study_uid, seed=1)
    index_together([stored])
    other_bytes = ct_slice(0, rows=16, columns=16, study_uid=study_uid, seed=2)
    other_bytes.SOPInstanceUID = stored.SOPInstanceUID
    other_bytes.SeriesInstanceUID = stored.SeriesInstanceUID
    other_study_series = ct_slice(0, rows=16, columns=16)  # another study
    index_together([other_study_series])
    wrong_series = ct_slice(1, rows=16, columns=16, study_uid=study_uid)
    wrong_series.SeriesInstanceUID = other_study_series.SeriesInstanceUID
    new = ct_slice(2, rows=16, columns=16, study_uid=study_uid, seed=3)
    before = Instance.objects.get(sop_instance_uid=stored.SOPInstanceUID)

    results = index_together([new, stored, other_bytes, wrong_series, new])

    assert [r.status for r in results] == [
        Status.STORED,
        Status.ALREADY_STORED,
        Status.KEPT_EXISTING,
        Status.REJECTED,
        Status.ALREADY_STORED,
    ]
    assert "another study" in results[3].reason
    after = Instance.objects.get(sop_instance_uid=stored.SOPInstanceUID)
    assert after.sha256 == before.sha256
    assert after.absolute_path.read_bytes() == to_bytes(stored)
    study = Study.objects.get(study_instance_uid=study_uid)
    assert study.number_of_study_related_instances == 2
    assert Instance.objects.filter(series__study=study).count() == 2
    assert after.pk == before.pk
    assert list(storage.incoming_dir().iterdir()) == []


def test_a_file_that_cannot_be_placed_stores_none_of_the_batch(monkeypatch):
    study_uid = uid()
    datasets = ct_series(3, rows=16, columns=16, study_uid=study_uid)
    real_replace = os.replace
    moved = []

    def replace_then_fail(source, target):
        if len(moved) == 2:
            raise OSError(28, "No space left on device")
        moved.append(target)
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace_then_fail)
    results = index_together(datasets)
    monkeypatch.undo()

    assert [r.status for r in results] == [Status.REJECTED] * 3
    assert {r.failure_code for r in results} == {ingest.OUT_OF_RESOURCES}
    assert not Study.objects.filter(study_instance_uid=study_uid).exists()
    assert not Instance.objects.exists()
    assert len(moved) == 2 and not any(os.path.exists(path) for path in moved)
    assert list(storage.incoming_dir().iterdir()) == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_of_one_study_store_each_instance_once():
    """Four requests bringing the same new study at the same moment: one creates it, the
    others wait on its row or retry one by one; every instance is stored once and the counts
    are exact."""
    import threading

    datasets = ct_series(6, rows=16, columns=16)
    payloads = [to_bytes(ds) for ds in datasets]
    results = []
    start = threading.Barrier(4)

    def upload():
        from django.db import connection

        try:
            files = [storage.spool(io.BytesIO(data)) for data in payloads]
            start.wait()
            results.append(ingest.receive(ingest.Arrival.from_spooled(f) for f in files))
        finally:
            connection.close()

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = [result.status for batch in results for result in batch]
    assert len(statuses) == 24
    assert statuses.count(Status.STORED) == 6
    assert statuses.count(Status.ALREADY_STORED) == 18
    study = Study.objects.get(study_instance_uid=datasets[0].StudyInstanceUID)
    assert study.number_of_study_related_instances == 6
    assert study.number_of_study_related_series == 1
    assert Series.objects.get().number_of_series_related_instances == 6
    assert Instance.objects.count() == 6
    assert list(storage.incoming_dir().iterdir()) == []


KILLED_AFTER_PLACING = """
import io, os, signal, sys
import django
django.setup()
from archive import storage
from archive.ingest import Arrival, receive

real = storage.place_many

def place_then_die(files):
    placed = real(files)
    os.kill(os.getpid(), signal.SIGKILL)  # after the renames, before the commit

storage.place_many = place_then_die
receive([Arrival.from_path(path) for path in sys.argv[1:]])
"""


@pytest.mark.django_db(transaction=True)
def test_a_process_killed_between_placing_and_commit_leaves_files_a_sweep_settles(
    database_url, settings, tmp_path
):
    """kill -9 of a writer after its files were renamed into place but before its rows
    committed: the files are there without rows, named by the journal; settling removes
    exactly those, and a stored instance beside them stays."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from archive.ingest import place

    storage_dir = settings.DICOM_STORAGE_DIR = tmp_path / "archive"
    kept = ct_slice(rows=16, columns=16)
    assert ingest.receive([ingest.Arrival.from_spooled(spooled(kept))])[0].ok
    paths = []
    for i, ds in enumerate(ct_series(3, rows=16, columns=16)):
        paths.append(tmp_path / f"{i}.dcm")
        paths[-1].write_bytes(to_bytes(ds))
    env = {**os.environ, "DATABASE_URL": database_url, "DICOM_STORAGE_DIR": str(storage_dir)}
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_PLACING, *map(str, paths)], env=env, cwd=root
    )
    assert run.returncode == -signal.SIGKILL

    named = set(Instance.objects.values_list("file_path", flat=True))
    on_disk = {
        str(p.relative_to(storage.root())) for p in storage.root().rglob("*.dcm") if p.is_file()
    }
    orphans = on_disk - named
    assert len(orphans) == 3  # placed, never committed
    assert list(storage.placing_dir().iterdir())  # and named by a journal

    assert place.settle_interrupted(older_than=3600) == 0  # too young: may be under way
    assert place.settle_interrupted(older_than=0) == 3
    after = {
        str(p.relative_to(storage.root())) for p in storage.root().rglob("*.dcm") if p.is_file()
    }
    assert after == named
    assert Instance.objects.get().absolute_path.read_bytes() == to_bytes(kept)
    assert list(storage.placing_dir().iterdir()) == []


def one_instance_studies(count):
    return [ct_slice(0, rows=8, columns=8) for _ in range(count)]


def test_a_slice_of_new_studies_costs_the_statements_of_one():
    """New studies arriving together (an import, a modality's association) share one
    transaction: the statements do not grow with the number of studies."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from archive.ingest import index

    costs = []
    for count in (1, 12):
        parsed = [[ingest.read.parse(spooled(ds))] for ds in one_instance_studies(count)]
        with CaptureQueriesContext(connection) as queries:
            results = index.index_studies(parsed)
        assert [r.status for rs in results for r in rs] == [Status.STORED] * count
        costs.append(len(queries))
    assert costs[0] == costs[1]
    assert Study.objects.count() == 13
    assert set(Study.objects.values_list("number_of_study_related_instances", flat=True)) == {1}
    for row in Instance.objects.all():
        assert storage.root().joinpath(row.file_path).stat().st_size == row.file_size


def test_results_name_the_patient_as_the_study_row_does():
    """The access log takes the patient from the results: a study already held gives its row's
    patient (read with the row's lock, not by another query), whatever the new file says."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from archive.ingest import index

    first = ct_slice(0, rows=8, columns=8, patient_id="PID-ROW")
    (new,) = index_together([first])
    later = ct_slice(1, rows=8, columns=8, study_uid=first.StudyInstanceUID, patient_id="PID-2")
    with CaptureQueriesContext(connection) as queries:
        ((added,),) = index.index_studies([[ingest.read.parse(spooled(later))]])

    assert (new.patient_id, new.patient_name) == ("PID-ROW", str(first.PatientName))
    assert (added.status, added.patient_id) == (Status.STORED, "PID-ROW")
    assert added.patient_name == str(first.PatientName)
    reads = [q for q in queries if q["sql"].startswith("SELECT") and '"archive_study"' in q["sql"]]
    assert len(reads) == 1


def test_new_held_and_conflicting_studies_in_one_slice():
    """A slice with a new study, a study already held and a new study that names the held
    study's series: each gets the answer it would get alone, with exact counts."""
    held_uid = uid()
    first = ct_slice(0, rows=8, columns=8, study_uid=held_uid)
    index_together([first])
    new = ct_slice(0, rows=8, columns=8)
    added = ct_slice(1, rows=8, columns=8, study_uid=held_uid)
    thief = ct_slice(0, rows=8, columns=8, series_uid=first.SeriesInstanceUID)

    results = index_together([thief, new, added])

    assert [r.status for r in results[1:]] == [Status.STORED, Status.STORED]
    assert results[0].status == Status.REJECTED
    assert "already belongs to another study" in results[0].reason
    held = Study.objects.get(study_instance_uid=held_uid)
    assert held.number_of_study_related_instances == 2
    assert held.generation == 2
    fresh = Study.objects.get(study_instance_uid=new.StudyInstanceUID)
    assert fresh.number_of_study_related_instances == 1
    assert Instance.objects.count() == 3
    assert Series.objects.get(series_instance_uid=first.SeriesInstanceUID).study == held
    assert not Study.objects.filter(study_instance_uid=thief.StudyInstanceUID).exists()
    assert list(storage.incoming_dir().iterdir()) == []


@pytest.mark.django_db(transaction=True)
def test_writers_bringing_the_same_new_studies_in_other_orders_store_each_once():
    """Four writers, each with the same eight new studies in its own order, at once: studies
    are locked and inserted in UID order, so none deadlocks and each instance is stored once."""
    import random
    import threading

    payloads = [to_bytes(ds) for ds in one_instance_studies(8)]
    results = []
    start = threading.Barrier(4)

    def upload(seed):
        from django.db import connection

        order = payloads[:]
        random.Random(seed).shuffle(order)
        try:
            files = [storage.spool(io.BytesIO(data)) for data in order]
            start.wait()
            results.append(ingest.receive(ingest.Arrival.from_spooled(f) for f in files))
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = [result.status for batch in results for result in batch]
    assert len(statuses) == 32
    assert statuses.count(Status.STORED) == 8
    assert statuses.count(Status.ALREADY_STORED) == 24
    assert Study.objects.count() == 8
    assert set(Study.objects.values_list("number_of_study_related_instances", flat=True)) == {1}
    assert Instance.objects.count() == 8
    assert list(storage.incoming_dir().iterdir()) == []


@pytest.mark.django_db(transaction=True)
def test_instances_received_is_sent_inside_the_slice_transaction():
    """What its receivers write (the access log's rows) commits with the rows they record, and
    a receiver that fails takes the slice back: no rows, no files, no spool left."""
    from django.db import connection

    from accounts.models import AccessEvent

    seen = []

    def inside(sender, arrivals, results, **kwargs):
        seen.append((connection.in_atomic_block, Instance.objects.count()))

    ingest.instances_received.connect(inside)
    try:
        results = index_together(ct_series(2, rows=8, columns=8))
    finally:
        ingest.instances_received.disconnect(inside)
    assert [r.status for r in results] == [Status.STORED] * 2
    assert seen == [(True, 2)]
    assert AccessEvent.objects.filter(action="store").count() == 1

    def failing(sender, arrivals, results, **kwargs):
        raise RuntimeError("a receiver failed")

    refused = ct_series(2, rows=8, columns=8)
    ingest.instances_received.connect(failing)
    try:
        with pytest.raises(RuntimeError):
            index_together(refused)
    finally:
        ingest.instances_received.disconnect(failing)
    assert Instance.objects.count() == 2
    assert AccessEvent.objects.filter(action="store").count() == 1
    names = {f"{ds.SOPInstanceUID}.dcm" for ds in refused}
    assert not [p for p in storage.root().rglob("*.dcm") if p.name in names]
    assert not list(storage.incoming_dir().iterdir())


@pytest.mark.django_db(transaction=True)
def test_indexing_into_a_held_study_locks_its_row():
    """Two writers into one held study wait for each other on its row (PostgreSQL): the
    statement that reads the held studies takes their row locks."""
    import threading

    from django.db import OperationalError, connection, transaction

    from archive.ingest import index

    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's (SQLite's writer takes the database)")
    study = ct_slice(0, rows=8, columns=8)
    index_together([study])
    holding, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(index._lock_sql(1), [study.StudyInstanceUID])
                assert len(cursor.fetchall()) == 1
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(10)
        with pytest.raises(OperationalError), transaction.atomic():
            Study.objects.select_for_update(nowait=True).filter(
                study_instance_uid=study.StudyInstanceUID
            ).first()
    finally:
        release.set()
        thread.join(10)
