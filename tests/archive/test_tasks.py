"""A real Celery worker builds the caches after ingest (on Redis in pass 1, on the embedded
filesystem broker in pass 2)."""

import contextlib
import gzip
import json
import os
import time
import urllib.parse
from pathlib import Path

import pytest
from dicom_data import ct_series, receive_one

from archive import caches, tasks
from archive.models import Instance, Series, Study

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def no_build_delay(settings):
    settings.CACHE_BUILD_DELAY = 0
    settings.PRELOAD = True


def receive(datasets):
    for ds in datasets:
        result = receive_one(ds)
        assert result.ok, result.reason
    return Study.objects.get(study_instance_uid=datasets[0].StudyInstanceUID)


def ready(wait_for, study: Study, instances: int):
    def check():
        study.refresh_from_db()
        return study.cache_state == "ready" and _stored_count(study) == instances

    wait_for(check, timeout=60, message=f"caches of {study} with {instances} instances")


def _stored_count(study: Study) -> int:
    series = Series.objects.get(study=study)
    if series.metadata_json is None:
        return -1
    return len(json.loads(gzip.decompress(bytes(series.metadata_json))))


def worker_log(tmp_path_factory) -> str:
    # pytest also links "workercurrent" to the newest folder: read each file once.
    logs = sorted({p.resolve() for p in tmp_path_factory.getbasetemp().glob("worker*/worker.log")})
    return "".join(path.read_text() for path in logs)


def test_worker_builds_caches_after_ingest(celery_worker, wait_for):
    datasets = ct_series(4, rows=64, columns=64)
    study = receive(datasets)

    ready(wait_for, study, 4)

    assert Instance.objects.filter(series__study=study, metadata__isnull=True).count() == 0
    series = Series.objects.get(study=study)
    assert series.metadata_generation == study.generation
    stored = json.loads(gzip.decompress(bytes(series.metadata_json)))
    assert [i["00080018"]["Value"][0] for i in stored] == [ds.SOPInstanceUID for ds in datasets]
    doc = json.loads(gzip.decompress(bytes(study.ohif_json)))
    assert doc["studies"][0]["NumInstances"] == 4
    assert doc["studies"][0]["PatientName"] == "Doe^Jane"


def test_new_instance_rebuilds_with_new_count(celery_worker, wait_for):
    datasets = ct_series(3, rows=64, columns=64)
    study = receive(datasets[:2])
    ready(wait_for, study, 2)

    receive(datasets[2:])

    ready(wait_for, study, 3)
    doc = json.loads(gzip.decompress(bytes(study.ohif_json)))
    assert doc["studies"][0]["NumInstances"] == 3


def test_task_for_a_deleted_study_ends_quietly(celery_worker, wait_for, tmp_path_factory, settings):
    settings.CACHE_BUILD_DELAY = 1  # the study is gone before the worker gets to it
    study = receive(ct_series(1, rows=16, columns=16))
    pk, generation = study.pk, study.generation
    study.delete()
    sent = tasks.build_caches.delay(pk, generation)

    def finished():
        lines = worker_log(tmp_path_factory).splitlines()
        return [line for line in lines if f"[{sent.id}] succeeded" in line]

    (line,) = wait_for(finished, message="the worker to finish the task for the deleted study")
    assert line.endswith("'deleted'")
    # The worker is still serving: the next study is built.
    later = receive(ct_series(2, rows=16, columns=16))
    ready(wait_for, later, 2)


def test_preload_off_builds_nothing_until_first_request(celery_worker, wait_for, settings):
    settings.PRELOAD = False
    lazy = receive(ct_series(2, rows=16, columns=16))
    settings.PRELOAD = True
    sentinel = receive(ct_series(1, rows=16, columns=16))
    ready(wait_for, sentinel, 1)  # the worker has been through the queue

    lazy.refresh_from_db()
    assert lazy.cache_state == "pending" and lazy.ohif_json is None
    assert not Instance.objects.filter(series__study=lazy, metadata__isnull=False).exists()

    document = caches.study_ohif_json(lazy)

    assert json.loads(gzip.decompress(document))["studies"][0]["NumInstances"] == 2
    lazy.refresh_from_db()
    assert lazy.cache_state == "ready"
    assert _stored_count(lazy) == 2


