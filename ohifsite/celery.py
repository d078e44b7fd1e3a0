"""The Celery application; tasks live in each app's tasks.py."""

import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ohifsite.settings")

app = Celery("ohifsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _give_way(**kwargs):
    """Lower the worker's CPU priority before its pool starts (the pool inherits it)."""
    from django.conf import settings

    os.nice(settings.WORKER_NICE)
