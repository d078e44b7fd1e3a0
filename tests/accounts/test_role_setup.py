"""Roles out of the box: the three groups exist after migrate, the first administrator holds
the admin role, the admin's user page offers the roles with what each allows, and a user
without a role gets a page that says what is missing and how to get out, logged in one line."""

import logging

import pytest
from access_helpers import logged_in, user_with_role
from django.contrib.auth.models import Group
from django.core.management import call_command

from accounts import roles

pytestmark = pytest.mark.django_db


def test_the_role_groups_exist_after_migrate():
    assert set(Group.objects.values_list("name", flat=True)) >= {"reader", "uploader", "admin"}


def test_ensure_admin_puts_the_first_administrator_in_the_admin_role(django_user_model):
    call_command("ensure_admin", stdout=open("/dev/null", "w"))  # noqa: SIM115

    admin = django_user_model.objects.get(username="admin")
    assert admin.is_superuser
    assert list(admin.groups.values_list("name", flat=True)) == ["admin"]


def test_the_user_page_offers_each_role_with_its_description(admin_user, django_user_model):
    newcomer = user_with_role(django_user_model, "newcomer")

    page = logged_in(admin_user).get(f"/admin/auth/user/{newcomer.pk}/change/").content.decode()

    for role in roles.ORDER:
        assert f"{role} — {roles.DESCRIPTIONS[role]}" in page
    assert 'type="checkbox" name="groups"' in page


def test_a_user_without_a_role_gets_a_page_naming_it_with_a_way_out(
    django_user_model, settings, caplog
):
    settings.ACCESS_CONTACT = "the PACS team, extension 4321"
    client = logged_in(user_with_role(django_user_model, "nora"))

    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/", HTTP_ACCEPT="text/html")

    page = response.content.decode()
    assert response.status_code == 403
    assert "has no role yet" in page and "<strong>reader</strong> role" in page
    assert "the PACS team, extension 4321" in page
    assert 'action="/accounts/logout/"' in page and "csrfmiddlewaretoken" in page
    assert "accounts/login.css" in page  # the styled page, not Django's bare one
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == "Forbidden (Permission denied): /"
    assert record.exc_info is None and not record.exc_text


def test_an_uploader_page_tells_a_reader_which_role_it_has(django_user_model):
    client = logged_in(user_with_role(django_user_model, "rita", "reader"))

    page = client.post("/worklist/studies/1.2.3/delete", HTTP_ACCEPT="text/html")

    assert page.status_code == 403
    assert "has the reader role" in page.content.decode()
    assert "<strong>admin</strong> role" in page.content.decode()


def test_a_script_without_the_role_gets_one_line(django_user_model):
    client = logged_in(user_with_role(django_user_model, "nora"))

    response = client.get("/", HTTP_ACCEPT="application/json")

    assert response.status_code == 403
    assert response.content == b"Forbidden: this needs the reader role.\n"
