"""The caches built in-process: what ``build`` stores, what the readers serve, and that a
document is never served stale. (The worker runs the same ``build``: see test_tasks.py.)"""

import gzip
import json

import pytest
from dicom_data import (
    ct_series,
    ct_slice,
    multiframe,
    pet_slice,
    receive_one,
    uid,
)
from django.db import transaction

from archive import caches
from archive.models import Instance, Series, Study


def store(ds):
    result = receive_one(ds)
    assert result.ok, result.reason
    return result


def stored_series(datasets) -> tuple[Study, Series]:
    for ds in datasets:
        store(ds)
    series = Series.objects.get(series_instance_uid=datasets[0].SeriesInstanceUID)
    return series.study, series


def series_json(series) -> list:
    return json.loads(caches.expand(caches.series_metadata(series), {caches.BASE_PLACEHOLDER: "B"}))


def ohif_doc(study) -> dict:
    document = caches.study_ohif_json(study)
    return json.loads(caches.expand(document, {caches.WADOURI_PLACEHOLDER: "http://h/wado"}))


@pytest.mark.django_db
def test_build_stores_every_level():
    datasets = ct_series(3, rows=16, columns=16)
    study, series = stored_series(list(reversed(datasets)))
    study.refresh_from_db()
    assert study.cache_state == "pending"

    assert caches.build(study.pk, study.generation) == "built"

    study.refresh_from_db()
    series.refresh_from_db()
    assert study.cache_state == "ready" and study.cache_error == ""
    assert series.metadata_generation == study.generation
    assert Instance.objects.filter(metadata__isnull=True).count() == 0
    stored = json.loads(gzip.decompress(bytes(series.metadata_json)))
    assert [i["00200013"]["Value"][0] for i in stored] == [1, 2, 3]
    assert [i["00080018"]["Value"][0] for i in stored] == [ds.SOPInstanceUID for ds in datasets]
    sop = datasets[0].SOPInstanceUID
    assert stored[0]["7FE00010"]["BulkDataURI"] == (
        f"$DICOMWEB_BASE$/studies/{datasets[0].StudyInstanceUID}/series/"
        f"{datasets[0].SeriesInstanceUID}/instances/{sop}/bulk/7FE00010"
    )
    doc = json.loads(gzip.decompress(bytes(study.ohif_json)))
    assert doc["studies"][0]["NumInstances"] == 3
    assert doc["studies"][0]["series"][0]["instances"][0]["url"].startswith(
        "dicomweb:$WADOURI_BASE$?requestType=WADO&"
    )


@pytest.mark.django_db
def test_readers_serve_the_stored_documents_with_the_base_filled_in():
    datasets = ct_series(2, rows=16, columns=16)
    study, series = stored_series(datasets)
    caches.build(study.pk, Study.objects.get(pk=study.pk).generation)

    metadata = series_json(series)
    assert len(metadata) == 2
    assert metadata[0]["7FE00010"]["BulkDataURI"].startswith("B/studies/")
    doc = ohif_doc(study)
    url = doc["studies"][0]["series"][0]["instances"][1]["url"]
    assert url.startswith("dicomweb:http://h/wado?requestType=WADO&")
    assert datasets[1].SOPInstanceUID in url


@pytest.mark.django_db
def test_lazy_readers_build_what_is_missing_and_keep_it():
    study, series = stored_series(ct_series(2, rows=16, columns=16))
    assert Series.objects.get(pk=series.pk).metadata_json is None

    assert len(series_json(series)) == 2
    series.refresh_from_db()
    assert series.metadata_json is not None
    assert series.metadata_generation == Study.objects.get(pk=study.pk).generation

    assert ohif_doc(study)["studies"][0]["NumInstances"] == 2
    assert Study.objects.get(pk=study.pk).cache_state == "ready"


@pytest.mark.django_db
def test_a_new_instance_makes_every_document_stale_and_readers_rebuild():
    datasets = ct_series(3, rows=16, columns=16)
    study, series = stored_series(datasets[:2])
    caches.build(study.pk, Study.objects.get(pk=study.pk).generation)
    assert len(series_json(series)) == 2

    store(datasets[2])
    assert Study.objects.get(pk=study.pk).cache_state == "pending"
    assert len(series_json(series)) == 3
    assert ohif_doc(study)["studies"][0]["NumInstances"] == 3


