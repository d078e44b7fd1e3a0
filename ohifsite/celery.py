"""The Celery application; tasks live in each app's tasks.py."""

import logging
import os
import threading

from celery import Celery
from celery.signals import worker_init, worker_ready

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
