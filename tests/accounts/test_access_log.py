"""The access log: who searched, viewed, downloaded, stored or deleted which study, when and
from where, recorded by middleware from the URL names; readable and exportable (CSV) by
admins in the Django admin."""

import csv
import io

import pytest
from access_helpers import logged_in, stored, stow, user_with_role  # noqa: F401 - fixtures
from dicom_data import ct_slice
from django.test import Client

from accounts.models import AccessEvent

pytestmark = pytest.mark.django_db
ACCEPT_DICOM = 'multipart/related; type="application/dicom"'
WHERE = {"REMOTE_ADDR": "10.1.2.3", "HTTP_USER_AGENT": "RadiologyStation/1.0"}


def user_client(django_user_model, name, role) -> Client:
    return logged_in(user_with_role(django_user_model, name, role), **WHERE)


def events(action):
    return list(AccessEvent.objects.filter(action=action).order_by("pk"))


def test_search_view_and_download_are_logged_once_per_study(django_user_model, stored):
    reader = user_client(django_user_model, "rita", "reader")
    study = stored.StudyInstanceUID

    reader.get("/dicom-web/studies", {"PatientID": stored.PatientID})
    for _ in range(3):  # a viewer asks again and again
        reader.get(f"/dicom-web/studies/{study}/metadata")
    reader.get(
        f"/dicom-web/studies/{study}", HTTP_ACCEPT='multipart/related; type="application/dicom"'
    )

    (search,) = events("search")
    (view,) = events("view")
    (download,) = events("download")
    assert search.username == "rita" and search.query == f"PatientID={stored.PatientID}"
    assert (view.username, view.study_instance_uid, view.status_code) == ("rita", study, 200)
    assert download.study_instance_uid == study
    assert (view.ip, view.user_agent) == ("10.1.2.3", "RadiologyStation/1.0")
    assert view.authenticated_by == "session"


def test_store_and_delete_are_logged_with_the_study(django_user_model, admin_user):
    uploader = user_client(django_user_model, "uma", "uploader")
    admin = logged_in(admin_user, **WHERE)
    ds = ct_slice(rows=64, columns=64, seed=32)

    stow(uploader, ds, HTTP_SEC_FETCH_SITE="same-origin")
    admin.delete(f"/dicom-web/studies/{ds.StudyInstanceUID}")

    (store,) = events("store")
    (delete,) = events("delete")
    assert (store.username, store.study_instance_uid, store.status_code) == (
        "uma",
        ds.StudyInstanceUID,
        200,
    )
    assert (delete.username, delete.study_instance_uid) == ("admin", ds.StudyInstanceUID)
    assert delete.method == "DELETE" and delete.status_code in (200, 204)


def test_refused_attempts_are_logged_too(stored):
    Client(**WHERE).get(f"/dicom-web/studies/{stored.StudyInstanceUID}/metadata")

    (view,) = events("view")
    assert (view.username, view.status_code, view.ip) == ("", 401, "10.1.2.3")


def test_local_login_is_logged(admin_user):
    Client(**WHERE).post("/accounts/login/", {"username": "admin", "password": "password"})
    Client(**WHERE).post("/accounts/login/", {"username": "admin", "password": "wrong"})

    assert [e.username for e in events("login")] == ["admin"]
    assert [e.username for e in events("login failed")] == ["admin"]


def test_admin_reads_and_exports_the_log(admin_client, django_user_model, stored):
    reader = user_client(django_user_model, "rita", "reader")
    reader.get(f"/dicom-web/studies/{stored.StudyInstanceUID}/metadata")
    ids = list(AccessEvent.objects.values_list("pk", flat=True))

    listing = admin_client.get("/admin/accounts/accessevent/", {"q": "rita"})
    export = admin_client.post(
        "/admin/accounts/accessevent/", {"action": "export_csv", "_selected_action": ids}
    )

    assert listing.status_code == 200 and stored.StudyInstanceUID in listing.content.decode()
    assert export["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0][:4] == ["at", "username", "action", "study_instance_uid"]
    assert ["rita", "view", stored.StudyInstanceUID] in [row[1:4] for row in rows[1:]]


def test_nobody_edits_the_log(admin_client, stored):
    Client().get(f"/dicom-web/studies/{stored.StudyInstanceUID}/metadata")
    event = AccessEvent.objects.get(action="view")

    change = admin_client.post(f"/admin/accounts/accessevent/{event.pk}/change/", {"username": "x"})
    delete = admin_client.post(f"/admin/accounts/accessevent/{event.pk}/delete/", {"post": "yes"})

    assert change.status_code == 403 and delete.status_code == 403
    assert AccessEvent.objects.get(action="view").username == ""


def test_signed_dicom_json_link_is_logged_for_the_user_it_names(django_user_model, stored):
    from archive import signing

    reader = user_with_role(django_user_model, "lina", "reader")
    token = signing.make_token(reader, [stored.StudyInstanceUID])

    response = Client(**WHERE).get(f"/dicom-web/ohif-dicom-json/{token}")

    assert response.status_code == 200
    (view,) = events("view")
    assert (view.username, view.study_instance_uid) == ("lina", stored.StudyInstanceUID)


def test_behind_a_proxy_the_address_it_added_is_logged(django_user_model, settings, stored):
    settings.USE_X_FORWARDED_HOST = True
    reader = user_client(django_user_model, "rita", "reader")

    reader.get(
        f"/dicom-web/studies/{stored.StudyInstanceUID}/metadata",
        HTTP_X_FORWARDED_FOR="6.6.6.6, 192.0.2.44",  # the first hop is the client's claim
    )

    assert events("view")[0].ip == "192.0.2.44"
