"""One URL, several PS3.18 transactions told apart by HTTP method; absolute URLs of routes.

``/studies`` is Search for Studies on GET (qido.py) and Store Instances on POST (stow.py);
``/studies/{study}`` is retrieve, store or delete. Django resolves URLs without looking at
the method, so each shared route maps methods to the views of their own modules here.
"""

import functools

from django.http import HttpResponseNotAllowed
from django.urls import get_script_prefix, reverse
from django.views.decorators.csrf import csrf_exempt


def by_method(**views):
    """A view that hands the request to ``views[request.method]``; HEAD goes to GET's view.

    Each target is a DRF view, which does its own authentication (CSRF included for session
    logins); this wrapper is CSRF-exempt only so that Django's middleware leaves that to them.
    """
    allowed = sorted(views)

    @csrf_exempt
    def dispatch(request, *args, **kwargs):
        method = "GET" if request.method == "HEAD" else request.method
        view = views.get(method)
        if view is None:
            return HttpResponseNotAllowed(allowed)
        return view(request, *args, **kwargs)

    dispatch.allowed_methods = allowed
    return dispatch


def absolute(request, reversed_path: str) -> str:
    """The absolute URL of a path from ``reverse()`` as the client reached this server: host
    and scheme as Django trusts them, the sub-path taken from this request's own path (as
    ``SCRIPT_NAME`` / ``FORCE_SCRIPT_NAME``), so it holds whether or not the script prefix was
    set; X-Forwarded-Host / -Proto count when the settings allow it."""
    script = request.path[: len(request.path) - len(request.path_info)]
    path = reversed_path.removeprefix(get_script_prefix().rstrip("/"))
    return request.build_absolute_uri(script + path)


def dicomweb_base(request) -> str:
    """The absolute DICOMweb root as the client reached it, e.g. ``https://host/pacs/dicom-web``:
    what RetrieveURLs and BulkDataURIs are built on."""
    return absolute(request, _reversed("studies", get_script_prefix())).removesuffix("/studies")


@functools.lru_cache(maxsize=64)
def _reversed(name: str, script_prefix: str) -> str:
    """``reverse(name)``, remembered: it is asked on every search and metadata request, and
    depends only on the URL patterns and the script prefix (part of the key)."""
    return reverse(name)
