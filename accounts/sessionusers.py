"""The logged-in user of a session cookie, remembered for a moment in this process.

A viewer opening a study sends hundreds of requests in a few seconds with the same cookie.
Reading its session and its user each time is two round trips (to the shared cache, or to the
database without one), which on a small server is most of what a frame request costs. So the
user found for a cookie is kept here for SESSION_USER_MEMO_SECONDS. In this process, logging
out and any change to the user or its roles (accounts.usercache) forget it at once; other
processes notice within those seconds, as a provider's token stays valid for
OIDC_TOKEN_CACHE_SECONDS after it is revoked. 0 turns this off.
"""

import copy
import threading
import time

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import signals
from django.dispatch import receiver

_memo: dict[str, tuple[float, object]] = {}
_lock = threading.Lock()
_MAX = 10_000


def user_for(request):
    """``django.contrib.auth.get_user``, answered from memory when the cookie was seen just now.
    Each request gets its own copy of the user: views may change theirs."""
    seconds = settings.SESSION_USER_MEMO_SECONDS
    key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not seconds or not key:
        return auth.get_user(request)
    now = time.monotonic()
    hit = _memo.get(key)
    if hit is not None and hit[0] > now:
        return copy.copy(hit[1])
    user = auth.get_user(request)
    if user.is_authenticated and request.session.session_key == key:
        with _lock:
            if len(_memo) >= _MAX:
                _memo.clear()
            _memo[key] = (now + seconds, copy.copy(user))
    return user


def forget_users(user_ids) -> None:
    wanted = set(user_ids)
    with _lock:
        for key, (_, user) in list(_memo.items()):
            if user.pk in wanted:
                del _memo[key]


def forget_session(session_key: str | None) -> None:
    if session_key:
        _memo.pop(session_key, None)


def clear() -> None:
    _memo.clear()


@receiver(signals.user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if request is not None:
        forget_session(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
