"""The access log tells the truth: each action is recorded by the code that performs it, with
the user, the door, the client address and the patient as it was; thumbnails in a list are
never views; identical repeats collapse; admins read, filter and export it but cannot change
it; old rows go only through the purge command."""

import csv
import io
import re
from datetime import timedelta

import pytest
from access_helpers import logged_in, stored, stow, user_with_role  # noqa: F401 - fixtures
from dicom_data import ct_slice, receive_one, to_bytes, uid
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import accesslog
from accounts.models import AccessEvent
from archive.ingest import Arrival, Origin, receive

pytestmark = pytest.mark.django_db
WHERE = {"REMOTE_ADDR": "10.1.2.3", "HTTP_USER_AGENT": "RadiologyStation/1.0"}


def user_client(django_user_model, name, role) -> Client:
    return logged_in(user_with_role(django_user_model, name, role), **WHERE)


def events(action):
    return list(AccessEvent.objects.filter(action=action).order_by("pk"))


def store(seed, name="Doe^Jane", pid="PID-1"):
    ds = ct_slice(rows=64, columns=64, seed=seed, patient_name=name, patient_id=pid)
    assert receive_one(ds).ok
    return ds


def test_dicomweb_search_view_and_download(django_user_model, stored):
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
    assert (search.username, search.door) == ("rita", "dicomweb")
    assert (search.query, search.result_count) == (f"PatientID={stored.PatientID}", 1)
    assert (view.username, view.study_instance_uid, view.door) == ("rita", study, "dicomweb")
    assert (view.patient_id, view.patient_name) == (stored.PatientID, str(stored.PatientName))
    assert download.study_instance_uid == study
    assert (view.ip, view.user_agent, view.authenticated_by) == (
        "10.1.2.3",
        "RadiologyStation/1.0",
        "session",
    )


def test_a_worklist_page_with_its_thumbnails_is_one_search_and_no_view(django_user_model):
    studies = [store(seed) for seed in (11, 12, 13)]
    reader = user_client(django_user_model, "rita", "reader")

    page = reader.get("/", {"modality": "CT"}, HTTP_ACCEPT="text/html").content.decode()
    thumbnails = re.findall(r'src="(/dicom-web/studies/[0-9.]+/thumbnail)"', page)
    for url in thumbnails:
        assert reader.get(url).status_code == 200

    assert len(thumbnails) == 3
    (search,) = events("search")
    assert (search.door, search.result_count) == ("web", 3)
    assert "modality=CT" in search.query
    assert events("view") == []
    # Opening one of them afterwards is recorded, however soon.
    reader.get(f"/dicom-web/studies/{studies[0].StudyInstanceUID}/metadata")
    assert [e.study_instance_uid for e in events("view")] == [studies[0].StudyInstanceUID]


def test_a_deleted_studys_rows_still_name_its_patient(django_user_model, admin_user):
    ds = store(21, name="Gone^Gordon", pid="PID-GONE")
    study = ds.StudyInstanceUID
    reader = user_client(django_user_model, "rita", "reader")
    reader.get(f"/dicom-web/studies/{study}/metadata")
    reader.get(f"/worklist/studies/{study}/download")
    logged_in(admin_user, **WHERE).post(f"/worklist/studies/{study}/delete")

    rows = AccessEvent.objects.filter(study_instance_uid=study).order_by("pk")
    assert [(e.action, e.username) for e in rows] == [
        ("store", ""),  # received by the test, through no door
        ("view", "rita"),
        ("download", "rita"),
        ("delete", "admin"),
    ]
    assert {(e.patient_id, e.patient_name) for e in rows} == {("PID-GONE", "Gone^Gordon")}
    assert rows[2].door == "web"


