"""The three roles, as Django groups: reader (search and view), uploader (also store) and
admin (also delete and configure). Each role includes the ones before it; superusers have all.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

READER = "reader"
UPLOADER = "uploader"
ADMIN = "admin"
ORDER = (READER, UPLOADER, ADMIN)


def has_role(user, role: str) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    held = getattr(user, "_role_names", None)
    if held is None:
        held = set(user.groups.filter(name__in=ORDER).values_list("name", flat=True))
        user._role_names = held
    wanted = ORDER.index(role)
    return any(ORDER.index(name) >= wanted for name in held)


def role_required(role: str):
    """For plain Django views: login first (redirect), then the role (403)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            if not has_role(request.user, role):
                raise PermissionDenied(f"this needs the {role} role")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
