"""The three roles, as Django groups: reader (search and view), uploader (also store) and
admin (also delete and configure). Each role includes the ones before it; superusers have all.
"""

from functools import wraps

from django.contrib.auth.models import Group
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse

READER = "reader"
UPLOADER = "uploader"
ADMIN = "admin"
ORDER = (READER, UPLOADER, ADMIN)
# One line each, shown where roles are given (the admin's user page) and where one is missing.
DESCRIPTIONS = {
    READER: "search the worklist and DICOMweb, view studies in OHIF, download",
    UPLOADER: "a reader who may also store studies (upload page, STOW-RS)",
    ADMIN: "an uploader who may also delete studies and reach the admin",
}


class RoleMissing(PermissionDenied):
    """A signed-in user lacks ``role``: the 403 page (accounts.views.forbidden) names it."""

    def __init__(self, role: str):
        super().__init__(f"this needs the {role} role")
        self.role = role


def cap_role(user, role: str) -> None:
    """Limit this request's user (an in-memory object, never saved) to ``role`` at most: a
    personal API token scoped to a role. Below admin, the staff and superuser flags are cleared
    too, so a superuser's reader token cannot open the Django admin."""
    user._role_cap = role
    user._is_superuser = user.is_superuser
    if role != ADMIN:
        user.is_staff = user.is_superuser = False


def has_role(user, role: str) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    cap = getattr(user, "_role_cap", None)
    if cap is not None and ORDER.index(cap) < ORDER.index(role):
        return False
    if getattr(user, "_is_superuser", user.is_superuser):
        return True
    held = getattr(user, "_role_names", None)
    if held is None:
        held = load(user)
    wanted = ORDER.index(role)
    return any(ORDER.index(name) >= wanted for name in held)


def load(user) -> set[str]:
    """Read the user's role names once and keep them on the object (accounts.usercache keeps
    that object between requests)."""
    user._role_names = set(user.groups.filter(name__in=ORDER).values_list("name", flat=True))
    return user._role_names


def highest_role(user) -> str | None:
    for role in reversed(ORDER):
        if has_role(user, role):
            return role
    return None


def ensure_groups() -> dict[str, Group]:
    """The role groups by name, made if missing (migration 0002 makes them; an administrator
    may have deleted one since)."""
    return {name: Group.objects.get_or_create(name=name)[0] for name in ORDER}


def set_roles(user, roles: set[str]) -> None:
    """Make the user's role groups exactly ``roles`` (other groups are left alone)."""
    groups = ensure_groups()
    user.groups.remove(*(groups[name] for name in ORDER if name not in roles))
    user.groups.add(*(groups[name] for name in ORDER if name in roles))
    user._role_names = set(roles) & set(ORDER)


def wants_html(request) -> bool:
    """A browser navigating to a page (redirect it to the login page), not a script or a
    viewer's fetch (answer 401 so it can tell it is logged out)."""
    if request.headers.get("Authorization"):
        return False
    return "text/html" in request.headers.get("Accept", "")


def unauthorized() -> HttpResponse:
    response = HttpResponse("Authentication required.\n", status=401, content_type="text/plain")
    response["WWW-Authenticate"] = 'Bearer realm="ohifsite"'
    return response


def role_required(role: str):
    """For plain Django views: an anonymous browser is sent to the login page, an anonymous
    script gets 401 with a challenge; a logged-in user without the role gets 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                if wants_html(request):
                    return redirect_to_login(request.get_full_path())
                return unauthorized()
            if not has_role(request.user, role):
                raise RoleMissing(role)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
