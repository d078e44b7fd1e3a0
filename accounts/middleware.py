"""Middleware: credentials in the Authorization header for every view (not only DRF ones),
security headers on every response, and the access log."""

import logging

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import get_script_prefix, reverse, set_script_prefix
from django.utils.functional import SimpleLazyObject
from django.utils.http import urlencode

from . import accesslog, credentials, current, sessionusers, sharelinks
from .roles import unauthorized, wants_html

log = logging.getLogger(__name__)


class SessionUserMiddleware(AuthenticationMiddleware):
    """Django's AuthenticationMiddleware, with the user of a session cookie read through
    accounts.sessionusers (remembered for a moment per process)."""

    def process_request(self, request):
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _session_user(request))


def _session_user(request):
    if not hasattr(request, "_cached_user"):
        request._cached_user = sessionusers.user_for(request)
    return request._cached_user


class HeaderAuthenticationMiddleware:
    """Authenticate Bearer/Basic credentials for every view, so plain Django views (WADO-URI,
    pages) accept them like the DRF views do. Bad credentials get 401 here, whatever the URL.
    Header credentials are never sent by a browser on its own, so they need no CSRF token."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.headers.get("Authorization"):
            try:
                found = credentials.from_request(request)
            except credentials.InvalidCredentials as exc:
                response = unauthorized()
                response["WWW-Authenticate"] = exc.challenge
                response.content = f"{exc.description}\n".encode()
                return response
            if found is not None:
                request.user = found.user
                request.auth_method = found.method
                request._dont_enforce_csrf_checks = True
        return self.get_response(request)


class ShareLinkMiddleware:
    """``/share/<token>/...``: the rest of the path served under that prefix, as the link
    allows (accounts.sharelinks); a dead link gets a page saying so (410), an unknown one 404."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        match = sharelinks.PATTERN.match(request.path_info)
        if match is None:
            return self.get_response(request)
        link = sharelinks.find(match["token"])
        if link is None or link.state != "active" or not link.created_by.is_active:
            return _dead_link(request, link)
        rest = match["rest"] or "/"
        outer = get_script_prefix()
        prefix = f"{outer}share/{match['token']}"
        set_script_prefix(prefix + "/")
        try:
            if rest == "/":
                viewer = reverse("viewerconfig:asset", kwargs={"path": "viewer"})
                return redirect(
                    f"{viewer}?{urlencode({'StudyInstanceUIDs': ','.join(link.study_uids)})}"
                )
            if not sharelinks.allows(link, rest, request.method):
                status = 404 if request.method in ("GET", "HEAD") else 403
                return HttpResponse(
                    "Not available through a share link.\n",
                    status=status,
                    content_type="text/plain",
                )
            request.path_info = request.META["PATH_INFO"] = rest
            request.META["SCRIPT_NAME"] = prefix
            request.path = prefix + rest
            request.share_link = link
            request.auth_method = "share link"
            request.user = request._cached_user = sharelinks.act_as(link)
            sharelinks.touch(link)
            return self.get_response(request)
        finally:
            set_script_prefix(outer)


def _dead_link(request, link) -> HttpResponse:
    status = 404 if link is None else 410
    reason = "does not exist" if link is None else f"was {link.state}"
    if not wants_html(request):
        return HttpResponse(
            f"This share link {reason}.\n", status=status, content_type="text/plain"
        )
    return render(request, "accounts/share_gone.html", {"link": link}, status=status)


class SecurityHeadersMiddleware:
    """Who may frame our pages: this site, plus the origins in FRAME_ANCESTORS (a portal that
    embeds the viewer). X-Frame-Options cannot name origins, so it is dropped when some are
    listed and CSP frame-ancestors alone decides. The other headers (nosniff, referrer policy,
    HSTS on HTTPS) come from Django's SecurityMiddleware, configured in settings."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        ancestors = " ".join(["'self'", *settings.FRAME_ANCESTORS])
        policy = response.get("Content-Security-Policy", "")
        if "frame-ancestors" not in policy:
            joined = f"{policy.rstrip('; ')}; " if policy else ""
            response["Content-Security-Policy"] = f"{joined}frame-ancestors {ancestors}"
        if settings.FRAME_ANCESTORS:
            if "X-Frame-Options" in response:
                del response["X-Frame-Options"]
        elif not getattr(response, "xframe_options_exempt", False):
            # Responses that skip the inner middleware (static files) get it here.
            response.headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        return response


class AccessLogMiddleware:
    """Makes the request current for the access log (code that records without being handed
    the request), and records refusals: actions are recorded where they are performed."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current.request.set(request)
        try:
            response = self.get_response(request)
        finally:
            current.request.reset(token)
        if response.status_code in (401, 403) and not request.path_info.startswith("/static/"):
            try:
                accesslog.record(accesslog.A.REFUSED, request=request, status=response.status_code)
            except Exception:  # noqa: BLE001 - the answer is ready; the log must not replace it
                log.exception("access log failed for %s %s", request.method, request.path[:200])
        return response
