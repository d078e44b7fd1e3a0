"""The worklist pages: the study list, its on-demand parts (rows, series, states), study
download and deletion, and the upload endpoint. Thin: the work is in ``query``,
``zipstream`` and ``upload``; access is in ``role_required``."""

import logging
from urllib.parse import unquote

from django.conf import settings
from django.contrib import messages
from django.http import Http404, JsonResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts import accesslog
from accounts.models import Project, ShareLink
from accounts.roles import ADMIN, READER, UPLOADER, has_role, role_required
from archive import caches, deletion, storage, tagtree
from archive.ingest import OUT_OF_RESOURCES, Origin, failure_of
from archive.models import Instance, Series, Study
from archive.uids import is_valid_uid

from . import links, paging, upload, zipstream
from .query import MODALITY_CHOICES, PAGE_SIZES, STATES, WorklistQuery

log = logging.getLogger(__name__)

MAX_STATE_UIDS = 200
# Files the page sends at once (each its own request).
UPLOAD_PARALLEL = 3


@require_GET
@role_required(READER)
def study_list(request):
    return render(request, "worklist/list.html", _list_context(request))


@require_GET
@role_required(READER)
def study_rows(request):
    """The results part of the list for the same query string, to refresh it in place."""
    return render(request, "worklist/_results.html", _list_context(request))


@require_GET
@role_required(READER)
def study_states(request):
    """Processing state and counts of the studies named by ``uid`` parameters, for polling."""
    uids = [uid for uid in request.GET.getlist("uid")[:MAX_STATE_UIDS] if is_valid_uid(uid)]
    studies = paging.visible_studies().filter(study_instance_uid__in=uids).only(*STATE_FIELDS)
    return JsonResponse(
        {
            "studies": {
                study.study_instance_uid: {
                    "state": study.cache_state,
                    "series": study.number_of_study_related_series,
                    "instances": study.number_of_study_related_instances,
                    "modalities": [m for m in study.modalities_in_study.split("\\") if m],
                }
                for study in studies
            }
        }
    )


@require_GET
@role_required(READER)
def study_series(request, study_uid):
    study = _study_or_404(study_uid)
    series = study.series_set.order_by("series_number", "pk")
    accesslog.record(accesslog.A.SEARCH, [study], query="series")
    return render(
        request,
        "worklist/_series.html",
        {"study": study, "series_list": series, "dicomweb_root": links.dicomweb_root(request)},
    )


@require_GET
@role_required(READER)
def instance_tags(request, study_uid, series_uid):
    """Read-only DICOM tags of one instance of a series (``?sop=``, else the first), from its
    stored DICOM JSON, with the series' other instances a click away."""
    if not (is_valid_uid(study_uid) and is_valid_uid(series_uid)):
        raise Http404("not a valid UID")
    series = get_object_or_404(
        Series.objects.select_related("study"),
        series_instance_uid=series_uid,
        study__study_instance_uid=study_uid,
    )
    order = series.instance_set.order_by("instance_number", "pk")
    uids = list(order.values_list("sop_instance_uid", flat=True))
    if not uids:
        raise Http404("this series has no instances left")
    wanted = request.GET.get("sop", "")
    position = uids.index(wanted) if wanted in uids else 0
    instance = series.instance_set.get(sop_instance_uid=uids[position])
    try:
        dicom_json = caches.instance_metadata(instance)
    except (Instance.DoesNotExist, OSError) as exc:
        raise Http404(f"the instance could not be read: {exc}") from None
    return render(
        request,
        "worklist/tags.html",
        {
            "series": series,
            "study": series.study,
            "instance": instance,
            "elements": tagtree.elements(dicom_json),
            "position": position + 1,
            "count": len(uids),
            "previous_sop": uids[position - 1] if position > 0 else "",
            "next_sop": uids[position + 1] if position + 1 < len(uids) else "",
            "can_delete": has_role(request.user, ADMIN),
        },
    )


@require_GET
@role_required(READER)
def download_study(request, study_uid):
    study = _study_or_404(study_uid)
    accesslog.record(accesslog.A.DOWNLOAD, [study])
    response = StreamingHttpResponse(
        zipstream.stream_study_zip(study), content_type="application/zip"
    )
    response["Content-Disposition"] = f'attachment; filename="{zipstream.zip_name(study)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_POST
@role_required(ADMIN)
def delete_study(request, study_uid):
    study = _study_or_404(study_uid)
    deleted = deletion.delete_study(study)
    log.info("%s deleted study %s (%s)", request.user, study_uid, deleted)
    return JsonResponse(
        {"deleted": study_uid, "series": deleted.series, "instances": deleted.instances}
    )


@require_POST
@role_required(ADMIN)
def assign_to_project(request):
    """Bulk assignment: every study the search (the worklist's query string) finds, into one
    project; studies already in it stay once."""
    project = get_object_or_404(Project, pk=request.POST.get("project") or 0)
    query = WorklistQuery.from_params(QueryDict(request.POST.get("query", "")))
    found = query.filter(paging.visible_studies().order_by(), timezone.localdate())
    through = Project.studies.through
    ids = list(found.values_list("pk", flat=True))
    through.objects.bulk_create(
        [through(project=project, study_id=pk) for pk in ids],
        ignore_conflicts=True,
        batch_size=1000,
    )
    messages.success(request, f"{len(ids)} studies of this search are in project {project}.")
    return redirect(reverse("worklist:study_list") + "?" + query.to_params())


