"""Users from OpenID Connect claims: find or create the user for (issuer, subject), and make
its roles what the provider says. Knows nothing of HTTP or of how the claims were verified."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from . import roles
from .models import OidcIdentity, Project


def groups_in_claims(claims: dict) -> set[str]:
    """The provider groups in the groups/roles claim (a list, a space- or comma-separated
    string, or Keycloak's {"roles": [...]})."""
    value = claims
    for part in settings.OIDC_ROLES_CLAIM.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, dict):
        value = value.get("roles")
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return {str(item) for item in value or ()}


def roles_from_claims(claims: dict) -> set[str]:
    """The roles the provider grants: its groups mapped by OIDC_*_GROUPS."""
    held = groups_in_claims(claims)
    granted = {settings.OIDC_DEFAULT_ROLE} - {""}
    for role, names in (
        (roles.READER, settings.OIDC_READER_GROUPS),
        (roles.UPLOADER, settings.OIDC_UPLOADER_GROUPS),
        (roles.ADMIN, settings.OIDC_ADMIN_GROUPS),
    ):
        if held & set(names):
            granted.add(role)
    return granted


def _free_username(wanted: str) -> str:
    User = get_user_model()
    wanted = (wanted or "user")[:140]
    name, n = wanted, 1
    while User.objects.filter(username=name).exists():
        n += 1
        name = f"{wanted}-{n}"
    return name


def user_from_claims(issuer: str, claims: dict):
    """The user for these verified claims, created on first sight and updated every time.

    Admins of the provider become staff and superusers so they reach the Django admin; the
    flags are taken away again when the provider stops granting the admin role.

    A viewer's first requests with a new token arrive together, and each may try to create the
    user; the ones that lose that race find it on the second try.
    """
    try:
        return _user_from_claims(issuer, claims)
    except IntegrityError:
        return _user_from_claims(issuer, claims)


@transaction.atomic
def _user_from_claims(issuer: str, claims: dict):
    subject = str(claims["sub"])
    identity = (
        OidcIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    )
    User = get_user_model()
    if identity is None:
        username = claims.get(settings.OIDC_USERNAME_CLAIM) or claims.get("email") or subject
        user = User.objects.create_user(_free_username(str(username)), email="")
        user.set_unusable_password()
        identity = OidcIdentity(user=user, issuer=issuer, subject=subject)
    user = identity.user
    granted = roles_from_claims(claims)
    is_admin = roles.ADMIN in granted
    user.email = claims.get("email") or user.email
    user.first_name = (claims.get("given_name") or "")[:150]
    user.last_name = (claims.get("family_name") or "")[:150]
    user.is_staff = user.is_superuser = is_admin
    user.save()
    identity.last_login_claims = {k: v for k, v in claims.items() if k not in ("nonce", "at_hash")}
    identity.save()
    roles.set_roles(user, granted)
    set_provider_projects(user, groups_in_claims(claims))
    return user


def set_provider_projects(user, groups: set[str]) -> None:
    """Make the projects the provider grants (``Project.provider_groups``) exactly those whose
    groups the user holds now: leaving the group at the provider ends the access."""
    granted = [
        project
        for project in Project.objects.exclude(provider_groups="")
        if groups & {name.strip() for name in project.provider_groups.split(",")}
    ]
    user.provider_projects.set(granted)
