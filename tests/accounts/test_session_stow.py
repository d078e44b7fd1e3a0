"""OHIF's STOW upload with the session cookie and no CSRF token: accepted only when the
browser says the request comes from this very origin (Sec-Fetch-Site / Origin), refused from
anywhere else; outside /dicom-web/ the CSRF token is still required."""

import pytest
from access_helpers import (
    logged_in,
    stow,
    user_with_role,
)
from dicom_data import ct_slice

from archive.models import Study

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(django_user_model):
    """A logged-in uploader whose requests go through Django's CSRF checks, like a browser's."""
    user = user_with_role(django_user_model, "ohif-user", "uploader")
    return logged_in(user, enforce_csrf_checks=True)


def store(client, **headers):
    ds = ct_slice(rows=64, columns=64, seed=21)
    return stow(client, ds, **headers), ds


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_SEC_FETCH_SITE": "same-origin", "HTTP_ORIGIN": "http://testserver"},
        {"HTTP_ORIGIN": "http://testserver"},  # an older browser: Origin only
    ],
    ids=["sec-fetch-site", "origin"],
)
def test_same_origin_upload_without_token_is_stored(browser, headers):
    response, ds = store(browser, **headers)

    assert response.status_code == 200
    assert Study.objects.get().study_instance_uid == ds.StudyInstanceUID


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_SEC_FETCH_SITE": "cross-site", "HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_SEC_FETCH_SITE": "same-site", "HTTP_ORIGIN": "http://other.testserver"},
        {"HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_ORIGIN": "null"},
        {},
    ],
    ids=["cross-site", "sibling-site", "foreign-origin", "null-origin", "no-headers"],
)
def test_upload_from_elsewhere_without_token_is_refused(browser, headers):
    response, _ = store(browser, **headers)

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert Study.objects.count() == 0


def test_upload_with_the_csrf_token_is_stored_from_anywhere_the_token_reaches(browser):
    browser.get("/accounts/logout/")  # any page with a form sets the CSRF cookie
    token = browser.cookies["csrftoken"].value

    response, ds = store(browser, HTTP_X_CSRFTOKEN=token)

    assert response.status_code == 200
    assert Study.objects.get().study_instance_uid == ds.StudyInstanceUID


def test_the_exception_is_only_for_dicomweb(browser, admin_user):
    browser.force_login(admin_user)

    response = browser.post(
        "/worklist/studies/1.2.3/delete",
        HTTP_SEC_FETCH_SITE="same-origin",
        HTTP_ORIGIN="http://testserver",
    )

    assert response.status_code == 403
    assert b"CSRF" in response.content


@pytest.fixture
def bodies_read(monkeypatch):
    """The STOW parsers' calls: a request refused before its body is read makes none."""
    from archive.dicomweb import parsers

    calls = []
    for parser in (parsers.MultipartRelatedParser, parsers.DicomParser):
        original = parser.parse

        def spy(self, *args, _original=original, **kwargs):
            calls.append(type(self).__name__)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(parser, "parse", spy)
    return calls


def test_a_refused_csrf_check_reads_no_body(browser, bodies_read):
    browser.get("/accounts/logout/")  # the CSRF cookie, as any page of the site sets it
    response, _ = store(browser)  # but no token: Django looks for one in the form

    assert response.status_code == 403
    assert bodies_read == []


def test_a_user_without_the_uploader_role_sends_no_body_to_disk(django_user_model, bodies_read):
    reader = logged_in(user_with_role(django_user_model, "only-reads", "reader"))
    nobody = logged_in(django_user_model.objects.create_user("no-role", password="x"))

    for client in (reader, nobody):
        response, _ = store(client, HTTP_SEC_FETCH_SITE="same-origin")
        assert response.status_code == 403

    assert bodies_read == []
    assert Study.objects.count() == 0


def test_the_same_origin_upload_still_reads_its_body(browser, bodies_read):
    response, _ = store(browser, HTTP_SEC_FETCH_SITE="same-origin")

    assert response.status_code == 200
    assert bodies_read == ["MultipartRelatedParser"]
