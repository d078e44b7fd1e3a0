"""Browser login through an OpenID Connect provider, on mozilla-django-oidc.

We add three things to the library: endpoints discovered from the issuer when not set one by
one, checks it leaves out (issuer, audience, userinfo subject), and users found by
(issuer, subject) with roles from the provider's groups (accounts.identities). With no client
id configured, everything here is inert: the backend authenticates nobody and the views 404.
"""

import threading
import time
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from . import identities, usercache

# Setting name -> key of the provider's discovery document.
DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_LOGOUT_ENDPOINT": "end_session_endpoint",
}
DISCOVERY_SECONDS = 3600
_discovery: dict[str, tuple[float, dict]] = {}
_discovery_lock = threading.Lock()


def enabled() -> bool:
    return bool(
        settings.OIDC_RP_CLIENT_ID
        and (settings.OIDC_OP_ISSUER or settings.OIDC_OP_AUTHORIZATION_ENDPOINT)
    )


def discovery() -> dict:
    """The issuer's /.well-known/openid-configuration, fetched at most once an hour."""
    issuer = settings.OIDC_OP_ISSUER
    if not issuer:
        return {}
    with _discovery_lock:
        fetched = _discovery.get(issuer)
        if fetched and time.monotonic() - fetched[0] < DISCOVERY_SECONDS:
            return fetched[1]
        response = requests.get(
            f"{issuer}/.well-known/openid-configuration", timeout=settings.OIDC_TIMEOUT
        )
        response.raise_for_status()
        document = response.json()
        if document.get("issuer", "").rstrip("/") != issuer:
            raise SuspiciousOperation("the discovery document names another issuer")
        _discovery[issuer] = (time.monotonic(), document)
        return document


def setting(name: str, *default):
    """A setting for mozilla-django-oidc, with empty endpoints filled in by discovery."""
    if (
        name in DISCOVERED
        and not getattr(settings, name, "")
        and (value := discovery().get(DISCOVERED[name]))
    ):
        return value
    return import_from_settings(name, *default)


def audiences() -> list[str]:
    return settings.OIDC_API_AUDIENCE or [settings.OIDC_RP_CLIENT_ID]


class OidcBackend(OIDCAuthenticationBackend):
    """Authorization code flow (PKCE, state and nonce checked by the library) ending in a user
    found by (issuer, subject)."""

    get_settings = staticmethod(setting)

    def __init__(self, *args, **kwargs):
        # The library reads every endpoint here and refuses to start without them; we are
        # loaded on every request that has a session, OIDC or not, so wait until it is used.
        pass

    def authenticate(self, request, **kwargs):
        if not enabled() or request is None or "code" not in request.GET:
            return None
        super().__init__()
        return super().authenticate(request, **kwargs)

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)
        audience = payload.get("aud")
        audience = [audience] if isinstance(audience, str) else audience or []
        if settings.OIDC_RP_CLIENT_ID not in audience:
            raise SuspiciousOperation("the ID token is for another client")
        issuer = settings.OIDC_OP_ISSUER
        if issuer and payload.get("iss", "").rstrip("/") != issuer:
            raise SuspiciousOperation("the ID token is from another issuer")
        return payload

    def get_or_create_user(self, access_token, id_token, payload):
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT:
            userinfo = self.get_userinfo(access_token, id_token, payload)
            if str(userinfo.get("sub")) != str(payload["sub"]):
                raise SuspiciousOperation("userinfo describes another subject")
            claims.update(userinfo)
        return identities.user_from_claims(payload["iss"].rstrip("/"), claims)

    def get_user(self, user_id):
        user = usercache.get(user_id)
        return user if user is not None and user.is_active else None


class _WhenEnabled:
    """The library's views, reading our settings, and 404 while OIDC is not configured."""

    get_settings = staticmethod(setting)

    def __init__(self, *args, **kwargs):
        if enabled():  # the library reads the endpoints here
            super().__init__(*args, **kwargs)

    def dispatch(self, request, *args, **kwargs):
        if not enabled():
            raise Http404("OpenID Connect is not configured")
        return super().dispatch(request, *args, **kwargs)


class OidcLoginView(_WhenEnabled, OIDCAuthenticationRequestView):
    pass


class OidcCallbackView(_WhenEnabled, OIDCAuthenticationCallbackView):
    @property
    def failure_url(self):
        return reverse("accounts:login") + "?failed=1"


def provider_logout_url(request) -> str:
    """Where to send the browser after the Django session ends: the provider's end-session
    endpoint (RP-initiated logout) when it has one and we hold an ID token, else our page."""
    logged_out = request.build_absolute_uri(reverse("accounts:logged_out"))
    id_token = request.session.get("oidc_id_token")
    endpoint = setting("OIDC_OP_LOGOUT_ENDPOINT", "") if enabled() else ""
    if not (endpoint and id_token):
        return reverse("accounts:logged_out")
    query = urlencode(
        {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": logged_out,
            "client_id": settings.OIDC_RP_CLIENT_ID,
        }
    )
    return f"{endpoint}?{query}"
