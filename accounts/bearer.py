"""Access tokens from the OpenID Connect provider, for REST clients.

A JWT is checked here, against the provider's JWKS (kept for OIDC_JWKS_CACHE_SECONDS):
signature with the configured algorithm only, expiry, issuer and audience (OIDC_API_AUDIENCE).
Any other token is shown to the provider's userinfo endpoint. Either way the answer is kept
for OIDC_TOKEN_CACHE_SECONDS (never past the token's expiry), so a busy client does not cost
a provider round trip or a user update per request. Knows nothing of HTTP requests.
"""

import hashlib
import threading
import time

import jwt
import requests
from django.conf import settings
from django.core.cache import cache

from . import identities, oidc, usercache


class InvalidToken(Exception):
    """The token is expired, malformed, wrongly signed or not meant for us."""


_jwks_clients: dict[str, jwt.PyJWKClient] = {}
_jwks_lock = threading.Lock()


def _jwks_client() -> jwt.PyJWKClient:
    uri = oidc.setting("OIDC_OP_JWKS_ENDPOINT", None)
    if not uri:
        raise InvalidToken("the provider publishes no keys")
    with _jwks_lock:
        if uri not in _jwks_clients:
            _jwks_clients[uri] = jwt.PyJWKClient(
                uri,
                cache_keys=True,
                lifespan=settings.OIDC_JWKS_CACHE_SECONDS,
                timeout=settings.OIDC_TIMEOUT,
            )
        return _jwks_clients[uri]


def claims_from_jwt(token: str) -> dict:
    try:
        key = _jwks_client().get_signing_key_from_jwt(token).key
        options = {"require": ["exp", "iss", "sub"]}
        return jwt.decode(
            token,
            key,
            algorithms=[settings.OIDC_RP_SIGN_ALGO],
            audience=oidc.audiences(),
            issuer=settings.OIDC_OP_ISSUER or None,
            options=options,
            leeway=30,
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the token has expired") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("the token is for another audience") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("the token is from another issuer") from None
    except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
        raise InvalidToken(f"the token is not valid: {exc}") from None


def claims_from_userinfo(token: str) -> dict:
    endpoint = oidc.setting("OIDC_OP_USER_ENDPOINT", "")
    if not endpoint:
        raise InvalidToken("the token is not a JWT and the provider has no userinfo endpoint")
    response = requests.get(
        endpoint, headers={"Authorization": f"Bearer {token}"}, timeout=settings.OIDC_TIMEOUT
    )
    if response.status_code in (400, 401, 403):
        raise InvalidToken("the provider does not accept the token")
    response.raise_for_status()
    claims = response.json()
    if "sub" not in claims:
        raise InvalidToken("the provider's answer names no subject")
    claims.setdefault("iss", settings.OIDC_OP_ISSUER)
    claims.setdefault("exp", time.time() + settings.OIDC_TOKEN_CACHE_SECONDS)
    return claims


def user_for_token(token: str):
    """The active user the provider's access token stands for; raises InvalidToken."""
    key = "accounts:bearer:" + hashlib.sha256(token.encode()).hexdigest()
    user_id = cache.get(key)
    if user_id is None:
        looks_like_jwt = token.count(".") == 2
        claims = claims_from_jwt(token) if looks_like_jwt else claims_from_userinfo(token)
        issuer = (claims.get("iss") or settings.OIDC_OP_ISSUER).rstrip("/")
        user_id = identities.user_from_claims(issuer, claims).pk
        lifetime = min(settings.OIDC_TOKEN_CACHE_SECONDS, int(claims["exp"] - time.time()))
        if lifetime > 0:
            cache.set(key, user_id, lifetime)
    user = usercache.get(user_id)
    if user is None or not user.is_active:
        raise InvalidToken("the user is disabled")
    return user
