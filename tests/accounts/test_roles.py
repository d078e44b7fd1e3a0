"""Roles over DICOMweb, the worklist and the admin: a reader searches and views but cannot
store or delete; an uploader also stores but cannot delete or reach the admin; an admin does
all. Refusals change nothing."""

import pytest
from access_helpers import logged_in, stored, stow, user_with_role  # noqa: F401 - fixtures
from dicom_data import ct_slice
from django.test import Client

from archive.models import Study

pytestmark = pytest.mark.django_db


def client_for(django_user_model, role, **flags) -> Client:
    return logged_in(user_with_role(django_user_model, f"{role}-user", role, **flags))


def store_one(client):
    return stow(client, ct_slice(rows=64, columns=64, seed=42), HTTP_SEC_FETCH_SITE="same-origin")


def attempts(client, study) -> dict[str, int]:
    """Status of each thing a user might try, in an order that deletes last."""
    return {
        "search": client.get("/dicom-web/studies").status_code,
        "metadata": client.get(f"/dicom-web/studies/{study}/metadata").status_code,
        "worklist": client.get("/", HTTP_ACCEPT="text/html").status_code,
        "store": store_one(client).status_code,
        "admin": client.get("/admin/").status_code,
        "worklist delete": client.post(f"/worklist/studies/{study}/delete").status_code,
    }


# What readers and uploaders get; both are refused deletion and the admin.
EXPECTED = {
    "reader": {
        "search": 200,
        "metadata": 200,
        "worklist": 200,
        "store": 403,
        "admin": 302,
        "worklist delete": 403,
    },
    "uploader": {
        "search": 200,
        "metadata": 200,
        "worklist": 200,
        "store": 200,
        "admin": 302,
        "worklist delete": 403,
    },
}


@pytest.mark.parametrize("role", EXPECTED)
def test_reader_and_uploader(django_user_model, stored, role):
    client = client_for(django_user_model, role)

    seen = attempts(client, stored.StudyInstanceUID)
    delete = client.delete(f"/dicom-web/studies/{stored.StudyInstanceUID}")

    assert seen == EXPECTED[role]
    assert delete.status_code == 403
    assert Study.objects.filter(study_instance_uid=stored.StudyInstanceUID).exists()
    assert Study.objects.count() == (2 if role == "uploader" else 1)


def test_admin(django_user_model, stored):
    client = client_for(django_user_model, "admin", is_staff=True, is_superuser=True)

    seen = attempts(client, stored.StudyInstanceUID)

    assert seen["store"] == 200 and seen["admin"] == 200
    assert seen["worklist delete"] in (200, 302)
    assert not Study.objects.filter(study_instance_uid=stored.StudyInstanceUID).exists()


def test_admin_role_deletes_over_dicomweb(django_user_model, stored):
    client = client_for(django_user_model, "admin")

    response = client.delete(f"/dicom-web/studies/{stored.StudyInstanceUID}")

    assert response.status_code in (200, 204)
    assert Study.objects.count() == 0


def test_user_without_role_is_refused_everywhere(django_user_model, stored):
    client = logged_in(user_with_role(django_user_model, "no-role"))

    assert client.get("/dicom-web/studies").status_code == 403
    assert client.get("/", HTTP_ACCEPT="text/html").status_code == 403
    assert store_one(client).status_code == 403
