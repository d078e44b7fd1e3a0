"""Deleting a study or a series: rows, files and caches go together, and the access log
records it whichever door asked (admin, worklist, DICOMweb). Knows nothing of HTTP.

Rows go in one transaction, with the study row locked as ingest locks it, so counts and the
generation cannot interleave with an upload into the same study. Files go only after the
commit: a rollback leaves every file in place; a file that cannot be deleted then (a bucket
out of reach) is left to a task that retries, and no row points at it any more. Caches
stored on the deleted rows go with them; the remaining study (after a series deletion) has
its generation bumped, its stale OHIF document dropped and a rebuild queued.
"""

from dataclasses import dataclass

from django.db import transaction

from accounts import accesslog

from . import renditions, tasks
from .models import Instance, Rendition, Series, Study


@dataclass(frozen=True)
class Deleted:
    studies: int = 0
    series: int = 0
    instances: int = 0

    def __add__(self, other: "Deleted") -> "Deleted":
        return Deleted(
            self.studies + other.studies,
            self.series + other.series,
            self.instances + other.instances,
        )


def delete_study(study: Study) -> Deleted:
    with transaction.atomic():
        locked = Study.objects.select_for_update().filter(pk=study.pk).first()
        if locked is None:
            return Deleted()  # deleted meanwhile
        instances = Instance.objects.filter(series__study=locked)
        paths = list(instances.values_list("file_path", flat=True))
        result = Deleted(1, locked.series_set.count(), len(paths))
        _delete_renditions(instances)
        accesslog.record(accesslog.A.DELETE, [locked])  # patient read before the row goes
        # Instances first, in one statement, so the cascade does not collect them one by one.
        instances.delete()
        locked.delete()
        _delete_files_after_commit(paths)
    return result


def delete_series(series: Series) -> Deleted:
    """Delete one series; its study goes too if no series is left in it."""
    with transaction.atomic():
        study = Study.objects.select_for_update().filter(pk=series.study_id).first()
        locked = Series.objects.filter(pk=series.pk, study=study).first() if study else None
        if locked is None:
            return Deleted()
        if not study.series_set.exclude(pk=locked.pk).exists():
            return delete_study(study)
        instances = Instance.objects.filter(series=locked)
        paths = list(instances.values_list("file_path", flat=True))
        _delete_renditions(instances)
        accesslog.record(
            accesslog.A.DELETE, [study], query=f"SeriesInstanceUID={locked.series_instance_uid}"
        )
        instances.delete()
        locked.delete()
        study.refresh_counts()
        Study.objects.filter(pk=study.pk).bump_generation(ohif_json=None)
        tasks.schedule_cache_build(study.pk)
        _delete_files_after_commit(paths)
    return Deleted(0, 1, len(paths))


def _delete_renditions(instances) -> None:
    Rendition.objects.filter(instance_id__in=instances.values("pk")).delete()


def _delete_files_after_commit(paths: list[str]) -> None:
    # A rendition (if any) before its original, as the folder goes with the last file in it.
    keys = [key for path in paths for key in (renditions.relpath_for(path), path)]
    transaction.on_commit(lambda: tasks.delete_stored_files(keys))
