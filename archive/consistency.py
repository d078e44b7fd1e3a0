"""Does the index match the files? What ``manage.py check_archive`` reports and repairs, and
what the fault tests assert after every fault.

Five findings: files without an index row (orphans: a process killed between placing a file
and committing its row), rows without a file (lost data), rows whose file has another size or
SHA-256, studies and series whose instance counts are not their rows', and spooled bodies
left in the spool folders. Knows nothing of HTTP or Celery.
"""

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F

from . import storage, stores, sweep
from .models import Instance, Rendition, Series, Study

log = logging.getLogger(__name__)


@dataclass
class Report:
    instances: int = 0
    files: int = 0
    orphans: list[str] = field(default_factory=list)  # relative paths
    missing: list[str] = field(default_factory=list)  # SOP Instance UIDs
    mismatched: list[str] = field(default_factory=list)  # SOP Instance UIDs
    wrong_counts: list[str] = field(default_factory=list)  # Study/Series Instance UIDs
    spool_leftovers: int = 0
    pending_caches: int = 0
    listed: bool = True  # False: a bucket, whose objects were not listed (orphans unknown)
    missing_renditions: list[str] = field(default_factory=list)  # of these instances

    @property
    def clean(self) -> bool:
        """Index and files agree. Pending caches and spool files are not inconsistencies
        (a build may be queued, an upload running); the sweep takes care of both."""
        return not (
            self.orphans
            or self.missing
            or self.missing_renditions
            or self.mismatched
            or self.wrong_counts
        )


def check(*, hashes: bool = True) -> Report:
    """Walk the storage and the index; ``hashes``: read every file for its SHA-256 (otherwise
    sizes only). HTJ2K renditions are files of the index too. With the bucket
    (STORAGE_BACKEND=s3) each row's object is asked for its size and hash; objects cannot be
    listed, so orphans are not looked for there (``listed`` False)."""
    store = stores.current()
    listed = settings.STORAGE_BACKEND == "filesystem"
    on_disk = dict(_stored_files(storage.root())) if listed else {}
    report = Report(files=len(on_disk), listed=listed)
    indexed = set()
    instances = Instance.objects.values_list("sop_instance_uid", "file_path", "file_size", "sha256")
    renditions = Rendition.objects.values_list(
        "instance__sop_instance_uid", "file_path", "file_size", "sha256"
    )
    for rows, counted in ((instances, True), (renditions, False)):
        for sop, relpath, size, sha in rows.iterator(chunk_size=2000):
            report.instances += counted
            indexed.add(relpath)
            actual = on_disk.get(relpath) if listed else store.size(relpath)
            if actual is None:
                (report.missing if counted else report.missing_renditions).append(sop)
            elif actual != size or (hashes and _sha256(store, relpath) != sha):
                report.mismatched.append(sop)
    if not listed:
        report.files = report.instances - len(report.missing)
    report.orphans = sorted(set(on_disk) - indexed)
    report.wrong_counts = _wrong_counts()
    report.spool_leftovers = sum(
        len(list(folder.iterdir())) for folder in sweep.spool_folders() if folder.is_dir()
    )
    report.pending_caches = Study.objects.stale().count()
    return report


def repair(report: Report) -> dict[str, int]:
    """Orphans are indexed through the ingest pipeline (a killed upload, finished now), rows
    without a file are deleted (their data is gone; the index stops promising it), counts are
    recomputed. Mismatched files are left as they are and reported: which side is right cannot
    be told from here."""
    done = {"indexed": 0, "unreadable": 0, "rows_deleted": 0, "recounted": 0}
    for relpath in report.orphans:
        if _index_orphan(storage.root() / relpath):
            done["indexed"] += 1
        else:
            done["unreadable"] += 1
    if report.missing_renditions and report.listed:
        # A rendition is a copy: without its file the row goes and the worker makes another.
        Rendition.objects.filter(instance__sop_instance_uid__in=report.missing_renditions).delete()
        done["renditions_dropped"] = len(report.missing_renditions)
    if report.missing and report.listed:
        # Only where the folder was walked: a bucket that did not answer is not proof of loss.
        done["rows_deleted"] = _delete_rows(report.missing)
    for uid in _wrong_counts():
        _recount(uid)
        done["recounted"] += 1
    return done


def _stored_files(root: Path):
    """(relative path, size) of each file under ``root``, outside the dot folders (spool)."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = Path(folder, name)
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue  # deleted while we walked
            yield path.relative_to(root).as_posix(), size


def _sha256(store, relpath: str) -> str:
    try:
        return store.sha256(relpath)
    except FileNotFoundError:
        return ""


def _wrong_counts() -> list[str]:
    series = (
        Series.objects.annotate(n=Count("instance"))
        .exclude(number_of_series_related_instances=F("n"))
        .values_list("series_instance_uid", flat=True)
    )
    studies = (
        Study.objects.annotate(n=Count("series__instance", distinct=True))
        .exclude(number_of_study_related_instances=F("n"))
        .values_list("study_instance_uid", flat=True)
    )
    return [*studies, *series]


def _index_orphan(path: Path) -> bool:
    """Index a file found in place without a row. The pipeline copies it in (to the same place
    for a file of its own UIDs); a file that is a duplicate of a stored one, or not DICOM, is
    left for the operator."""
    from .ingest import Arrival, Origin, receive

    result = receive([Arrival.from_path(path, origin=Origin(door="import"))])[0]
    if not result.ok:
        log.warning("orphan %s not indexed: %s", path, result.reason)
        return False
    return True


def _delete_rows(sop_uids: list[str]) -> int:
    from . import tasks

    deleted = 0
    study_ids = set(
        Instance.objects.filter(sop_instance_uid__in=sop_uids).values_list(
            "series__study_id", flat=True
        )
    )
    for study_id in study_ids:
        with transaction.atomic():
            study = Study.objects.select_for_update().filter(pk=study_id).first()
            if study is None:
                continue
            rows = Instance.objects.filter(series__study=study, sop_instance_uid__in=sop_uids)
            renditions = list(Rendition.objects.filter(instance_id__in=rows.values("pk")))
            for rendition in renditions:  # a copy of a file that is gone: both go
                storage.delete(rendition.file_path)
            Rendition.objects.filter(pk__in=[r.pk for r in renditions]).delete()
            deleted += rows.delete()[1].get("archive.Instance", 0)
            for series in study.series_set.all():
                if series.instance_set.exists():
                    series.refresh_counts()
                else:
                    series.delete()
            if not study.series_set.exists():
                study.delete()
                continue
            study.refresh_counts()
            study.bump_generation()
        tasks.enqueue_cache_build(study_id)
    return deleted


def _recount(uid: str) -> None:
    with transaction.atomic():
        study = Study.objects.select_for_update().filter(study_instance_uid=uid).first()
        if study is None:
            series = Series.objects.filter(series_instance_uid=uid).first()
            if series is None:
                return
            study = Study.objects.select_for_update().get(pk=series.study_id)
        for series in study.series_set.all():
            series.refresh_counts()
        study.refresh_counts()
