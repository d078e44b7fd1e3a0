"""Middleware: credentials in the Authorization header for every view (not only DRF ones),
security headers on every response, and the access log."""

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.utils.functional import SimpleLazyObject

from . import accesslog, credentials, current, sessionusers
from .roles import unauthorized


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
            accesslog.record(accesslog.A.REFUSED, request=request, status=response.status_code)
        return response
