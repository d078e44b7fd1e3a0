"""Celery tasks: thin wrappers around ``caches`` and ``stores``. Arguments are plain ids or
keys; every task is idempotent, so it is acknowledged late and may run twice."""

import logging

from celery import shared_task
from django.conf import settings
from django.db import transaction

from . import caches, renditions, stores
from .models import Instance, Rendition, Study

log = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def build_caches(study_id: int, generation: int, reextract: bool = False) -> str:
    outcome = caches.build(study_id, generation, reextract=reextract)
    # Renditions after the caches, so that what a viewer needs first is never behind them.
    if settings.RENDITIONS and outcome == caches.Outcome.BUILT:
        build_renditions.delay(study_id)
    return outcome


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def build_renditions(study_id: int) -> str:
    return renditions.build_study(study_id)


def schedule_builds_for(sender, results, **kwargs) -> None:
    """``archive.ingest.instances_received``: a build for each study that changed, and for a
    study a replaced instance left; the files replacements superseded go after the commit."""
    for result in results:
        if result.changed and result.study_pk is not None:
            schedule_cache_build(result.study_pk, result.generation)
            if result.moved_from_study_pk is not None:
                schedule_cache_build(result.moved_from_study_pk)
    superseded = [result.superseded_path for result in results if result.superseded_path]
    if superseded:
        transaction.on_commit(lambda: delete_stored_files(superseded), robust=True)


def delete_stored_files(keys: list[str]) -> None:
    """Delete files whose rows are gone (after the commit); what cannot be deleted now is
    retried by a task until the store takes it."""
    try:
        stores.current().delete_many(keys)
    except OSError as exc:
        log.warning("deleting %d stored file(s) failed (%s); retrying in a task", len(keys), exc)
        try:
            retry_deleting_stored_files.delay(keys)
        except Exception:
            log.exception("cannot queue the retry: %d stored file(s) left behind", len(keys))


@shared_task(
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=50,
)
def retry_deleting_stored_files(keys: list[str]) -> None:
    """Only keys no row names by now: the same study stored again meanwhile has files of
    the same names."""
    named = set(Instance.objects.filter(file_path__in=keys).values_list("file_path", flat=True))
    named |= set(Rendition.objects.filter(file_path__in=keys).values_list("file_path", flat=True))
    stores.current().delete_many([key for key in keys if key not in named])


def schedule_cache_build(study_id: int, generation: int | None = None) -> None:
    """Queue a cache build for the study's current generation once the transaction commits.

    Each ingest queues one; a task whose generation is no longer current leaves the work to
    the newer one, so a series arriving instance by instance is processed once at the end.
    With PRELOAD off nothing is queued: the caches are built on first request.
    """
    if settings.PRELOAD:
        enqueue_cache_build(study_id, generation=generation, countdown=settings.CACHE_BUILD_DELAY)


def enqueue_cache_build(
    study_id: int, *, generation: int | None = None, reextract: bool = False, countdown: int = 0
) -> None:
    """Queue a build for the study's current generation, whatever PRELOAD says (rebuild_caches,
    the admin's rebuild action). A broker that cannot be reached is logged, not raised: what
    was stored stays stored, and its caches are built on first request instead.

    Within one transaction (a STOW request stores many instances of a study in one) only the
    latest generation is sent: earlier ones would be superseded on arrival anyway.
    """
    if generation is None:
        generation = Study.objects.filter(pk=study_id).values_list("generation", flat=True).first()
        if generation is None:
            return
    key = (study_id, reextract)
    latest = _latest_generations()
    latest[key] = generation

    def send():
        if (current := latest.pop(key, None)) is not None:
            build_caches.apply_async((study_id, current, reextract), countdown=countdown)

    transaction.on_commit(send, robust=True)


def _latest_generations() -> dict:
    """Per database connection: the newest generation registered for each pending build. The
    first commit callback for a key sends it and the others find nothing left to send."""
    connection = transaction.get_connection()
    return connection.__dict__.setdefault("_ohifsite_cache_builds", {})
