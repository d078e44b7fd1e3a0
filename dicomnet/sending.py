"""Send a study to a remote AE (C-STORE SCU), one item per instance: a job records what
arrived, so a retry sends only the rest. Knows nothing of HTTP or Celery (``tasks.send_job``
runs ``run``; the views and the admin call ``start`` and ``retry``)."""

from django.db import transaction
from django.utils import timezone

from archive.models import Instance, Study

from . import audit, peers
from .models import RemoteAE, SendItem, SendJob

S = SendItem.Status


def start(study: Study, destination: RemoteAE, user=None) -> SendJob:
    """A queued job with an item for each instance of the study, sent once committed."""
    with transaction.atomic():
        job = SendJob.objects.create(study=study, destination=destination, requested_by=user)
        queue(job)
    return job


def queue(job: SendJob) -> None:
    """Give a new (saved) job its items, one per instance of its study, and queue it."""
    from . import tasks

    instances = Instance.objects.filter(series__study=job.study).values_list("pk", flat=True)
    SendItem.objects.bulk_create(SendItem(job=job, instance_id=pk) for pk in instances)
    tasks.enqueue_send(job.pk)


def retry(job: SendJob) -> bool:
    """Queue the job again for what did not arrive; False when everything did."""
    from . import tasks

    with transaction.atomic():
        job = SendJob.objects.select_for_update().get(pk=job.pk)
        if job.state in (SendJob.State.QUEUED, SendJob.State.RUNNING):
            return False
        if not job.items.exclude(status__in=(S.SENT, S.WARNING)).exists():
            return False
        job.items.filter(status=S.FAILED).update(status=S.PENDING)
        SendJob.objects.filter(pk=job.pk).update(state=SendJob.State.QUEUED, finished_at=None)
        tasks.enqueue_send(job.pk)
    return True


def run(job_id: int) -> str:
    """Send what has not arrived yet; every answer is saved as it comes (the page shows it)."""
    job = SendJob.objects.select_related("destination", "study", "requested_by").get(pk=job_id)
    todo = list(
        job.items.exclude(status__in=(S.SENT, S.WARNING))
        .select_related("instance")
        .order_by("instance__series_id", "instance__instance_number", "instance_id")
    )
    SendJob.objects.filter(pk=job.pk).update(
        state=SendJob.State.RUNNING, attempts=job.attempts + 1, message=""
    )
    files = [
        peers.Outbound(item.pk, item.instance.file_path, item.instance.sop_class_uid,
                       item.instance.sop_instance_uid, item.instance.transfer_syntax_uid)
        for item in todo
    ]  # fmt: skip
    deliveries = peers.send(job.destination, files, _save)
    counts = job.counts()
    failed = counts[S.FAILED] + counts[S.PENDING]
    state = SendJob.State.FAILED if failed else SendJob.State.DONE
    message = next((d.reason for d in deliveries if not d.arrived and d.reason), "")
    SendJob.objects.filter(pk=job.pk).update(
        state=state, finished_at=timezone.now(), message=message[:300]
    )
    outcome = " ".join(f"{k}={v}" for k, v in counts.items())
    audit.record(
        "SEND",
        calling_ae=job.destination.ae_title,
        address=job.destination.host,
        studies=[job.study.study_instance_uid],
        outcome=f"to={job.destination.ae_title} {outcome}",
        user=job.requested_by,
    )
    return f"{state}: {outcome}"


def _save(delivery: peers.Delivery) -> None:
    status = S.FAILED
    if delivery.arrived:
        status = S.SENT if delivery.status == 0 else S.WARNING
    SendItem.objects.filter(pk=delivery.key).update(
        status=status, dimse_status=delivery.status, reason=delivery.reason[:300]
    )
