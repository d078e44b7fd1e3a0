"""Serves the pinned OHIF build under /ohif/ and its ``app-config.js`` rendered from the database.

Client routes (/ohif/, /ohif/viewer, /ohif/viewer/dicomjson, /ohif/tmtv...) get ``index.html``;
paths that look like files or go deeper than OHIF's routes and do not exist get 404, so a
missing chunk or a wrong relative URL fails loudly instead of being answered with HTML.
"""

import re
from functools import wraps
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse, HttpResponseNotModified
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import http_date
from django.views.decorators.http import require_safe
from django.views.static import was_modified_since

from accounts.roles import ADMIN, UPLOADER, has_role, role_required

from . import assets, build
from .appconfig import Allowed, SiteUrls, build_app_config, htj2k_delivery, to_js
from .models import DataSource, Htj2kDelivery, ViewerSettings

IMMUTABLE = "private, max-age=31536000, immutable"
REVALIDATE = "no-cache"
NEVER = "no-store"
_GZIP = re.compile(r"\bgzip\b(?!\s*;\s*q=0(\.0+)?\s*(,|$))")


def viewer_access(view):
    """Readers only, through the site's session, unless OHIF signs users in itself (OIDC in
    the viewer): then the viewer's files are public code and DICOMweb checks the token."""
    protected = role_required("reader")(view)

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if ViewerSettings.objects.filter(pk=1, oidc_enabled=True).exists():
            return view(request, *args, **kwargs)
        return protected(request, *args, **kwargs)

    return wrapped


def needs_build(view):
    """503 with the fix when the OHIF build is missing (the system check says so at startup)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if build.installed_version(Path(settings.OHIF_BUILD_DIR)) is None:
            message = f"The OHIF build is not installed: run {build.INSTALL_COMMAND}\n"
            return HttpResponse(message, status=503, content_type="text/plain")
        return view(request, *args, **kwargs)

    return wrapped


@require_safe
@viewer_access
@needs_build
def index(request):
    """OHIF's own study list, when the admin offers it; otherwise the archive's worklist."""
    if not ViewerSettings.load().show_study_list:
        return redirect("worklist:study_list")
    return _index(request)


@require_safe
@viewer_access
def app_config_js(request):
    config = build_app_config(
        ViewerSettings.load(),
        list(DataSource.objects.enabled()),
        urls=site_urls(request),
        allowed=allowed(request.user),
    )
    response = HttpResponse(to_js(config), content_type=assets.content_type("app-config.js"))
    return _finish(request, response, NEVER)


@require_safe
@viewer_access
@needs_build
def asset(request, path):
    build_dir = Path(settings.OHIF_BUILD_DIR)
    file = assets.resolve(build_dir, path)
    if file is None:
        if not assets.is_client_route(path):
            raise Http404("no such file in the OHIF build, nor one of its routes")
        return _index(request)
    modified = file.stat().st_mtime
    versioned = assets.is_versioned(build_dir, request.GET.get("v"))
    cache = IMMUTABLE if assets.is_hashed(path) or versioned else REVALIDATE
    if cache == REVALIDATE and not was_modified_since(
        request.headers.get("If-Modified-Since"), modified
    ):
        return _finish(request, HttpResponseNotModified(), cache)
    content_type = assets.content_type(path)
    gzip_ok = _GZIP.search(request.headers.get("Accept-Encoding", "")) is not None
    if assets.needs_rewrite(file):
        response = _body_response(assets.rewritten(file, viewer_prefix()), content_type, gzip_ok)
    else:
        packed = file.with_name(file.name + ".gz")
        if gzip_ok and packed.is_file():
            response = FileResponse(packed.open("rb"), content_type=content_type)
            response["Content-Encoding"] = "gzip"
        else:
            response = FileResponse(file.open("rb"), content_type=content_type)
        del response["Content-Disposition"]
        if packed.is_file():
            patch_vary_headers(response, ["Accept-Encoding"])
    response["Last-Modified"] = http_date(modified)
    return _finish(request, response, cache)


def _index(request):
    build_dir = Path(settings.OHIF_BUILD_DIR)
    preload = ()
    if (source := DataSource.objects.default()) and htj2k_delivery(source) != Htj2kDelivery.OFF:
        preload = tuple(filter(None, [assets.htj2k_decoder(build_dir)]))
    worklist = reverse("worklist:study_list")
    body = assets.index_html(build_dir, viewer_prefix(), worklist, preload)
    gzip_ok = _GZIP.search(request.headers.get("Accept-Encoding", "")) is not None
    return _finish(request, _body_response(body, assets.content_type("index.html"), gzip_ok), NEVER)


def _body_response(body: assets.Body, content_type: str, gzip_ok: bool) -> HttpResponse:
    if gzip_ok and body.gzipped is not None:
        response = HttpResponse(body.gzipped, content_type=content_type)
        response["Content-Encoding"] = "gzip"
    else:
        response = HttpResponse(body.data, content_type=content_type)
    if body.gzipped is not None:
        patch_vary_headers(response, ["Accept-Encoding"])
    return response


def _finish(request, response, cache_control: str):
    response["Cache-Control"] = cache_control
    response["X-Content-Type-Options"] = "nosniff"
    if settings.OHIF_CROSS_ORIGIN_ISOLATION:
        # Lets OHIF use SharedArrayBuffer (window.crossOriginIsolated); see the README.
        response["Cross-Origin-Opener-Policy"] = "same-origin"
        response["Cross-Origin-Embedder-Policy"] = "require-corp"
        response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


def allowed(user) -> Allowed:
    """What the signed-in user's roles allow. With sign-in inside OHIF (no session here) the
    config is the same for everyone, and DICOMweb refuses what the token's role does not allow."""
    if not user.is_authenticated:
        return Allowed()
    return Allowed(store=has_role(user, UPLOADER), delete=has_role(user, ADMIN))


def viewer_prefix() -> str:
    """Path the viewer is served under for this request, e.g. "/ohif/" or "/pacs/ohif/"."""
    return reverse("viewerconfig:index")


def site_urls(request) -> SiteUrls:
    return SiteUrls(
        viewer=viewer_prefix().rstrip("/"),
        dicomweb=request.build_absolute_uri(reverse("studies").removesuffix("/studies")),
        wado_uri=request.build_absolute_uri(reverse("wado")),
    )
