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


def schedule_builds_for(sender, arrivals, results, **kwargs) -> None:
    """``archive.ingest.instances_received``: a build for each study that changed, and for a
    study a replaced instance left; the files replacements superseded go after the commit.
    The DICOM listener receives one instance per call and schedules an association's builds
    itself (``dicomnet.listener``): one message per study, not one per instance."""
    builds = []
    for arrival, result in zip(arrivals, results, strict=True):
        if arrival.origin.door == "dimse":
            continue
        builds.extend(builds_for(result))
    schedule_cache_builds(builds)
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


def builds_for(result) -> list[tuple[int, int | None]]:
    """The cache builds an ingest result calls for: its study's, at the generation it made,
    and the current one of a study a replaced instance left."""
    if not (result.changed and result.study_pk is not None):
        return []
    builds = [(result.study_pk, result.generation)]
    if result.moved_from_study_pk is not None:
        builds.append((result.moved_from_study_pk, None))
    return builds


def schedule_cache_build(study_id: int, generation: int | None = None) -> None:
    schedule_cache_builds([(study_id, generation)])


def schedule_cache_builds(builds: list[tuple[int, int | None]]) -> None:
    """Queue cache builds, [(study id, generation or None: its current one), ...], once the
    transaction commits.

    Each ingest queues one per study it changed; a task whose generation is no longer current
    leaves the work to the newer one, so a series arriving instance by instance is processed
    once at the end. With PRELOAD off nothing is queued: the caches are built on first request.
    """
    if settings.PRELOAD and builds:
        enqueue_cache_builds(builds, countdown=settings.CACHE_BUILD_DELAY)


def enqueue_cache_build(study_id: int, *, reextract: bool = False) -> None:
    enqueue_cache_builds([(study_id, None)], reextract=reextract)


def enqueue_cache_builds(
    builds: list[tuple[int, int | None]], *, reextract: bool = False, countdown: int = 0
) -> None:
    """Queue builds whatever PRELOAD says (rebuild_caches, the admin's rebuild action, the
    sweep). A broker that cannot be reached is logged, not raised: what was stored stays
    stored, and its caches are built on first request instead.

    Within one transaction (a STOW request stores many instances of a study in one) only the
    latest generation of a study is sent: earlier ones would be superseded on arrival anyway.
    The builds of one call, or of one transaction, go in one message (an import's slice of 32
    one-instance studies: one message, not 32).
    """
    latest = _latest_generations()
    unknown = {study_id for study_id, generation in builds if generation is None}
    current = dict(  # one query for the studies given without a generation
        Study.objects.filter(pk__in=unknown).values_list("pk", "generation") if unknown else ()
    )
    for study_id, generation in builds:
        generation = current.get(study_id) if generation is None else generation
        if generation is not None:  # None: the study is gone
            latest[(study_id, reextract, countdown)] = generation
    if latest:
        transaction.on_commit(lambda: _send(latest), robust=True)


def _send(latest: dict) -> None:
    """The first commit callback sends every build registered; the others find none left."""
    groups: dict[tuple, list] = {}
    while latest:
        (study_id, reextract, countdown), generation = latest.popitem()
        groups.setdefault((reextract, countdown), []).append((study_id, generation))
    for (reextract, countdown), builds in groups.items():
        if len(builds) == 1:
            build_caches.apply_async((*builds[0], reextract), countdown=countdown)
        else:
            build_caches_of.apply_async((sorted(builds), reextract), countdown=countdown)


@shared_task(acks_late=True)
def build_caches_of(builds: list, reextract: bool = False) -> list[str]:
    """``build_caches`` of several studies, [(study id, generation), ...], one after the other;
    a study whose files cannot be read now is queued alone, with that task's retries."""
    outcomes = []
    for study_id, generation in builds:
        try:
            outcomes.append(build_caches(study_id, generation, reextract))
        except OSError as exc:
            log.warning("cache build of study %s failed (%s); retrying it alone", study_id, exc)
            build_caches.apply_async((study_id, generation, reextract), countdown=5)
            outcomes.append("retried")
    return outcomes


def _latest_generations() -> dict:
    """Per database connection: the newest generation registered for each pending build. The
    first commit callback for a key sends it and the others find nothing left to send."""
    connection = transaction.get_connection()
    return connection.__dict__.setdefault("_ohifsite_cache_builds", {})
