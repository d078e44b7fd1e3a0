"""Roles over DICOMweb, the worklist and the admin: a reader searches and views but cannot
store or delete; an uploader also stores but cannot delete or reach the admin; an admin does
all. Refusals change nothing."""

import io

import pytest
from dicom_data import ct_slice, to_bytes
from django.contrib.auth.models import Group
from django.test import Client

from archive import intake
from archive.models import Study

pytestmark = pytest.mark.django_db


def client_for(django_user_model, role, **flags) -> Client:
    user = django_user_model.objects.create_user(f"{role}-user", password="unused-pw", **flags)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def stored():
    ds = ct_slice(rows=64, columns=64, seed=41)
    intake.receive_stream(io.BytesIO(to_bytes(ds)))
    return ds


def stow(client):
    ds = ct_slice(rows=64, columns=64, seed=42)
    body = b"--B\r\nContent-Type: application/dicom\r\n\r\n" + to_bytes(ds) + b"\r\n--B--\r\n"
    return client.post(
        "/dicom-web/studies",
        data=body,
        content_type='multipart/related; type="application/dicom"; boundary=B',
        HTTP_ACCEPT="application/dicom+json",
        HTTP_SEC_FETCH_SITE="same-origin",
    )


def attempts(client, study) -> dict[str, int]:
    """Status of each thing a user might try, in an order that deletes last."""
    return {
        "search": client.get("/dicom-web/studies").status_code,
        "metadata": client.get(f"/dicom-web/studies/{study}/metadata").status_code,
        "worklist": client.get("/", HTTP_ACCEPT="text/html").status_code,
        "store": stow(client).status_code,
        "admin": client.get("/admin/").status_code,
        "worklist delete": client.post(f"/worklist/studies/{study}/delete").status_code,
    }


def test_reader(django_user_model, stored):
    client = client_for(django_user_model, "reader")

    seen = attempts(client, stored.StudyInstanceUID)
    delete = client.delete(f"/dicom-web/studies/{stored.StudyInstanceUID}")

    assert seen == {
        "search": 200,
        "metadata": 200,
        "worklist": 200,
        "store": 403,
        "admin": 302,
        "worklist delete": 403,
    }
    assert delete.status_code == 403
    assert list(Study.objects.values_list("study_instance_uid", flat=True)) == [
        stored.StudyInstanceUID
    ]


def test_uploader(django_user_model, stored):
    client = client_for(django_user_model, "uploader")

    seen = attempts(client, stored.StudyInstanceUID)
    delete = client.delete(f"/dicom-web/studies/{stored.StudyInstanceUID}")

    assert seen == {
        "search": 200,
        "metadata": 200,
        "worklist": 200,
        "store": 200,
        "admin": 302,
        "worklist delete": 403,
    }
    assert delete.status_code == 403
    assert Study.objects.filter(study_instance_uid=stored.StudyInstanceUID).exists()
    assert Study.objects.count() == 2


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
    client = Client()
    client.force_login(django_user_model.objects.create_user("no-role", password="unused-pw"))

    assert client.get("/dicom-web/studies").status_code == 403
    assert client.get("/", HTTP_ACCEPT="text/html").status_code == 403
    assert stow(client).status_code == 403
