"""The worker's sweep (archive/sweep.py): builds that were never queued or were lost are queued
again, spooled bodies nobody writes to any more are deleted; nothing recent is touched."""

import os
import time
from datetime import timedelta

import pytest
from dicom_data import ct_series, receive_one, to_bytes
from django.utils import timezone

from archive import storage, sweep
from archive.models import Study


@pytest.mark.django_db(transaction=True)
def test_pending_studies_are_queued_again_once_old_enough(celery_worker, settings, wait_for):
    settings.PRELOAD = False  # stored without a build queued, as with the broker away
    for ds in ct_series(2, rows=16, columns=16):
        assert receive_one(to_bytes(ds)).ok
    study = Study.objects.get()
    assert study.cache_state == "pending"
    settings.PRELOAD = True

    assert sweep.requeue_pending(older_than=600) == 0  # just stored: not stranded yet
    Study.objects.update(updated_at=timezone.now() - timedelta(seconds=700))
    Study.objects.update(cache_error="ValueError: broken")
    assert sweep.requeue_pending(older_than=600) == 0  # failed: left for the admin
    Study.objects.update(cache_error="")
    assert sweep.requeue_pending(older_than=600) == 1

    wait_for(lambda: Study.objects.get().cache_state == "ready", message="the queued build")


def test_spool_files_nobody_writes_to_are_removed(tmp_path, settings):
    settings.DICOM_STORAGE_DIR = tmp_path / "dicom"
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "tmp")
    os.mkdir(settings.FILE_UPLOAD_TEMP_DIR)
    old_body = storage.incoming_dir() / "a.part"
    old_upload = tmp_path / "tmp" / "upload.zip"
    from dicomnet import store

    old_dimse = store.spool_dir() / "received.dcm"  # a C-STORE cut off mid-transfer
    fresh = storage.incoming_dir() / "b.part"
    for path in (old_body, old_upload, old_dimse, fresh):
        path.write_bytes(b"data")
    hour_ago = time.time() - 3600
    for path in (old_body, old_upload, old_dimse):
        os.utime(path, (hour_ago, hour_ago))

    assert sweep.remove_spool_leftovers(older_than=600) == 3

    assert not old_body.exists() and not old_upload.exists() and not old_dimse.exists()
    assert fresh.exists()
