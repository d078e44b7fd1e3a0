"""Browser login through the real OpenID Connect provider, driven with plain HTTP (the
Chromium version is tests/e2e/test_login_oidc.py): authorization code flow with PKCE, state
and nonce; users and roles from the provider's groups; RP-initiated logout."""

import re
from html import unescape
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
import requests
from django.contrib.auth import get_user_model

from accounts import roles
from accounts.models import AccessEvent, OidcIdentity

pytestmark = pytest.mark.django_db(transaction=True)
HTML = {"Accept": "text/html"}


def form_of(response) -> tuple[str, dict]:
    """The first form of an HTML page: absolute action URL and its hidden fields."""
    action = re.search(r'<form[^>]*action="([^"]*)"', response.text).group(1)
    fields = dict(
        re.findall(
            r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', response.text
        )
    )
    return urljoin(response.url, unescape(action)), fields


def login(session: requests.Session, site: str, username: str, password: str, path="/"):
    to_provider = session.get(site + path, headers=HTML, timeout=10)
    action, _ = form_of(to_provider)
    return to_provider, session.post(
        action, data={"username": username, "password": password}, headers=HTML, timeout=10
    )


def test_worklist_sends_browser_to_provider_with_pkce_state_and_nonce(oidc_settings):
    session = requests.Session()

    page = session.get(oidc_settings.site + "/", headers=HTML, timeout=10)

    hops = [urlparse(r.url) for r in page.history]
    assert [h.path for h in hops] == [
        "/",
        "/accounts/login/",
        "/accounts/oidc/authenticate/",
        "/auth",
    ]
    authorize = parse_qs(hops[-1].query)
    assert authorize["response_type"] == ["code"]
    assert authorize["client_id"] == ["ohifsite"]
    assert authorize["code_challenge_method"] == ["S256"]
    assert len(authorize["code_challenge"][0]) >= 43
    assert len(authorize["state"][0]) >= 32 and len(authorize["nonce"][0]) >= 32
    assert page.url.startswith(oidc_settings.issuer + "/interaction/")
    assert 'name="password"' in page.text


def test_reader_logs_in_and_comes_back_to_the_worklist(oidc_settings):
    session = requests.Session()

    _, back = login(session, oidc_settings.site, "alice", "alice-pw")

    assert back.status_code == 200
    assert back.url == oidc_settings.site + "/"
    user = OidcIdentity.objects.get(issuer=oidc_settings.issuer, subject="alice").user
    assert user.username == "alice" and user.email == "alice@example.org"
    assert roles.highest_role(user) == roles.READER
    assert not user.is_staff and not user.has_usable_password()
    assert AccessEvent.objects.filter(username="alice", action="login").count() == 1
    # The session works for the API too (the viewer's same-origin requests).
    api = session.get(oidc_settings.site + "/dicom-web/studies", timeout=10)
    assert api.status_code == 200 and api.json() == []


def test_provider_admin_reaches_the_django_admin_and_reader_does_not(oidc_settings):
    admin_session, reader_session = requests.Session(), requests.Session()
    login(admin_session, oidc_settings.site, "adam", "adam-pw")
    login(reader_session, oidc_settings.site, "alice", "alice-pw")

    admin_page = admin_session.get(oidc_settings.site + "/admin/", headers=HTML, timeout=10)
    reader_page = reader_session.get(
        oidc_settings.site + "/admin/", headers=HTML, allow_redirects=False, timeout=10
    )

    assert admin_page.status_code == 200 and "Site administration" in admin_page.text
    assert reader_page.status_code == 302 and "/admin/login/" in reader_page.headers["Location"]
    adam = get_user_model().objects.get(oidcidentity__subject="adam")
    assert adam.is_staff and adam.is_superuser and roles.highest_role(adam) == roles.ADMIN


def test_user_without_a_mapped_group_is_logged_in_but_refused(oidc_settings):
    session = requests.Session()

    _, back = login(session, oidc_settings.site, "nobody", "nobody-pw")
    api = session.get(oidc_settings.site + "/dicom-web/studies", timeout=10)

    assert back.status_code == 403
    assert api.status_code == 403


def test_local_account_named_like_a_provider_user_is_not_taken_over(
    oidc_settings, django_user_model
):
    local = django_user_model.objects.create_superuser("adam", password="local-secret-pw")
    session = requests.Session()

    login(session, oidc_settings.site, "adam", "adam-pw")

    identity = OidcIdentity.objects.get(subject="adam")
    assert identity.user != local and identity.user.username == "adam-2"


def test_wrong_password_at_the_provider_logs_nobody_in(oidc_settings):
    session = requests.Session()

    _, answer = login(session, oidc_settings.site, "alice", "wrong")

    assert "Wrong username or password" in answer.text
    assert session.get(oidc_settings.site + "/dicom-web/studies", timeout=10).status_code == 401


def test_a_forged_state_is_refused(oidc_settings):
    session = requests.Session()
    session.get(oidc_settings.site + "/", headers=HTML, timeout=10)  # starts a login

    answer = session.get(
        oidc_settings.site + "/accounts/oidc/callback/",
        params={"code": "stolen-code", "state": "forged-state"},
        timeout=10,
    )

    assert answer.status_code == 400
    assert session.get(oidc_settings.site + "/dicom-web/studies", timeout=10).status_code == 401


def test_logout_ends_the_provider_session_too(oidc_settings):
    session = requests.Session()
    login(session, oidc_settings.site, "alice", "alice-pw")
    confirm = session.get(oidc_settings.site + "/accounts/logout/", headers=HTML, timeout=10)
    action, fields = form_of(confirm)

    to_provider = session.post(action, data=fields, headers=HTML, timeout=10)
    # The provider's end-session page submits itself with script; do what the browser does.
    end_action, end_fields = form_of(to_provider)
    done = session.post(end_action, data={**end_fields, "logout": "yes"}, headers=HTML, timeout=10)
    again = session.get(oidc_settings.site + "/", headers=HTML, timeout=10)

    assert to_provider.url.startswith(oidc_settings.issuer + "/session/end")
    assert "id_token_hint" in to_provider.history[-1].headers["Location"]
    assert done.url == oidc_settings.site + "/accounts/logged-out/"
    assert session.get(oidc_settings.site + "/dicom-web/studies", timeout=10).status_code == 401
    assert again.url.startswith(oidc_settings.issuer + "/interaction/")  # must sign in again
    assert AccessEvent.objects.filter(username="alice", action="logout").exists()
