"""With RENDITIONS on, the real Celery worker makes the HTJ2K renditions after the caches,
without being asked, and the original files stay as they were."""

import hashlib

import imagecodecs
import pytest
from dicom_data import ct_series, receive_one

from archive import frames
from archive.models import Instance, Rendition

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_worker_builds_renditions_after_ingest(celery_worker, wait_for, settings):
    settings.CACHE_BUILD_DELAY = 0
    settings.PRELOAD = True
    datasets = ct_series(3, rows=256, columns=256)  # 128 KB each: over RENDITION_MIN_BYTES
    for ds in datasets:
        assert receive_one(ds).ok

    study_uid = datasets[0].StudyInstanceUID
    wait_for(
        lambda: (
            Rendition.objects.filter(instance__series__study__study_instance_uid=study_uid).count()
            == 3
        ),
        timeout=90,
        message="three renditions",
    )
    for ds in datasets:
        row = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
        rendition = Rendition.objects.get(instance_id=row.pk)
        assert hashlib.sha256(row.absolute_path.read_bytes()).hexdigest() == row.sha256
        assert rendition.source_sha256 == row.sha256
        stream = frames.read(rendition.absolute_path, rendition.frame_offsets[0])
        assert imagecodecs.htj2k_decode(stream).tobytes() == ds.pixel_array.tobytes()