@require_POST
@role_required(UPLOADER)
def upload_file(request):
    """One file per request, the raw bytes as the body (``X-File-Name`` names it), streamed
    to disk and ingested; a zip is expanded. Answers with an outcome per file."""
    limit = settings.UPLOAD_MAX_BYTES
    name = unquote(request.headers.get("X-File-Name", ""))[:255] or "upload"
    length = request.META.get("CONTENT_LENGTH") or ""
    if not length.isdigit() or int(length) == 0:
        return _upload_error(name, 411, "the upload was empty or had no Content-Length")
    if int(length) > limit:
        return _upload_error(name, 413, f"{_size_problem(int(length), limit)}")
    try:
        spooled = storage.spool(storage.LimitedReader(request, limit))
    except storage.TooLarge:
        return _upload_error(name, 413, _size_problem(int(length), limit))
    except OSError as exc:
        log.warning("upload of %s failed: %s", name, exc)
        reason, code = failure_of(exc)
        return _upload_error(name, 507 if code == OUT_OF_RESOURCES else 500, reason)
    outcomes = upload.receive_upload(spooled, name, limit, Origin("web", request.user.pk))
    root = links.dicomweb_root(request)
    results = [
        {**outcome.as_dict(), "study_url": _study_url(root, outcome.study_instance_uid)}
        for outcome in outcomes
    ]
    return JsonResponse({"name": name, "results": results})


STATE_FIELDS = (
    "study_instance_uid",
    "generation",
    "cache_generation",
    "cache_error",
    "modalities_in_study",
    "number_of_study_related_series",
    "number_of_study_related_instances",
)


def _list_context(request) -> dict:
    query = WorklistQuery.from_params(request.GET)
    today = timezone.localdate()
    page = paging.fetch_page(query, query.size or settings.WORKLIST_PAGE_SIZE, today)
    # One search per list shown (its thumbnails are not logged: a list is not a view).
    accesslog.record(accesslog.A.SEARCH, query=query.to_params(), count=len(page.studies))
    study_links = links.StudyLinks()
    for study in page.studies:
        study.links = study_links.for_study(study.study_instance_uid)
    fresh = {"page": 1, "after": "", "before": ""}
    return {
        "query": query,
        "page": page,
        "total": paging.count_studies(query, today, settings.WORKLIST_EXACT_COUNT_LIMIT),
        "page_sizes": [(size, "?" + query.to_params(size=size, **fresh)) for size in PAGE_SIZES],
        "density_href": "?" + query.to_params(compact=not query.compact),
        "columns": _columns(query),
        "first_href": "?" + query.to_params(page=1, after="", before=""),
        "previous_href": "?" + page.previous_query(query).to_params(),
        "next_href": "?" + page.next_query(query).to_params(),
        "problems": [*query.problems, *([page.problem] if page.problem else [])],
        "modality_choices": sorted(set(MODALITY_CHOICES) | set(query.modalities)),
        "states": STATES,
        "can_upload": has_role(request.user, UPLOADER),
        "can_delete": has_role(request.user, ADMIN),
        "can_share": request.user.has_perm("accounts.add_sharelink"),
        "assign_projects": list(Project.objects.all()) if has_role(request.user, ADMIN) else [],
        "share_expiries": ShareLink.EXPIRY_CHOICES,
        "upload_max_bytes": settings.UPLOAD_MAX_BYTES,
        "upload_max_size": upload.human_size(settings.UPLOAD_MAX_BYTES),
        "upload_parallel": UPLOAD_PARALLEL,
        "dicomweb_root": links.dicomweb_root(request),
    }


# (column key, header) in display order; every key is one of query.SORTS.
COLUMNS = (
    ("name", "Patient name"),
    ("pid", "Patient ID"),
    ("birth", "Birth date"),
    ("sex", "Sex"),
    ("date", "Study date"),
    ("description", "Description"),
    ("modalities", "Modality"),
    ("accession", "Accession"),
    ("series", "Series"),
    ("instances", "Instances"),
    ("state", "State"),
)


def _columns(query: WorklistQuery) -> list[dict]:
    current = query.sort.lstrip("-")
    return [
        {
            "key": key,
            "label": label,
            "href": "?" + query.sort_params(key),
            "sorted": ("desc" if query.sort.startswith("-") else "asc") if key == current else "",
        }
        for key, label in COLUMNS
    ]


def _study_or_404(study_uid: str) -> Study:
    if not is_valid_uid(study_uid):
        raise Http404("not a valid Study Instance UID")
    return get_object_or_404(paging.visible_studies(), study_instance_uid=study_uid)


def _study_url(root: str, study_uid: str) -> str:
    """Where the study is in DICOMweb (like STOW-RS's RetrieveURL)."""
    return f"{root}/studies/{study_uid}" if study_uid else ""


def _size_problem(size: int, limit: int) -> str:
    return (
        f"the file is {upload.human_size(size)}, larger than the upload limit of "
        f"{upload.human_size(limit)} (UPLOAD_MAX_BYTES); split it or ask an administrator"
    )


def _upload_error(name: str, status: int, reason: str) -> JsonResponse:
    result = {"name": name, "status": "rejected", "reason": reason}
    return JsonResponse({"name": name, "error": reason, "results": [result]}, status=status)
