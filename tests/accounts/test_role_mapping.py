"""Provider groups to roles (accounts.identities.roles_from_claims): the claim as a list, a
string or nested (Keycloak), renamed groups, a default role; and the user's groups and admin
flags follow the provider at every sign-in."""

import pytest

from accounts import identities, roles

ISSUER = "https://sso.example.org/realms/hospital"


@pytest.mark.parametrize(
    "claims, expected",
    [
        ({"groups": ["reader"]}, {"reader"}),
        ({"groups": "uploader other"}, {"uploader"}),
        ({"groups": "reader,admin"}, {"reader", "admin"}),
        ({"groups": []}, set()),
        ({}, set()),
        ({"groups": ["Admin"]}, set()),  # names are exact
    ],
)
def test_groups_claim_shapes(claims, expected):
    assert identities.roles_from_claims(claims) == expected


def test_nested_claim_and_renamed_groups(settings):
    settings.OIDC_ROLES_CLAIM = "realm_access.roles"
    settings.OIDC_READER_GROUPS = ["radiology", "referrers"]
    settings.OIDC_ADMIN_GROUPS = ["pacs-admins"]

    assert identities.roles_from_claims({"realm_access": {"roles": ["referrers"]}}) == {"reader"}
    assert identities.roles_from_claims({"realm_access": {"roles": ["pacs-admins"]}}) == {"admin"}
    assert identities.roles_from_claims({"groups": ["reader"]}) == set()


def test_default_role_for_everyone_the_provider_lets_in(settings):
    settings.OIDC_DEFAULT_ROLE = "reader"

    assert identities.roles_from_claims({"groups": ["uploader"]}) == {"reader", "uploader"}
    assert identities.roles_from_claims({}) == {"reader"}


@pytest.mark.django_db
def test_roles_and_admin_flags_follow_the_provider():
    claims = {"sub": "u-17", "preferred_username": "mara", "groups": ["admin"]}

    first = identities.user_from_claims(ISSUER, claims)
    assert (first.username, first.is_staff, first.is_superuser) == ("mara", True, True)
    demoted = identities.user_from_claims(ISSUER, {**claims, "groups": ["reader"]})

    demoted.refresh_from_db()
    assert demoted.pk == first.pk
    assert not demoted.is_staff and not demoted.is_superuser
    assert list(demoted.groups.values_list("name", flat=True)) == ["reader"]
    assert roles.highest_role(demoted) == roles.READER


@pytest.mark.django_db
def test_same_subject_at_another_issuer_is_another_user():
    one = identities.user_from_claims(ISSUER, {"sub": "42", "preferred_username": "sam"})
    other = identities.user_from_claims("https://other.example", {"sub": "42"})

    assert one.pk != other.pk and other.username == "42"


@pytest.mark.django_db(transaction=True)
def test_first_requests_that_arrive_together_make_one_user():
    """OHIF sends its first DICOMweb requests with a new token at once: each may find no user
    and create one. The second waits on the first's uncommitted row here, so it must lose the
    race, and then find the first's user instead of failing."""
    import threading
    import time

    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from accounts.models import OidcIdentity

    if connection.vendor != "postgresql":
        pytest.skip("SQLite takes the write lock at BEGIN, so the two never overlap")
    claims = {"sub": "u-race", "preferred_username": "alice", "groups": ["reader"]}
    found = []

    def second():
        try:
            found.append(identities.user_from_claims(ISSUER, claims))
        except Exception as exc:  # noqa: BLE001 (asserted below)
            found.append(exc)
        finally:
            connection.close()

    with transaction.atomic():
        first = identities.user_from_claims(ISSUER, claims)
        thread = threading.Thread(target=second)
        thread.start()
        with connection.cursor() as cursor:
            for _ in range(100):
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # a transaction's is kept
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the second request never waited for the first's row")
    thread.join(30)

    assert [user.pk for user in found] == [first.pk]
    assert get_user_model().objects.filter(username__startswith="alice").count() == 1
    assert OidcIdentity.objects.filter(subject="u-race").count() == 1
    assert roles.highest_role(found[0]) == roles.READER
