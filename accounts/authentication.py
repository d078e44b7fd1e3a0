"""DRF authentication classes: header credentials (accounts.credentials) and the browser
session, with a CSRF rule the OHIF viewer can meet.

Why same-origin session requests to /dicom-web/ may skip the CSRF token: OHIF's STOW upload
sends the session cookie but no X-CSRFToken header, and a forged cross-site request is exactly
what such a token exists to stop. Browsers mark every request with ``Sec-Fetch-Site`` and, on
POST/PUT/DELETE, with ``Origin``; page scripts cannot set either (forbidden header names). A
request whose ``Sec-Fetch-Site`` is ``same-origin``, or whose ``Origin`` is this site's own
origin, was therefore made by a page of this site, which is what the token would have proved.
Anything else (other origins, neither header, "same-site" sibling hosts) still needs the token.
"""

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication

from . import credentials

SAME_ORIGIN_PREFIXES = ("/dicom-web/",)


def is_same_origin(request) -> bool:
    """True when the browser says the request comes from a page of this very origin."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site == "same-origin"
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return False
    return origin == f"{request.scheme}://{request.get_host()}"


class _HeaderAuthentication(BaseAuthentication):
    methods: tuple[str, ...] = ()

    def authenticate(self, request):
        try:
            found = credentials.from_request(request._request)
        except credentials.InvalidCredentials as exc:
            request._request._accounts_challenge = exc.challenge
            raise exceptions.AuthenticationFailed(exc.description) from None
        if found is None or found.method not in self.methods:
            return None
        return (found.user, found.token or found.method)

    def authenticate_header(self, request):
        return getattr(request._request, "_accounts_challenge", None) or credentials.challenge()


class BearerAuthentication(_HeaderAuthentication):
    """Authorization: Bearer <personal API token | provider access token>."""

    methods = ("api token", "oidc token")


class SwitchableBasicAuthentication(_HeaderAuthentication):
    """Authorization: Basic, for local accounts; off with AUTH_BASIC=false."""

    methods = ("basic",)


class SameOriginSessionAuthentication(SessionAuthentication):
    """The browser session. Unsafe requests need the CSRF token, except same-origin requests
    under /dicom-web/ (see the module docstring)."""

    def authenticate(self, request):
        if request._request.headers.get("Authorization"):
            return None  # header credentials decide, never the cookie beside them
        return super().authenticate(request)

    def enforce_csrf(self, request):
        """Checked on Django's request, not DRF's: Django's CSRF check looks for the token in
        ``request.POST``, which on DRF's request runs the view's parsers, so a STOW body that
        failed the check was read and spooled whole first. Django's own ``POST`` reads only
        form bodies; a STOW body is read after the check and the role check passed."""
        path = request._request.path_info
        if path.startswith(SAME_ORIGIN_PREFIXES) and is_same_origin(request):
            return
        super().enforce_csrf(request._request)


class ShareLinkAuthentication(BaseAuthentication):
    """A request under ``/share/<token>/``: the user ShareLinkMiddleware made for the link."""

    def authenticate(self, request):
        link = getattr(request._request, "share_link", None)
        if link is None:
            return None
        return (request._request.user, link)

    def authenticate_header(self, request):
        # First in the list, so it names the 401 challenge for every request (Bearer).
        return credentials.challenge()
