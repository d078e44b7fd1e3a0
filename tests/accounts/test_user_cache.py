"""Users kept between requests: per process for a moment (accounts.sessionusers), and in the
shared cache (accounts.usercache; CACHE_URL, pass 1 of ./test.sh), so that a logged-in request
reads neither its session nor its user from the database. A change to a user, its roles or a
role group made in this process is seen on the very next request; one made by another process
once this process's memory of the cookie expires."""

import base64
import time

import pytest
from access_helpers import logged_in, user_with_role  # noqa: F401 - fixtures
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts import sessionusers, usercache

pytestmark = pytest.mark.django_db
User = get_user_model()

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
        assert search(client) == 200  # the cookie's user is remembered in this process
    assert tables(queries) == ['"archive_study"']


def test_another_process_reads_the_user_from_the_shared_cache(reader):
    client = logged_in(reader)
    assert search(client) == 200
    sessionusers.clear()  # what a process that has not seen the cookie yet holds
    with CaptureQueriesContext(connection) as queries:
        assert search(client) == 200
    if settings.SHARED_CACHE:
        assert tables(queries) == ['"archive_study"']
    else:
        assert '"django_session"' in tables(queries) and '"auth_user"' in tables(queries)


def test_a_change_made_by_another_process_is_seen_when_the_memo_expires(reader, settings):
    settings.SESSION_USER_MEMO_SECONDS = 1
    client = logged_in(reader)
    assert search(client) == 200
    # Another process takes the role away: its signals forget the shared entry, but cannot
    # reach this process's memory.
    User.groups.through.objects.filter(user=reader).delete()
    cache.delete(usercache._key(reader.pk))
    assert search(client) == 200
    time.sleep(1.1)
    assert search(client) == 403


def tables(queries) -> list[str]:
    return [q["sql"].split(" FROM ")[1].split()[0] for q in queries.captured_queries]


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
