"""Personal API tokens: an admin issues one in the Django admin (shown once, hashed at rest),
scoped to a role; it works on DICOMweb and on plain pages; revoked, expired or switched-off
tokens get 401."""

import re
from datetime import timedelta

import pytest
from access_helpers import stored, stow, user_with_role  # noqa: F401 - fixtures
from dicom_data import ct_slice
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken
from archive.models import Study

pytestmark = pytest.mark.django_db


def issue(admin_client, user, role, name="CT scanner") -> str:
    response = admin_client.post(
        "/admin/accounts/apitoken/add/",
        {"user": user.pk, "name": name, "role": role, "expires_at_0": "", "expires_at_1": ""},
        follow=True,
    )
    shown = [str(m) for m in response.context["messages"]]
    return re.search(r"(ohif_[\w-]+)", shown[0]).group(1)


def bearer(key) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}")


@pytest.fixture
def uploader(django_user_model):
    return user_with_role(django_user_model, "device", "uploader")


def test_issued_token_is_shown_once_and_only_its_hash_is_kept(admin_client, uploader):
    key = issue(admin_client, uploader, "uploader")

    token = ApiToken.objects.get()
    assert token.user == uploader and token.role == "uploader"
    assert key.startswith(token.key_start) and len(key) > 40
    assert key not in str(list(ApiToken.objects.values_list()))
    page = admin_client.get(f"/admin/accounts/apitoken/{token.pk}/change/")
    assert key not in page.content.decode()


def test_token_searches_dicomweb_and_opens_pages(admin_client, uploader, stored):
    key = issue(admin_client, uploader, "reader")

    found = bearer(key).get("/dicom-web/studies", HTTP_ACCEPT="application/dicom+json")
    page = bearer(key).get("/", HTTP_ACCEPT="text/html")

    assert found.status_code == 200
    assert [s["0020000D"]["Value"][0] for s in found.json()] == [stored.StudyInstanceUID]
    assert page.status_code == 200
    assert ApiToken.objects.get().last_used_at is not None


def test_token_is_capped_at_its_role(admin_client, uploader):
    reader_key = issue(admin_client, uploader, "reader", "read only")
    uploader_key = issue(admin_client, uploader, "uploader", "store")
    ds = ct_slice(rows=64, columns=64, seed=12)

    refused = stow(bearer(reader_key), ds)
    stored_before = Study.objects.count()
    accepted = stow(bearer(uploader_key), ds)

    assert refused.status_code == 403 and stored_before == 0
    assert accepted.status_code == 200
    assert list(Study.objects.values_list("study_instance_uid", flat=True)) == [ds.StudyInstanceUID]


def test_admin_token_scoped_to_reader_cannot_delete(admin_client, admin_user, stored):
    key = issue(admin_client, admin_user, "reader")

    response = bearer(key).delete(f"/dicom-web/studies/{stored.StudyInstanceUID}")

    assert response.status_code == 403
    assert Study.objects.filter(study_instance_uid=stored.StudyInstanceUID).exists()


def test_superusers_reader_token_cannot_open_the_django_admin(admin_client, admin_user):
    key = issue(admin_client, admin_user, "reader")

    search = bearer(key).get("/dicom-web/studies")
    admin_page = bearer(key).get("/admin/accounts/apitoken/")

    assert search.status_code == 200
    assert admin_page.status_code == 302 and "/login/" in admin_page["Location"]
    assert ApiToken.objects.get().user.is_superuser  # nothing was saved


def test_revoked_token_is_refused(admin_client, uploader, stored):
    key = issue(admin_client, uploader, "reader")
    token = ApiToken.objects.get()
    admin_client.post(
        "/admin/accounts/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )

    response = bearer(key).get("/dicom-web/studies")

    assert ApiToken.objects.get().revoked_at is not None
    assert response.status_code == 401
    assert "revoked" in response["WWW-Authenticate"]
    assert stored.StudyInstanceUID not in response.content.decode()


def test_expired_token_is_refused(admin_client, uploader):
    key = issue(admin_client, uploader, "reader")
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(minutes=1))

    assert bearer(key).get("/dicom-web/studies").status_code == 401


def test_unknown_token_is_refused_on_pages_too(stored):
    page = bearer("ohif_" + "x" * 43).get("/", HTTP_ACCEPT="text/html")

    assert page.status_code == 401
    assert page["WWW-Authenticate"].startswith('Bearer realm="ohifsite", error="invalid_token"')


def test_tokens_can_be_switched_off(admin_client, uploader, settings):
    key = issue(admin_client, uploader, "reader")
    settings.AUTH_API_TOKENS = False

    assert bearer(key).get("/dicom-web/studies").status_code == 401


def test_uploader_cannot_issue_tokens(client, uploader):
    client.force_login(uploader)

    response = client.get("/admin/accounts/apitoken/add/")

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