def test_store_and_delete_through_each_door(django_user_model, admin_user, tmp_path):
    uploader = user_client(django_user_model, "uma", "uploader")
    uploaded = ct_slice(rows=64, columns=64, seed=32, patient_id="PID-UP")
    stowed = ct_slice(rows=64, columns=64, seed=33, patient_id="PID-STOW")
    imported = ct_slice(rows=64, columns=64, seed=34, patient_id="PID-IMP")
    (tmp_path / "one.dcm").write_bytes(to_bytes(imported))

    uploader.post(
        "/upload/",
        data=to_bytes(uploaded),
        content_type="application/dicom",
        HTTP_X_FILE_NAME="a.dcm",
    )
    stow(uploader, stowed, HTTP_SEC_FETCH_SITE="same-origin")
    call_command("import_dicom", str(tmp_path), stdout=io.StringIO())
    # Run again: the bytes are already stored, nothing changes, and no store is logged.
    call_command("import_dicom", str(tmp_path), stdout=io.StringIO())
    logged_in(admin_user, **WHERE).delete(f"/dicom-web/studies/{uploaded.StudyInstanceUID}")

    stores = [(e.username, e.door, e.patient_id, e.result_count) for e in events("store")]
    assert stores == [
        ("uma", "web", "PID-UP", 1),
        ("uma", "dicomweb", "PID-STOW", 1),
        ("", "import", "PID-IMP", 1),
    ]
    assert events("store")[1].study_instance_uid == stowed.StudyInstanceUID
    (delete,) = events("delete")
    assert (delete.username, delete.door, delete.patient_id) == ("admin", "dicomweb", "PID-UP")


def test_a_store_into_a_held_study_names_the_patient_its_row_names(django_user_model):
    """A later instance that names the patient otherwise changes nothing of the study's row,
    and the log says what the row says."""
    uploader = user_client(django_user_model, "uma", "uploader")
    study = uid()
    first = ct_slice(0, rows=16, columns=16, study_uid=study, patient_id="PID-ROW")
    later = ct_slice(1, rows=16, columns=16, study_uid=study, patient_id="PID-OTHER")

    for ds in (first, later):
        stow(uploader, ds, HTTP_SEC_FETCH_SITE="same-origin")

    stores = [(e.study_instance_uid, e.patient_id, e.patient_name) for e in events("store")]
    assert stores == [(study, "PID-ROW", str(first.PatientName))] * 2


def test_a_store_of_many_studies_costs_the_log_what_one_of_one_does(django_user_model, settings):
    """The store rows of one receive: the uploader and the rows each cost one query, however
    many studies came; the patients come with ingest's results (from the study rows, those
    the archive held before too), at no query."""
    uploader = user_with_role(django_user_model, "uma", "uploader")
    origin = Origin(door="web", user_id=uploader.pk)

    def received(seeds):
        """Instances received with the log off, then handed to its receiver, as the
        signal hands them, counting the log's queries."""
        study = {seed: uid() for seed in seeds}
        datasets = [
            ct_slice(
                i,
                rows=16,
                columns=16,
                seed=seed,
                study_uid=study[seed],
                patient_id=f"PID-{seed}",
                patient_name=f"Doe^{seed}",
            )
            for seed in seeds
            for i in range(2 if seed == seeds[0] else 1)  # the first study: two instances
        ]
        arrivals = [Arrival.from_stream(io.BytesIO(to_bytes(ds)), origin=origin) for ds in datasets]
        settings.ACCESS_LOG = False
        results = receive(arrivals)
        settings.ACCESS_LOG = True
        assert all(result.changed for result in results)
        with CaptureQueriesContext(connection) as queries:
            accesslog.record_stored(sender=Arrival, arrivals=arrivals, results=results)
        assert not [query for query in queries if "archive_study" in query["sql"]]
        return len(queries), study

    one, _ = received([40])
    many, studies = received(list(range(50, 56)))

    assert many == one
    stores = events("store")[1:]
    assert [(e.username, e.door, e.study_instance_uid) for e in stores] == [
        ("uma", "web", studies[seed]) for seed in studies
    ]
    assert [(e.patient_id, e.patient_name, e.result_count) for e in stores] == [
        (f"PID-{seed}", f"Doe^{seed}", 2 if seed == 50 else 1) for seed in studies
    ]


def test_refused_attempts_are_logged_as_refusals(stored):
    Client(**WHERE).get(f"/dicom-web/studies/{stored.StudyInstanceUID}/metadata")

    assert events("view") == []
    (refused,) = events("refused")
    assert (refused.username, refused.status_code, refused.ip) == ("", 401, "10.1.2.3")
    assert refused.path == f"/dicom-web/studies/{stored.StudyInstanceUID}/metadata"


def test_local_login_is_logged(admin_user):
    Client(**WHERE).post("/accounts/login/", {"username": "admin", "password": "password"})
    Client(**WHERE).post("/accounts/login/", {"username": "admin", "password": "wrong"})

    assert [e.username for e in events("login")] == ["admin"]
    assert [e.username for e in events("login failed")] == ["admin"]