def test_the_worker_runs_at_a_lower_cpu_priority_than_the_web_server(celery_worker):
    from django.conf import settings

    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert settings.WORKER_NICE == 10
    assert os.getpriority(os.PRIO_PROCESS, celery_worker.pid) == min(19, ours + 10)


def test_the_worker_keeps_its_database_connection_from_one_build_to_the_next(
    celery_worker, wait_for, database_url
):
    """Celery's own rule opens a connection for every task (for PostgreSQL, a new backend per
    cache build); the worker keeps one as the web does (DATABASE_CONN_MAX_AGE)."""
    held = []
    for _ in range(2):
        study = receive(ct_series(1, rows=16, columns=16))
        ready(wait_for, study, 1)
        time.sleep(0.5)  # Celery closed the connection right after the task, when it did
        held.append(_database_handles(celery_worker.pid, database_url))

    assert held[0], "no database connection open in the worker after a build"
    assert held[1] == held[0]


def _database_handles(pid: int, database_url: str) -> set[str]:
    """The worker's open connections to the database, each as its descriptor and what it
    points to: the SQLite file, or a TCP socket to PostgreSQL's port (a new connection is a new
    socket inode)."""
    links = {}
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            links[fd.name] = os.readlink(fd)
    if database_url.startswith("sqlite"):
        wanted = {database_url.removeprefix("sqlite:///")}
    else:
        port = f"{urllib.parse.urlsplit(database_url).port or 5432:04X}"
        wanted = set()
        for table in ("tcp", "tcp6"):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if fields[2].endswith(f":{port}"):
                    wanted.add(f"socket:[{fields[9]}]")
    return {f"{fd} -> {link}" for fd, link in links.items() if link in wanted}


def test_the_studies_of_one_arrival_are_built_from_one_message(
    celery_worker, wait_for, tmp_path_factory
):
    """An import's slice of one-instance studies: one message builds every study of it."""
    import io

    from dicom_data import to_bytes

    from archive import ingest, storage

    datasets = [ct_series(1, rows=16, columns=16)[0] for _ in range(5)]
    before = len(worker_log(tmp_path_factory).splitlines())
    results = ingest.receive(
        ingest.Arrival.from_spooled(storage.spool(io.BytesIO(to_bytes(ds)))) for ds in datasets
    )
    assert [r.status for r in results] == [ingest.Status.STORED] * 5

    for ds in datasets:
        ready(wait_for, Study.objects.get(study_instance_uid=ds.StudyInstanceUID), 1)
    lines = worker_log(tmp_path_factory).splitlines()[before:]
    received = [line for line in lines if "received" in line]

    assert sum("archive.tasks.build_caches_of" in line for line in received) == 1
    assert not any("archive.tasks.build_caches[" in line for line in received)


def test_builds_of_studies_given_without_a_generation_read_them_in_one_query(
    django_assert_num_queries, django_capture_on_commit_callbacks
):
    """The DICOM listener and the sweep queue studies by pk alone: their current generations
    come from one query, not one a study."""
    from django.db import transaction

    studies = [receive(ct_series(1, rows=16, columns=16)) for _ in range(5)]
    with (
        transaction.atomic(),
        django_capture_on_commit_callbacks() as sent,
        django_assert_num_queries(1),
    ):
        tasks.enqueue_cache_builds([(study.pk, None) for study in studies])
        pending = dict(tasks._latest_generations())  # before the commit sends them
    assert len(sent) == 1
    assert {key[0]: g for key, g in pending.items()} == {s.pk: s.generation for s in studies}
