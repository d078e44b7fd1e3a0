"""Celery tasks: thin wrappers around ``sending``."""

from celery import shared_task
from django.db import transaction

from . import sending


@shared_task(acks_late=True)
def send_job(job_id: int) -> str:
    return sending.run(job_id)


def enqueue_send(job_id: int) -> None:
    """Queue the send once the job's rows are committed."""
    transaction.on_commit(lambda: send_job.delay(job_id), robust=True)
