"""The Celery application; tasks live in each app's tasks.py."""

import logging
import os
import threading

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ohifsite.settings")

app = Celery("ohifsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

log = logging.getLogger(__name__)


@worker_init.connect
def _give_way(**kwargs):
    """Lower the worker's CPU priority before its pool starts (the pool inherits it)."""
    from django.conf import settings

    os.nice(settings.WORKER_NICE)


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(task=None, **kwargs):
    """Keep a worker's database connection from task to task as the web keeps it from request
    to request: for DATABASE_CONN_MAX_AGE, and closed once an error left it unusable. Celery's
    rule, a new connection for every task, started a PostgreSQL backend per cache build: about
    10 ms of the database server's CPU, half what building the caches of twenty small
    instances costs the worker (bench/README). Skipped for tasks run eagerly, inside a request
    or a test's transaction."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@worker_ready.connect
def _start_sweeping(**kwargs):
    """The worker's own schedule for archive.sweep (no beat process to run and supervise):
    once as it starts, which catches up after a crash, then every SWEEP_INTERVAL seconds."""
    from django.conf import settings

    if settings.SWEEP_INTERVAL > 0:
        threading.Thread(
            target=_sweep_forever, args=(settings.SWEEP_INTERVAL,), daemon=True, name="sweep"
        ).start()


def _sweep_forever(interval: int) -> None:
    from django.db import connection

    from archive.sweep import sweep

    while True:
        try:
            sweep()
        except Exception:  # noqa: BLE001 - a database or broker outage; next round retries
            log.exception("sweep failed")
        finally:
            connection.close()  # one sweep every few minutes: no connection kept between
        threading.Event().wait(interval)
