"""Users kept between requests (accounts.usercache): with a shared cache (CACHE_URL, pass 1 of
./test.sh) a logged-in request reads neither the session nor the user from the database, and
every change to a user, its roles or a role group is seen on the very next request. Without a
shared cache (pass 2) the same changes hold, read from the database each time."""

import base64

import pytest
from access_helpers import logged_in, user_with_role  # noqa: F401 - fixtures
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db

SEARCH = "/dicom-web/studies?PatientID=none"


def search(client, **headers) -> int:
    return client.get(SEARCH, HTTP_ACCEPT="application/dicom+json", **headers).status_code


@pytest.fixture
def reader(django_user_model):
    return user_with_role(django_user_model, "cached-reader", "reader")


def test_logged_in_request_reads_only_the_search_from_the_database(reader):
    client = logged_in(reader)
    assert search(client) == 200
    with CaptureQueriesContext(connection) as queries:
        assert search(client) == 200
    tables = [q["sql"].split(" FROM ")[1].split()[0] for q in queries.captured_queries]
    if settings.SHARED_CACHE:
        assert tables == ['"archive_study"'], tables
    else:
        assert '"django_session"' in tables and '"auth_user"' in tables


def test_role_removed_is_refused_at_once(reader):
    client = logged_in(reader)
    assert search(client) == 200
    reader.groups.remove(Group.objects.get(name="reader"))
    assert search(client) == 403


def test_role_added_through_the_group_is_granted_at_once(django_user_model):
    user = user_with_role(django_user_model, "no-role-yet")
    client = logged_in(user)
    assert search(client) == 403
    Group.objects.get_or_create(name="reader")[0].user_set.add(user)
    assert search(client) == 200


@pytest.mark.parametrize("change", ["delete group", "clear group", "rename group"])
def test_role_group_changes_are_seen_at_once(reader, change):
    client = logged_in(reader)
    assert search(client) == 200
    group = Group.objects.get(name="reader")
    if change == "delete group":
        group.delete()
    elif change == "clear group":
        group.user_set.clear()
    else:
        group.name = "former readers"
        group.save()
    assert search(client) == 403


def test_disabled_user_is_logged_out_at_once(reader):
    client = logged_in(reader)
    assert search(client) == 200
    reader.is_active = False
    reader.save()
    assert search(client) == 401


def test_password_change_ends_other_sessions(reader):
    client = logged_in(reader)
    assert search(client) == 200
    reader.set_password("a-new-password-2718")
    reader.save()
    assert search(client) == 401


def test_logout_ends_the_session_for_every_copy_of_the_cookie(reader):
    client = logged_in(reader)
    copy = Client()
    copy.cookies = client.cookies
    assert search(copy) == 200
    client.post("/accounts/logout/")
    assert search(copy) == 401


def test_basic_user_disabled_is_refused_at_once(reader):
    reader.set_password("basic-pw-1618")
    reader.save()
    header = "Basic " + base64.b64encode(b"cached-reader:basic-pw-1618").decode()
    client = Client()
    assert search(client, HTTP_AUTHORIZATION=header) == 200
    assert search(client, HTTP_AUTHORIZATION=header) == 200  # the remembered success
    reader.is_active = False
    reader.save()
    assert search(client, HTTP_AUTHORIZATION=header) == 401
