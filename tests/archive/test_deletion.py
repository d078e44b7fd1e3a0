"""Deleting a study or a series: rows, files and caches go together; counts, modalities and the
generation of what remains are refreshed. Files go when the transaction commits: the tests run
the commit callbacks (``django_capture_on_commit_callbacks``)."""

import gzip
import json

import pytest
from dicom_data import ct_series, pet_slice, receive_one, uid
from django.db import transaction

from archive import caches, deletion, storage
from archive.deletion import Deleted
from archive.models import Instance, Series, Study

pytestmark = pytest.mark.django_db


def store(ds):
    result = receive_one(ds)
    assert result.ok, result.reason


def two_series_study():
    study_uid = uid()
    ct = ct_series(3, rows=8, columns=8, study_uid=study_uid)
    pet_uid = uid()
    pet = [pet_slice(i, study_uid=study_uid, series_uid=pet_uid, series_number=2) for i in range(2)]
    for ds in ct + pet:
        store(ds)
    study = Study.objects.get(study_instance_uid=study_uid)
    caches.build(study.pk, study.generation)
    study.refresh_from_db()
    return study, ct, pet


def files_of(datasets):
    return [
        storage.root()
        / storage.instance_relpath(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        for ds in datasets
    ]


def test_delete_study_removes_rows_and_files(django_capture_on_commit_callbacks):
    study, ct, pet = two_series_study()
    other = ct_series(1, rows=8, columns=8)
    store(other[0])
    assert all(path.exists() for path in files_of(ct + pet))

    with django_capture_on_commit_callbacks(execute=True):
        result = deletion.delete_study(study)

    assert result == Deleted(studies=1, series=2, instances=5)
    assert not Study.objects.filter(pk=study.pk).exists()
    assert not Series.objects.filter(study_id=study.pk).exists()
    assert not Instance.objects.filter(sop_instance_uid__in=[d.SOPInstanceUID for d in ct]).exists()
    assert not any(path.exists() for path in files_of(ct + pet))
    assert not (storage.root() / study.study_instance_uid).exists()
    assert all(path.exists() for path in files_of(other))
    assert Instance.objects.count() == 1


def test_delete_series_refreshes_the_study_and_its_caches(
    settings, django_capture_on_commit_callbacks
):
    settings.PRELOAD = False  # no worker here: the readers rebuild on demand
    study, ct, pet = two_series_study()
    assert (study.modalities_in_study, study.number_of_study_related_instances) == ("CT\\PT", 5)
    generation = study.generation
    pet_series = Series.objects.get(series_instance_uid=pet[0].SeriesInstanceUID)

    with django_capture_on_commit_callbacks(execute=True):
        result = deletion.delete_series(pet_series)

    assert result == Deleted(series=1, instances=2)
    study.refresh_from_db()
    assert study.modalities_in_study == "CT"
    assert study.number_of_study_related_series == 1
    assert study.number_of_study_related_instances == 3
    assert study.generation == generation + 1
    assert study.cache_state == "pending" and study.ohif_json is None
    assert not any(path.exists() for path in files_of(pet))
    assert all(path.exists() for path in files_of(ct))

    doc = json.loads(gzip.decompress(caches.study_ohif_json(study)))["studies"][0]
    assert doc["NumInstances"] == 3 and doc["Modalities"] == "CT"


def test_deleting_the_last_series_deletes_the_study(django_capture_on_commit_callbacks):
    ct = ct_series(2, rows=8, columns=8)
    for ds in ct:
        store(ds)
    series = Series.objects.get(series_instance_uid=ct[0].SeriesInstanceUID)

    with django_capture_on_commit_callbacks(execute=True):
        result = deletion.delete_series(series)
    assert result == Deleted(studies=1, series=1, instances=2)
    assert not Study.objects.filter(study_instance_uid=ct[0].StudyInstanceUID).exists()
    assert not any(path.exists() for path in files_of(ct))


def test_deleting_twice_is_harmless():
    study, _, _ = two_series_study()
    stale = Study.objects.get(pk=study.pk)
    deletion.delete_study(study)
    assert deletion.delete_study(stale) == Deleted()


def test_files_stay_when_the_transaction_rolls_back(django_capture_on_commit_callbacks):
    study, ct, pet = two_series_study()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        deletion.delete_study(study)
        raise RuntimeError("something later in the same transaction failed")

    assert callbacks == []
    assert Study.objects.filter(pk=study.pk).exists()
    assert all(path.exists() for path in files_of(ct + pet))
