"""manage.py migrate_storage: an archive moved into the bucket and back, interrupted halfway
and resumed, every instance served from its new place with the bytes it was stored with."""

import os
import signal
import subprocess
import sys
import time

import pytest
from dicom_data import compressed, ct_series, multiframe
from django.core.management import call_command
from stored import store_all, stored_bytes

from archive import storage
from archive.models import Instance

ROOT = storage.Path(__file__).resolve().parents[2]


def migrate(environment: dict, *arguments) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "migrate_storage", *arguments, "--no-progress"],
        cwd=ROOT,
        env={**os.environ, **environment},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.django_db(transaction=True)
def test_interrupted_migration_resumes_and_serves_every_instance(
    s3_server, s3_storage, settings, database_url, storage_dir, reader_client
):
    settings.STORAGE_BACKEND = "filesystem"
    datasets = [*ct_series(300, rows=16, columns=16), multiframe(4), compressed(ct_series(1)[0])]
    sent = dict(zip([ds.SOPInstanceUID for ds in datasets], store_all(datasets), strict=True))
    environment = {
        **s3_server.environment(s3_storage),
        "STORAGE_BACKEND": "filesystem",
        "DATABASE_URL": database_url,
        "DICOM_STORAGE_DIR": str(storage_dir),
    }

    first = migrate(environment, "--to", "s3", "--jobs", "1")
    deadline = time.monotonic() + 120
    while len(s3_server.keys(s3_storage)) < len(datasets) // 2:
        assert first.poll() is None, first.stdout.read().decode()
        assert time.monotonic() < deadline, "the migration did not get halfway"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    copied = len(s3_server.keys(s3_storage))
    assert copied < len(datasets), "interrupted too late to show a resume"

    second = migrate(environment, "--to", "s3")
    output = second.communicate(timeout=300)[0].decode()
    assert second.returncode == 0, output
    again = len(datasets) - copied
    # The object being written when the first run was killed may be counted either way.
    assert f"{len(datasets)} file(s): " in output
    counts = output.split("file(s): ")[1].split(",")
    assert abs(int(counts[0].split()[0]) - again) <= 1, output
    assert "Every file is in s3, verified" in output
    assert len(s3_server.keys(s3_storage)) == len(datasets)

    # Served from the bucket alone: the folder copies are gone.
    for row in Instance.objects.all():
        row.absolute_path.unlink()
    settings.STORAGE_BACKEND = "s3"
    for row in Instance.objects.select_related("series__study"):
        assert stored_bytes(row) == sent[row.sop_instance_uid]
    row = Instance.objects.get(sop_instance_uid=datasets[-2].SOPInstanceUID)
    url = (
        f"/dicom-web/studies/{row.series.study.study_instance_uid}/series/"
        f"{row.series.series_instance_uid}/instances/{row.sop_instance_uid}"
    )
    response = reader_client.get(url, HTTP_ACCEPT="application/dicom")
    assert b"".join(response.streaming_content) == sent[row.sop_instance_uid]

    # And back: the folder holds every file again, byte for byte.
    call_command("migrate_storage", "--to", "filesystem", "--no-progress")
    settings.STORAGE_BACKEND = "filesystem"
    for row in Instance.objects.all():
        assert row.absolute_path.read_bytes() == sent[row.sop_instance_uid]
