"""``manage.py import_dicom``: folders and zip archives through the one ingest path, a summary
that says what happened to every file, exit status 1 when anything was rejected."""

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from dicom_data import ct_series, mr_slice, rgb_image, to_bytes
from django.core.management import CommandError, call_command

from archive.models import Instance, Series, Study

ROOT = Path(__file__).resolve().parents[2]


def import_dicom(*args) -> tuple[str, int]:
    """Run the command in this process; returns its stdout and exit status."""
    out = io.StringIO()
    try:
        call_command("import_dicom", *map(str, args), "--no-progress", stdout=out)
    except CommandError as exc:
        return out.getvalue() + f"\nCommandError: {exc}", exc.returncode
    return out.getvalue(), 0


def write_tree(root: Path) -> dict:
    """A folder with subfolders of generated instances, and a zip with two instances and a
    file that is not DICOM. Returns the datasets by where they went."""
    ct = ct_series(4, rows=32, columns=32, patient_id="IMP1")
    mr = mr_slice(0, study_uid=ct[0].StudyInstanceUID)
    for i, ds in enumerate(ct[:3]):
        folder = root / "patient" / f"series{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"slice{i}.dcm").write_bytes(to_bytes(ds))
    rgb = rgb_image()
    with zipfile.ZipFile(root / "more.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("nested/ct.dcm", to_bytes(ct[3]))
        archive.writestr("nested/mr.dcm", to_bytes(mr))
        archive.writestr("rgb", to_bytes(rgb))
        archive.writestr("nested/", "")  # a directory entry
        archive.writestr("notes.txt", "not a DICOM file")
    return {"folder": ct[:3], "zip": [ct[3], mr, rgb]}


def line(output: str, name: str) -> str:
    return next(text.strip() for text in output.splitlines() if text.strip().startswith(name))


@pytest.mark.django_db
def test_folder_and_zip_are_imported_and_the_non_dicom_file_is_reported(tmp_path):
    sent = write_tree(tmp_path)

    output, status = import_dicom(tmp_path)

    assert status == 1
    assert line(output, "stored:") == "stored: 6"
    assert line(output, "already stored:") == "already stored: 0"
    assert line(output, "rejected:") == "rejected: 1"
    assert "1 x not a DICOM file" in output
    assert f"{tmp_path / 'more.zip'}:notes.txt" in output
    assert output.splitlines()[0].startswith("7 files, ")
    assert "CommandError: 1 files rejected" in output

    study = Study.objects.get(study_instance_uid=sent["folder"][0].StudyInstanceUID)
    assert study.number_of_study_related_instances == 5
    assert study.modalities_in_study == "CT\\MR"
    assert Series.objects.get(series_instance_uid=sent["folder"][0].SeriesInstanceUID)
    assert Instance.objects.count() == 6
    for ds in sent["folder"] + sent["zip"]:
        instance = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
        assert instance.absolute_path.read_bytes() == to_bytes(ds)


@pytest.mark.django_db
def test_a_second_run_finds_everything_already_stored(tmp_path):
    write_tree(tmp_path)
    (tmp_path / "more.zip").unlink()
    import_dicom(tmp_path)
    generations = dict(Study.objects.values_list("pk", "generation"))

    output, status = import_dicom(tmp_path)

    assert status == 0
    assert line(output, "stored:") == "stored: 0"
    assert line(output, "already stored:") == "already stored: 3"
    assert line(output, "rejected:") == "rejected: 0"
    assert Instance.objects.count() == 3
    assert dict(Study.objects.values_list("pk", "generation")) == generations


@pytest.mark.django_db
def test_an_interrupted_import_run_again_stores_only_the_rest(tmp_path):
    datasets = ct_series(6, rows=16, columns=16)
    for i, ds in enumerate(datasets):
        (tmp_path / f"{i}.dcm").write_bytes(to_bytes(ds))
    import_dicom(*(tmp_path / f"{i}.dcm" for i in range(2)))  # stopped after two files

    output, status = import_dicom(tmp_path)

    assert status == 0
    assert line(output, "stored:") == "stored: 4"
    assert line(output, "already stored:") == "already stored: 2"
    series = Series.objects.get(series_instance_uid=datasets[0].SeriesInstanceUID)
    assert series.number_of_series_related_instances == 6


@pytest.mark.django_db
def test_other_bytes_under_a_stored_uid_are_kept_and_listed(tmp_path):
    ds = ct_series(1, rows=16, columns=16)[0]
    (tmp_path / "first.dcm").write_bytes(to_bytes(ds))
    import_dicom(tmp_path / "first.dcm")
    ds.SeriesDescription = "edited"
    (tmp_path / "edited.dcm").write_bytes(to_bytes(ds))

    output, status = import_dicom(tmp_path / "edited.dcm")

    assert status == 0
    assert line(output, "kept existing:") == "kept existing: 1"
    assert str(tmp_path / "edited.dcm") in output
    stored = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
    assert stored.absolute_path.read_bytes() == (tmp_path / "first.dcm").read_bytes()


@pytest.mark.django_db
def test_damaged_zip_member_and_broken_zip_are_rejected_and_the_rest_imported(tmp_path):
    good, damaged = ct_series(2, rows=16, columns=16)
    with zipfile.ZipFile(tmp_path / "a.zip", "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("good.dcm", to_bytes(good))
        archive.writestr("damaged.dcm", to_bytes(damaged))
    data = bytearray((tmp_path / "a.zip").read_bytes())
    pixels = data.rindex(to_bytes(damaged)[-600:])  # inside the second member's pixel data
    data[pixels + 10] ^= 0xFF  # the CRC no longer matches
    (tmp_path / "a.zip").write_bytes(bytes(data))
    (tmp_path / "b.zip").write_bytes(b"PK\x03\x04 this is no zip archive")

    output, status = import_dicom(tmp_path)

    assert status == 1
    assert line(output, "stored:") == "stored: 1"
    assert line(output, "rejected:") == "rejected: 2"
    assert "1 x cannot be read" in output
    assert f"{tmp_path / 'a.zip'}:damaged.dcm" in output
    assert "1 x not a readable zip archive" in output
    assert Instance.objects.filter(sop_instance_uid=good.SOPInstanceUID).exists()
    assert not Instance.objects.filter(sop_instance_uid=damaged.SOPInstanceUID).exists()


@pytest.mark.django_db
def test_a_missing_path_stops_before_anything_is_imported(tmp_path):
    (tmp_path / "one.dcm").write_bytes(to_bytes(ct_series(1, rows=16, columns=16)[0]))

    output, status = import_dicom(tmp_path / "one.dcm", tmp_path / "absent")

    assert status == 1
    assert f"no such file or folder: {tmp_path / 'absent'}" in output
    assert Instance.objects.count() == 0


@pytest.mark.django_db
def test_pydicom_bundled_files_are_each_stored_or_rejected_without_a_crash():
    import pydicom.data

    folder = Path(pydicom.data.__file__).parent / "test_files"
    files = [p for p in folder.rglob("*") if p.is_file()]

    output, status = import_dicom(folder)

    assert status == 1  # some of them are broken on purpose
    counts = {
        name: int(line(output, f"{name}:").split(":")[1])
        for name in ("stored", "already stored", "replaced", "kept existing", "rejected")
    }
    skipped = int(line(output, "skipped:").split()[1])
    assert sum(counts.values()) + skipped == len(files)
    assert counts["stored"] > 50 and counts["rejected"] > 0
    assert Instance.objects.count() == counts["stored"]


@pytest.mark.django_db(transaction=True)
def test_worker_processes_import_the_same_as_one(tmp_path):
    datasets = ct_series(8, rows=16, columns=16)
    for i, ds in enumerate(datasets):
        (tmp_path / f"{i}.dcm").write_bytes(to_bytes(ds))

    output, status = import_dicom(tmp_path, "--workers", 3)

    assert status == 0
    assert line(output, "stored:") == "stored: 8"
    series = Series.objects.get(series_instance_uid=datasets[0].SeriesInstanceUID)
    assert series.number_of_series_related_instances == 8
    assert series.study.number_of_study_related_instances == 8


@pytest.mark.django_db(transaction=True)
def test_command_line_exit_status_summary_and_progress_bar(tmp_path, database_url, storage_dir):
    write_tree(tmp_path)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DICOM_STORAGE_DIR": str(storage_dir),
        "CELERY_QUEUE": os.environ["CELERY_QUEUE"],  # this run's queue, not a real worker's
    }
    command = [sys.executable, "manage.py", "import_dicom", str(tmp_path)]

    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)

    assert run.returncode == 1, run.stderr
    assert "stored: 6" in run.stdout
    assert "rejected: 1" in run.stdout
    assert "CommandError: 1 files rejected" in run.stderr
    assert "files/s" in run.stderr  # the progress bar
    assert Instance.objects.count() == 6


@pytest.mark.django_db
def test_a_bulk_import_refreshes_the_planner_statistics(tmp_path, monkeypatch):
    """Searches right after a large import must not be planned for an empty archive."""
    from django.db import connection

    from archive.management.commands import import_dicom as command

    if connection.vendor != "postgresql":
        pytest.skip("planner statistics are refreshed on PostgreSQL only")
    monkeypatch.setattr(command, "ANALYZE_AFTER", 3)
    write_tree(tmp_path)
    (tmp_path / "more.zip").unlink()

    import_dicom(tmp_path)

    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'archive_instance'")
        assert cursor.fetchone()[0] == 3
