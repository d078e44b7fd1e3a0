"""What the worker does on its own every SWEEP_INTERVAL seconds, so that nothing stays stranded
whatever was killed or unreachable: cache builds that were never queued (the broker was away
when the study was stored) or lost (the worker was killed and its broker forgot the task),
spooled request bodies left behind by a web process killed mid-upload, and files placed by one
killed before its rows were committed (``ingest.place.settle_interrupted``).

Safe to run in several workers at once: queuing a build twice costs one superseded build, and
a file already deleted is skipped. Knows nothing of Celery but through ``tasks``.
"""

import logging
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from . import storage, tasks
from .ingest import place
from .models import CacheState, Study

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    requeued: int = 0
    spool_removed: int = 0
    unplaced: int = 0


def sweep(*, pending_after: float | None = None, spool_after: float | None = None) -> SweepResult:
    if pending_after is None:
        pending_after = settings.SWEEP_PENDING_AFTER
    if spool_after is None:
        spool_after = settings.SWEEP_SPOOL_AFTER
    result = SweepResult(
        requeue_pending(pending_after),
        remove_spool_leftovers(spool_after),
        place.settle_interrupted(older_than=spool_after),
    )
    if result.requeued or result.spool_removed or result.unplaced:
        log.warning(
            "sweep: %d pending studies queued again, %d spool leftovers and %d placed files "
            "without rows removed",
            result.requeued,
            result.spool_removed,
            result.unplaced,
        )
    return result


def requeue_pending(older_than: float) -> int:
    """Queue a build for each study whose caches have been stale for ``older_than`` seconds
    and did not fail (a failure is on the study, for the admin's rebuild action)."""
    if not settings.PRELOAD:
        return 0
    cutoff = timezone.now() - timedelta(seconds=older_than)
    stale = Study.objects.in_cache_state(CacheState.PENDING).filter(updated_at__lt=cutoff)
    ids = list(stale.values_list("pk", flat=True)[:10_000])
    for pk in ids:
        tasks.enqueue_cache_build(pk)
    return len(ids)


def spool_folders() -> list[Path]:
    return [*storage.spool_dirs(), Path(settings.FILE_UPLOAD_TEMP_DIR)]


def remove_spool_leftovers(older_than: float) -> int:
    """Delete files in the spool folders not written to for ``older_than`` seconds: a body
    still being received or ingested is written to all the while, or was moments ago."""
    cutoff = time.time() - older_than
    removed = 0
    for folder in spool_folders():
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                pass
    return removed
