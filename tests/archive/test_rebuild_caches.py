"""manage.py rebuild_caches: stale studies by default, chosen or all studies re-parsed, queued
for the workers with --enqueue, failures reported with a non-zero exit."""

import io

import pytest
from dicom_data import ct_series, receive_one
from django.core.management import CommandError, call_command

from archive.models import Instance, Study

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_preload(settings):
    settings.PRELOAD = False  # studies are stored without caches, as before caches existed
    settings.CACHE_BUILD_DELAY = 0


def store(count=2) -> Study:
    datasets = ct_series(count, rows=8, columns=8)
    for ds in datasets:
        assert receive_one(ds).ok
    return Study.objects.get(study_instance_uid=datasets[0].StudyInstanceUID)


def run(*args) -> str:
    out = io.StringIO()
    call_command("rebuild_caches", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def states() -> dict:
    return {s.study_instance_uid: s.cache_state for s in Study.objects.all()}


def test_default_builds_studies_without_fresh_caches():
    store(), store(3)

    assert run() == "2 studies: 2 built.\n"

    assert set(states().values()) == {"ready"}
    assert not Instance.objects.filter(metadata__isnull=True).exists()
    assert run() == "Every study's caches are up to date.\n"


def test_default_only_takes_stale_studies():
    fresh = store()
    run()
    stale = store()
    Instance.objects.filter(series__study=fresh).update(metadata={"marker": True})

    assert run() == "1 studies: 1 built.\n"
    assert states()[stale.study_instance_uid] == "ready"
    # the fresh study was left alone, marker and all
    assert Instance.objects.filter(series__study=fresh, metadata={"marker": True}).count() == 2


def test_study_flag_parses_the_files_again():
    chosen, other = store(), store()
    run()
    Instance.objects.update(metadata={"marker": True})

    assert run("--study", chosen.study_instance_uid) == "1 studies: 1 built.\n"

    assert not Instance.objects.filter(series__study=chosen, metadata={"marker": True}).exists()
    assert Instance.objects.filter(series__study=other, metadata={"marker": True}).count() == 2


def test_all_flag_parses_every_file_again():
    store(), store()
    run()
    Instance.objects.update(metadata={"marker": True})

    assert run("--all") == "2 studies: 2 built.\n"
    assert not Instance.objects.filter(metadata={"marker": True}).exists()


@pytest.mark.parametrize(
    ("uid", "message"),
    [("1.2.3", "no such study: 1.2.3"), ("1.2.x", "not a valid UID: 1.2.x")],
)
def test_unknown_or_invalid_uid_is_refused_and_nothing_built(uid, message):
    known = store()
    with pytest.raises(CommandError, match=message):
        run("--study", known.study_instance_uid, uid)
    assert states()[known.study_instance_uid] == "pending"


def test_failure_is_reported_and_exits_non_zero():
    broken, fine = store(), store()
    Instance.objects.filter(series__study=broken).first().absolute_path.write_bytes(b"junk")

    with pytest.raises(CommandError, match="1 studies failed"):
        run()

    assert states() == {broken.study_instance_uid: "failed", fine.study_instance_uid: "ready"}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_enqueue_lets_the_workers_build(celery_worker, wait_for):
    study = store()

    assert run("--enqueue") == "1 studies: 1 queued.\n"

    def built():
        study.refresh_from_db()
        return study.cache_state == "ready"

    wait_for(built, message="the worker to build the queued study")