def test_admin_filters_and_exports_the_log(admin_client, django_user_model, stored):
    reader = user_client(django_user_model, "rita", "reader")
    reader.get(f"/dicom-web/studies/{stored.StudyInstanceUID}/metadata")
    reader.get("/dicom-web/studies")
    ids = list(AccessEvent.objects.values_list("pk", flat=True))

    by_patient = admin_client.get("/admin/accounts/accessevent/", {"q": stored.PatientID})
    by_action = admin_client.get("/admin/accounts/accessevent/", {"action__exact": "search"})
    export = admin_client.post(
        "/admin/accounts/accessevent/", {"action": "export_csv", "_selected_action": ids}
    )

    assert stored.StudyInstanceUID in by_patient.content.decode()
    assert "1 access event" in by_action.content.decode()
    for choice in ("door", "user__id__exact", "at__gte", "action__exact"):
        assert choice in by_patient.content.decode()
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    (view,) = [row for row in rows if row["action"] == "view"]
    assert (view["username"], view["patient_id"], view["door"]) == (
        "rita",
        stored.PatientID,
        "dicomweb",
    )


def test_nobody_edits_or_deletes_rows_from_the_admin(admin_client, django_user_model, stored):
    user_client(django_user_model, "rita", "reader").get(
        f"/dicom-web/studies/{stored.StudyInstanceUID}/metadata"
    )
    event = AccessEvent.objects.get(action="view")

    listing = admin_client.get("/admin/accounts/accessevent/").content.decode()
    page = admin_client.get(f"/admin/accounts/accessevent/{event.pk}/change/").content.decode()
    change = admin_client.post(f"/admin/accounts/accessevent/{event.pk}/change/", {"username": "x"})
    delete = admin_client.post(f"/admin/accounts/accessevent/{event.pk}/delete/", {"post": "yes"})
    bulk = admin_client.post(
        "/admin/accounts/accessevent/",
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )

    assert "delete_selected" not in listing and "Add access event" not in listing
    assert 'type="submit"' not in page.split('id="content-main"')[1].split("</form>")[0]
    assert change.status_code == 403 and delete.status_code == 403
    assert bulk.status_code in (200, 302)
    assert AccessEvent.objects.get(action="view").username == "rita"


def test_purge_deletes_only_rows_past_the_retention(settings):
    settings.ACCESS_LOG_RETENTION_DAYS = 30
    old = AccessEvent.objects.create(action="view", at=timezone.now() - timedelta(days=31))
    recent = AccessEvent.objects.create(action="view", at=timezone.now() - timedelta(days=29))
    out = io.StringIO()

    call_command("purge_access_log", "--dry-run", stdout=out)
    assert AccessEvent.objects.count() == 2 and "1 rows" in out.getvalue()
    call_command("purge_access_log", stdout=out)

    assert list(AccessEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not AccessEvent.objects.filter(pk=old.pk).exists()


def test_unlimited_retention_purges_nothing():
    AccessEvent.objects.create(action="view", at=timezone.now() - timedelta(days=3650))

    call_command("purge_access_log", stdout=io.StringIO())

    assert AccessEvent.objects.count() == 1


def test_signed_dicom_json_link_is_logged_for_the_user_it_names(django_user_model, stored):
    from archive import signing

    reader = user_with_role(django_user_model, "lina", "reader")
    token = signing.make_token(reader, [stored.StudyInstanceUID])

    response = Client(**WHERE).get(f"/dicom-web/ohif-dicom-json/{token}")

    assert response.status_code == 200
    (view,) = events("view")
    assert (view.username, view.study_instance_uid) == ("lina", stored.StudyInstanceUID)
    assert view.patient_id == stored.PatientID


def test_behind_a_proxy_the_address_it_added_is_logged(django_user_model, settings, stored):
    settings.USE_X_FORWARDED_HOST = True
    reader = user_client(django_user_model, "rita", "reader")

    reader.get(
        f"/dicom-web/studies/{stored.StudyInstanceUID}/metadata",
        HTTP_X_FORWARDED_FOR="6.6.6.6, 192.0.2.44",  # the first hop is the client's claim
    )

    assert events("view")[0].ip == "192.0.2.44"
