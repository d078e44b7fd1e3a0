"""Send to…: pick a destination for a study, then watch the send, instance by instance.
Thin: the work is in ``sending``; uploaders and admins may send."""

from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.roles import UPLOADER, role_required
from archive.models import Study
from archive.uids import is_valid_uid

from . import sending
from .models import RemoteAE, SendJob


@require_http_methods(["GET", "POST"])
@role_required(UPLOADER)
def send_study(request, study_uid):
    if not is_valid_uid(study_uid):
        raise Http404("not a valid Study Instance UID")
    study = get_object_or_404(Study, study_instance_uid=study_uid)
    destinations = RemoteAE.objects.filter(is_destination=True)
    error = ""
    if request.method == "POST":
        destination = destinations.filter(pk=request.POST.get("destination") or 0).first()
        if destination is not None:
            job = sending.start(study, destination, request.user)
            return redirect("dicomnet:send_job", job.pk)
        error = "Choose a destination."
    jobs = SendJob.objects.filter(study=study).select_related("destination")[:10]
    context = {"study": study, "destinations": destinations, "jobs": jobs, "error": error}
    return render(request, "dicomnet/send_study.html", context)


@role_required(UPLOADER)
def send_job(request, pk):
    job = get_object_or_404(SendJob.objects.select_related("study", "destination"), pk=pk)
    items = job.items.select_related("instance__series").order_by(
        "instance__series__series_number", "instance__instance_number", "pk"
    )
    counts = job.counts()
    done = counts["sent"] + counts["warning"]
    return render(request, "dicomnet/send_job.html", {
        "job": job, "items": items, "counts": counts, "total": sum(counts.values()),
        "done": done, "busy": job.state in (SendJob.State.QUEUED, SendJob.State.RUNNING),
    })  # fmt: skip


@require_POST
@role_required(UPLOADER)
def retry_job(request, pk):
    sending.retry(get_object_or_404(SendJob, pk=pk))
    return redirect("dicomnet:send_job", pk)