@pytest.mark.django_db
def test_superseded_build_extracts_instances_but_stores_no_document():
    datasets = ct_series(2, rows=16, columns=16)
    study, series = stored_series(datasets)
    old = Study.objects.get(pk=study.pk).generation - 1

    assert caches.build(study.pk, old) == "superseded"
    assert Instance.objects.filter(metadata__isnull=True).count() == 0
    assert Series.objects.get(pk=series.pk).metadata_json is None
    assert Study.objects.get(pk=study.pk).ohif_json is None


@pytest.mark.django_db
def test_build_for_a_deleted_study_ends_quietly():
    study, _ = stored_series(ct_series(1, rows=8, columns=8))
    pk, generation = study.pk, Study.objects.get(pk=study.pk).generation
    Study.objects.filter(pk=pk).delete()
    assert caches.build(pk, generation) == "deleted"


@pytest.mark.django_db
def test_a_broken_file_is_recorded_on_the_study():
    study, series = stored_series(ct_series(2, rows=8, columns=8))
    instance = series.instance_set.first()
    instance.absolute_path.write_bytes(b"not dicom any more")
    generation = Study.objects.get(pk=study.pk).generation

    outcome = caches.build(study.pk, generation)

    study.refresh_from_db()
    assert outcome.startswith("failed")
    assert study.cache_state == "failed"
    assert "InvalidDicomError" in study.cache_error


@pytest.mark.django_db
def test_a_missing_file_is_recorded_then_raised_for_a_retry():
    study, series = stored_series(ct_series(1, rows=8, columns=8))
    series.instance_set.get().absolute_path.unlink()
    with pytest.raises(OSError):
        caches.build(study.pk, Study.objects.get(pk=study.pk).generation)
    study.refresh_from_db()
    assert study.cache_state == "failed"
    assert "FileNotFoundError" in study.cache_error


@pytest.mark.django_db
def test_a_successful_build_clears_the_error():
    study, _ = stored_series(ct_series(1, rows=8, columns=8))
    Study.objects.filter(pk=study.pk).update(cache_error="earlier failure")
    caches.build(study.pk, Study.objects.get(pk=study.pk).generation)
    study.refresh_from_db()
    assert (study.cache_state, study.cache_error) == ("ready", "")


@pytest.mark.django_db
def test_replaced_instance_gets_fresh_metadata(settings):
    settings.OVERWRITE_INSTANCES = True
    ds = ct_slice(rows=8, columns=8)
    study, series = stored_series([ds])
    caches.build(study.pk, Study.objects.get(pk=study.pk).generation)
    assert series_json(series)[0]["00081030"]["Value"] == ["Generated study"]

    ds.StudyDescription = "Corrected"
    assert store(ds).status == "replaced"
    assert series_json(series)[0]["00081030"]["Value"] == ["Corrected"]


@pytest.mark.django_db
def test_instance_metadata_is_extracted_on_demand():
    ds = pet_slice()
    store(ds)
    instance = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
    metadata = caches.instance_metadata(instance)
    assert metadata["00541001"] == {"vr": "CS", "Value": ["BQML"]}
    assert Instance.objects.get(pk=instance.pk).metadata == metadata


@pytest.mark.django_db
def test_multiframe_study_document_has_frame_entries():
    study_uid = uid()
    store(multiframe(frames=3, study_uid=study_uid))
    store(ct_slice(rows=8, columns=8, study_uid=study_uid, series_number=2))
    doc = ohif_doc(Study.objects.get(study_instance_uid=study_uid))["studies"][0]
    assert doc["NumInstances"] == 2
    assert doc["Modalities"] == "US/CT"
    assert [len(s["instances"]) for s in doc["series"]] == [3, 1]


def test_expand_escapes_for_json():
    document = gzip.compress(json.dumps({"u": "$DICOMWEB_BASE$/x"}).encode())
    out = caches.expand(document, {caches.BASE_PLACEHOLDER: 'http://h/"q"\\é'})
    assert json.loads(out) == {"u": 'http://h/"q"\\é/x'}


