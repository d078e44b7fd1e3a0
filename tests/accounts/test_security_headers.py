"""Security headers on every response (pages, API refusals, static files), framing only by
this site and the FRAME_ANCESTORS origins, HSTS on HTTPS, cookie flags, and CORS only for the
origins listed in CORS_ALLOWED_ORIGINS."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db
PATHS = ["/accounts/login/", "/dicom-web/studies", "/healthz", "/static/accounts/login.css"]


@pytest.fixture(autouse=True)
def static_files(settings):
    """Serve the login page's stylesheet from the app folder, as WhiteNoise does after
    collectstatic."""
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True


@pytest.mark.parametrize("path", PATHS)
def test_every_response_carries_the_headers(path):
    response = Client().get(path)

    assert response.status_code in (200, 401)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "Strict-Transport-Security" not in response  # plain HTTP


def test_listed_origins_may_embed_the_site(settings):
    settings.FRAME_ANCESTORS = ["https://portal.example.org"]

    response = Client().get("/accounts/login/")

    policy = response["Content-Security-Policy"]
    assert policy == "frame-ancestors 'self' https://portal.example.org"
    assert "X-Frame-Options" not in response


def test_hsts_over_https():
    response = Client().get("/accounts/login/", secure=True)

    assert response["Strict-Transport-Security"] == "max-age=31536000"


def test_session_cookie_is_httponly_and_secure_when_asked(settings, admin_user):
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    client = Client()

    response = client.post(
        "/accounts/login/", {"username": admin_user.username, "password": "password"}, secure=True
    )

    session = response.cookies["sessionid"]
    assert response.status_code == 302
    assert session["httponly"] and session["secure"] and session["samesite"] == "Lax"
    assert response.cookies["csrftoken"]["secure"]


def test_cors_only_for_listed_origins(settings, admin_user):
    settings.CORS_ALLOWED_ORIGINS = ["https://viewer.example.org"]
    client = Client()

    listed = client.options(
        "/dicom-web/studies",
        HTTP_ORIGIN="https://viewer.example.org",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )
    other = client.get("/dicom-web/studies", HTTP_ORIGIN="https://evil.example")

    assert listed["Access-Control-Allow-Origin"] == "https://viewer.example.org"
    assert "authorization" in listed["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in listed
    assert "Access-Control-Allow-Origin" not in other


@pytest.mark.parametrize("prefix", [None, "/pacs"])
def test_plain_http_is_sent_to_https_when_asked_except_the_health_checks(settings, prefix):
    settings.SECURE_SSL_REDIRECT = True
    settings.FORCE_SCRIPT_NAME = prefix

    page = Client().get("/accounts/login/")
    ready = Client().get("/healthz")
    alive = Client().get("/livez")

    assert page.status_code == 301
    assert page["Location"] == f"https://testserver{prefix or ''}/accounts/login/"
    assert (ready.status_code, alive.json()) == (200, {"status": "alive"})
