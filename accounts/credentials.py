"""Credentials in the Authorization header: personal API tokens and provider access tokens
(Bearer), local accounts (Basic). One function for the middleware (plain Django views) and the
DRF classes, evaluated once per request. Each kind can be switched off by a setting."""

import base64
import binascii
import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache

from . import bearer, oidc, roles, usercache
from .models import ApiToken

REALM = "ohifsite"


@dataclass
class Credential:
    user: object
    method: str  # "api token", "oidc token" or "basic"
    token: ApiToken | None = None


class InvalidCredentials(Exception):
    def __init__(self, scheme: str, description: str):
        super().__init__(description)
        self.scheme = scheme
        self.description = description

    @property
    def challenge(self) -> str:
        description = self.description.replace('"', "'")
        if self.scheme == "Basic":
            return f'Basic realm="{REALM}", charset="UTF-8"'
        return f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'


def challenge() -> str:
    """What a 401 without credentials answers: Bearer, because browsers never meet a Bearer
    challenge with a password prompt (they would for Basic, over the viewer's requests)."""
    return f'Bearer realm="{REALM}"'


def from_bearer(token: str) -> Credential:
    if token.startswith("ohif_"):
        found = ApiToken.objects.matching(token) if settings.AUTH_API_TOKENS else None
        if found is None:
            raise InvalidCredentials("Bearer", "unknown, expired or revoked API token")
        found.touch()
        user = found.user
        roles.cap_role(user, found.role)
        return Credential(user, "api token", found)
    if not (settings.AUTH_OIDC_BEARER and oidc.enabled()):
        raise InvalidCredentials("Bearer", "provider tokens are not accepted here")
    try:
        return Credential(bearer.user_for_token(token), "oidc token")
    except bearer.InvalidToken as exc:
        raise InvalidCredentials("Bearer", str(exc)) from None


def from_basic(encoded: str) -> Credential:
    if not settings.AUTH_BASIC:
        raise InvalidCredentials("Bearer", "HTTP Basic is switched off; use a token")
    try:
        username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidCredentials("Basic", "malformed Basic credentials") from None
    # Password hashing is slow on purpose (about 0.3 s); a script sending Basic on every
    # request would pay it each time. Remember a success briefly, tied to the password hash
    # so that a changed password or a disabled account takes effect at once.
    key = (
        "accounts:basic:"
        + hashlib.sha256(f"{settings.SECRET_KEY}\0{username}\0{password}".encode()).hexdigest()
    )
    if remembered := cache.get(key):
        user_id, password_hash = remembered
        user = usercache.get(user_id)
        if user is not None and user.is_active and user.password == password_hash:
            return Credential(user, "basic")
    user = authenticate(None, username=username, password=password)
    if user is None or not user.is_active:
        raise InvalidCredentials("Basic", "wrong user name or password")
    cache.set(key, (user.pk, user.password), 60)
    return Credential(user, "basic")


_NOT_YET = object()


def from_request(request) -> Credential | None:
    """The credential in the request's Authorization header, or None when there is none.
    Raises InvalidCredentials. Memoised on the Django request."""
    found = getattr(request, "_accounts_credential", _NOT_YET)
    if found is not _NOT_YET:
        if isinstance(found, InvalidCredentials):
            raise found
        return found
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    try:
        if scheme.lower() == "bearer" and value.strip():
            found = from_bearer(value.strip())
        elif scheme.lower() == "basic" and value.strip():
            found = from_basic(value.strip())
        elif scheme:
            raise InvalidCredentials("Bearer", f"unsupported authorization scheme {scheme!r}")
        else:
            found = None
    except InvalidCredentials as exc:
        request._accounts_credential = exc
        raise
    request._accounts_credential = found
    return found