@pytest.mark.django_db
def test_readers_of_deleted_rows_raise_does_not_exist():
    ds = ct_slice(rows=8, columns=8)
    store(ds)
    instance = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
    series, study = instance.series, instance.series.study
    Study.objects.filter(pk=study.pk).delete()
    with pytest.raises(Instance.DoesNotExist):
        caches.instance_metadata(instance)
    with pytest.raises(Series.DoesNotExist):
        caches.series_metadata(series)
    with pytest.raises(Study.DoesNotExist):
        caches.study_ohif_json(study)


@pytest.mark.django_db
def test_extract_either_way_writes_each_missing_instance_once(monkeypatch):
    monkeypatch.setattr(caches, "EXTRACT_BATCH", 2)  # several batches from 5 instances
    study, series = stored_series(ct_series(5, rows=8, columns=8))
    instances = Instance.objects.filter(series=series)

    assert caches.extract(instances.filter(instance_number__lte=2)) == 2
    assert caches.extract(instances, backwards=True) == 3
    assert caches.extract(instances) == 0
    assert caches.extract(instances, everything=True, backwards=True) == 5
    assert not instances.filter(metadata__isnull=True).exists()


@pytest.mark.django_db
def test_a_build_looks_for_instances_to_extract_once():
    """A batch shorter than EXTRACT_BATCH was the last one, and the series documents of a build
    use what the build extracted: one query for the rows lacking metadata, for a study of two
    series, not one more per batch and per series."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    first = ct_series(3, rows=8, columns=8)
    second = ct_series(2, rows=8, columns=8, study_uid=first[0].StudyInstanceUID)
    study, _ = stored_series(first + second)
    study.refresh_from_db()
    assert study.series_set.count() == 2

    with CaptureQueriesContext(connection) as queries:
        assert caches.build(study.pk, study.generation) == "built"

    looked = [q["sql"] for q in queries.captured_queries if '"metadata" IS NULL' in q["sql"]]
    assert len(looked) == 1
    assert not Instance.objects.filter(metadata__isnull=True).exists()
    assert [len(series_json(series)) for series in study.series_set.order_by("pk")] == [3, 2]


@pytest.mark.django_db
def test_a_batch_writes_only_the_rows_whose_file_is_still_the_one_parsed():
    """One file replaced while its batch was parsed (another sha256), one instance deleted
    (nothing parsed): the others' metadata is written, in one statement, with its JSON as is."""
    study, series = stored_series(ct_series(4, rows=8, columns=8))
    instances = Instance.objects.filter(series=series).order_by("pk")
    instances.update(metadata=None)
    rows = list(instances.values_list("pk", "sha256"))
    parsed = [(pk, sha, {"00081030": {"vr": "LO", "Value": [f"é {pk}"]}}) for pk, sha in rows]
    parsed[1] = (rows[1][0], "0" * 64, parsed[1][2])
    parsed[2] = (rows[2][0], rows[2][1], None)

    with transaction.atomic():
        written = caches._store(parsed[::-1])

    assert written == 2
    assert list(instances.values_list("metadata", flat=True)) == [
        parsed[0][2], None, None, parsed[3][2]
    ]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_builds_going_opposite_ways_over_the_same_rows_do_not_deadlock(monkeypatch):
    """A viewer building a study's caches on demand while the worker builds them: both
    write the same instance rows, each in one transaction, and must lock them in one order.
    Each writer pauses after its first write until the other has written too (or two seconds
    have passed, when the other is already waiting for this one's locks)."""
    import contextlib
    import threading

    from django.db import connection
    from django.db.models.query import QuerySet

    if connection.vendor != "postgresql":
        pytest.skip("row locks and deadlock detection are PostgreSQL's")
    study, series = stored_series(ct_series(4, rows=8, columns=8))
    instances = Instance.objects.filter(series=series)
    both_started = threading.Barrier(2, timeout=2)
    real_update = QuerySet.update
    local = threading.local()

    def update(self, **kwargs):
        done = real_update(self, **kwargs)
        if self.model is Instance and not getattr(local, "paused", False):
            local.paused = True
            with contextlib.suppress(threading.BrokenBarrierError):
                both_started.wait()
        return done

    monkeypatch.setattr(QuerySet, "update", update)
    failures = []

    def build(backwards):
        try:
            caches.extract(Instance.objects.filter(series=series), backwards=backwards)
        except Exception as exc:  # noqa: BLE001 (reported below)
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=build, args=(way,)) for way in (False, True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []
    assert not instances.filter(metadata__isnull=True).exists()
