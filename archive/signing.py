"""Signed, expiring links that carry their own authorization, for clients that fetch without
cookies: OHIF loads the ``?url=`` of its DICOM JSON data source with ``credentials: 'omit'``.

A token names the studies and the user who asked; it is refused once older than
``DICOMJSON_LINK_MAX_AGE`` seconds, when altered, when the user is inactive or has lost the
reader role, and when the user's password changed since (the token holds a hash bound to it,
as Django's session auth hash is), so a leaked link stops working on its own.
Knows nothing of views beyond building the absolute URL of the link.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from accounts import roles

from .dicomweb.routing import absolute

SALT = "archive.signing.dicomjson-link"


class BadLink(Exception):
    """The token is expired, altered, or its user may no longer read the archive."""


@dataclass(frozen=True)
class Grant:
    user: object
    study_uids: list[str]


def make_token(user, study_uids: Iterable[str]) -> str:
    payload = {"u": user.pk, "h": _user_hash(user), "s": list(study_uids)}
    return signing.TimestampSigner(salt=SALT).sign_object(payload, compress=True)


def read_token(token: str, max_age: int | None = None) -> Grant:
    max_age = settings.DICOMJSON_LINK_MAX_AGE if max_age is None else max_age
    try:
        payload = signing.TimestampSigner(salt=SALT).unsign_object(token, max_age=max_age)
        user_id, user_hash, study_uids = payload["u"], payload["h"], payload["s"]
    except signing.SignatureExpired:
        raise BadLink(f"this link has expired (after {max_age} s); ask for a new one") from None
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise BadLink("this link is not valid") from None
    user = get_user_model().objects.filter(pk=user_id).first()
    if (
        user is None
        or not roles.has_role(user, roles.READER)
        or not constant_time_compare(_user_hash(user), user_hash)
    ):
        raise BadLink("the user this link was made for has no access any more")
    return Grant(user, [str(uid) for uid in study_uids])


def make_link(user, study_uids: Iterable[str], request) -> str:
    """Absolute URL of the DICOM JSON document of ``study_uids``, readable without cookies."""
    token = make_token(user, study_uids)
    return absolute(request, reverse("ohif_dicom_json", kwargs={"token": token}))


def _user_hash(user) -> str:
    """Changes when the password changes, so a password reset revokes the user's links."""
    return salted_hmac(SALT, f"{user.pk}:{user.password}", algorithm="sha256").hexdigest()[:16]
