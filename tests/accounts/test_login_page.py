"""The login page: local accounts by default (embedded mode), straight to the provider once
OIDC is configured (local form still at ?local=1 unless LOCAL_LOGIN is off), and logout."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def oidc_configured(settings):
    """OIDC switched on with explicit endpoints; nothing here calls the provider."""
    settings.OIDC_RP_CLIENT_ID = "ohifsite"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = "https://idp.example.org/auth"


def test_local_login_page_is_dark_and_has_the_form():
    page = Client().get("/accounts/login/?next=/")

    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="username"' in html and 'name="password"' in html
    assert "accounts/login.css" in html and "single sign-on" not in html


def test_local_account_logs_in_and_lands_where_it_was_going(admin_user):
    client = Client()

    response = client.post(
        "/accounts/login/", {"username": "admin", "password": "password", "next": "/"}
    )
    worklist = client.get("/", HTTP_ACCEPT="text/html")

    assert response.status_code == 302 and response["Location"] == "/"
    assert worklist.status_code == 200


def test_wrong_password_shows_an_error(admin_user):
    page = Client().post("/accounts/login/", {"username": "admin", "password": "nope"})

    assert page.status_code == 200
    assert "Wrong user name or password" in page.content.decode()


def test_local_login_can_be_switched_off(admin_user, settings):
    settings.LOCAL_LOGIN = False

    response = Client().post("/accounts/login/", {"username": "admin", "password": "password"})

    assert response.status_code == 403
    assert "_auth_user_id" not in Client().session


def test_with_oidc_the_page_sends_browsers_to_the_provider(oidc_configured):
    response = Client().get("/accounts/login/?next=/worklist/rows")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/oidc/authenticate/?next=%2Fworklist%2Frows"


def test_with_oidc_the_local_form_is_still_reachable(oidc_configured):
    html = Client().get("/accounts/login/?local=1").content.decode()

    assert "single sign-on" in html and 'name="password"' in html


def test_without_oidc_its_endpoints_do_not_exist():
    assert Client().get("/accounts/oidc/authenticate/").status_code == 404
    assert Client().get("/accounts/oidc/callback/?code=a&state=b").status_code == 404


def test_logout_asks_then_ends_the_session(admin_client):
    confirm = admin_client.get("/accounts/logout/")
    done = admin_client.post("/accounts/logout/")

    assert confirm.status_code == 200 and b'id="logout"' in confirm.content
    assert done.status_code == 302 and done["Location"] == "/accounts/logged-out/"
    assert admin_client.get("/dicom-web/studies").status_code == 401


def test_healthz_reports_the_database():
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] == "ok"


def test_admin_login_uses_the_site_login_page():
    response = Client().get("/admin/login/?next=/admin/accounts/apitoken/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/admin/accounts/apitoken/"


def test_signed_in_non_staff_user_gets_the_admin_explanation_not_a_loop(django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_user("rita", password="unused-pw"))

    page = client.get("/admin/", follow=True)

    assert page.status_code == 200
    assert "not authorized" in page.content.decode()
