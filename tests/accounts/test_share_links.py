"""Share links: made from the worklist by a reader allowed to share, they read their study
through DICOMweb with no session (metadata, frames, rendered, thumbnails, WADO-URI, QIDO), and
nothing else: another study is 404, writes are refused, pages and the admin are 404; they stop
working when expired or revoked; every use is logged under the door "share link"."""

from datetime import timedelta

import pytest
from access_helpers import logged_in, user_with_role
from dicom_data import ct_slice, receive_one
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from test_projects import instance_path, reads, uids

from accounts.models import AccessEvent, ShareLink

pytestmark = pytest.mark.django_db
FRAMES = {"HTTP_ACCEPT": 'multipart/related; type="application/octet-stream"'}


def store(seed, **kw):
    ds = ct_slice(rows=64, columns=64, seed=seed, **kw)
    assert receive_one(ds).ok
    return ds


@pytest.fixture
def sharer(django_user_model):
    user = user_with_role(django_user_model, "sam", "reader")
    user.user_permissions.add(Permission.objects.get(codename="add_sharelink"))
    return user


def share(user, ds, expires=3600, **extra):
    response = logged_in(user).post(
        "/accounts/shares/new", {"study": ds.StudyInstanceUID, "expires": expires, **extra}
    )
    assert response.status_code == 200, response.content
    url = response.json()["url"]
    assert url.startswith("http://testserver/share/") and url.endswith("/")
    return url.removeprefix("http://testserver")


def test_a_link_reads_its_study_and_nothing_else(sharer):
    a = store(1, patient_id="PID-A")
    b = store(2, patient_id="PID-B")
    link = share(sharer, a).rstrip("/")
    anyone = Client()  # no session, no header

    assert uids(anyone.get(f"{link}/dicom-web/studies")) == {a.StudyInstanceUID}
    seen = {name: status for name, status in prefixed(reads, anyone, link, a).items()}
    downloads = ("study retrieve", "worklist series", "zip download", "dicom json link")
    assert {k: v for k, v in seen.items() if k not in downloads} == {
        k: 200 for k in seen if k not in downloads
    }
    assert seen["study retrieve"] == seen["zip download"] == 404  # download not allowed
    assert seen["worklist series"] == 404  # no pages through a link
    assert set(prefixed(reads, anyone, link, b).values()) == {404}
    frames = anyone.get(f"{link}{instance_path(a)}/frames/1", **FRAMES)
    assert frames.status_code == 200 and len(frames.content) > 64 * 64 * 2


def prefixed(reads_of, client, link, ds):
    """``reads`` with every path under the link's prefix."""

    class Prefixed:
        def get(self, path, *args, **kwargs):
            return client.get(link + path, *args, **kwargs)

    return reads_of(Prefixed(), ds)


def test_writes_pages_and_the_admin_are_out_of_reach(sharer, admin_user):
    a = store(3)
    link = share(sharer, a).rstrip("/")
    anyone = Client()
    study = f"{link}/dicom-web/studies/{a.StudyInstanceUID}"

    assert (
        anyone.post(f"{link}/dicom-web/studies", b"x", content_type="application/dicom").status_code
        == 403
    )
    assert anyone.delete(study).status_code == 403
    assert (
        anyone.post(f"{study}/series/{a.SeriesInstanceUID}/reject/113001%5EDCM").status_code == 403
    )
    assert anyone.post(f"{link}/upload/", b"x", content_type="application/dicom").status_code == 403
    for page in (
        "/worklist/rows",
        "/admin/",
        "/accounts/shares/",
        "/dicom-web/ohif-dicom-json-link?StudyInstanceUID=1.2",
    ):
        assert anyone.get(link + page).status_code in (404,), page
    # An admin's own session does not widen what the link reaches.
    b = store(4)
    admin = logged_in(admin_user)
    assert admin.get(f"{link}/dicom-web/studies/{b.StudyInstanceUID}/metadata").status_code == 404
    assert admin.delete(study).status_code == 403


def test_download_only_when_allowed(sharer):
    a = store(5)
    link = share(sharer, a, download="on").rstrip("/")

    retrieve = Client().get(
        f"{link}/dicom-web/studies/{a.StudyInstanceUID}",
        HTTP_ACCEPT='multipart/related; type="application/dicom"',
    )
    zipped = Client().get(f"{link}/worklist/studies/{a.StudyInstanceUID}/download")

    assert retrieve.status_code == 200 and zipped.status_code == 200
    assert b"".join(zipped.streaming_content)[:2] == b"PK"


def test_expired_and_revoked_links_stop_working(sharer):
    a = store(6)
    expiring = share(sharer, a)
    revoked = share(sharer, a)
    metadata = f"dicom-web/studies/{a.StudyInstanceUID}/metadata"
    assert Client().get(expiring + metadata).status_code == 200

    ShareLink.objects.filter(pk=ShareLink.objects.order_by("pk").first().pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    mine = logged_in(sharer)
    last = ShareLink.objects.order_by("pk").last()
    assert mine.post(f"/accounts/shares/{last.pk}/revoke").status_code == 302

    for url, state in ((expiring, "expired"), (revoked, "revoked")):
        api = Client().get(url + metadata)
        page = Client().get(url, HTTP_ACCEPT="text/html")
        assert api.status_code == 410 and api.content == f"This share link was {state}.\n".encode()
        assert page.status_code == 410 and f"It was {state}" in page.content.decode()
    assert Client().get("/share/" + "x" * 43 + "/" + metadata).status_code == 404
    listing = mine.get("/accounts/shares/").content.decode()
    assert listing.count('class="link expired"') == 1 and listing.count('class="link revoked"') == 1


def test_only_readers_allowed_to_share_make_links(django_user_model, sharer):
    a = store(7)
    other = store(8)
    plain = logged_in(user_with_role(django_user_model, "rita", "reader"))

    refused = plain.post("/accounts/shares/new", {"study": a.StudyInstanceUID, "expires": 3600})
    odd_expiry = logged_in(sharer).post(
        "/accounts/shares/new", {"study": a.StudyInstanceUID, "expires": 5}
    )
    from accounts.models import Project
    from archive.models import Study

    project = Project.objects.create(name="P")
    project.users.add(sharer)
    project.studies.add(Study.objects.get(study_instance_uid=a.StudyInstanceUID))
    hidden = logged_in(sharer).post(
        "/accounts/shares/new", {"study": other.StudyInstanceUID, "expires": 3600}
    )

    assert refused.status_code == 403 and odd_expiry.status_code == 400
    menu = logged_in(sharer).get("/", HTTP_ACCEPT="text/html").content.decode()
    assert 'class="share"' in menu and 'id="share-dialog"' in menu and "My shared links" in menu
    assert 'class="share"' not in plain.get("/", HTTP_ACCEPT="text/html").content.decode()
    assert hidden.status_code == 404
    assert not ShareLink.objects.exists()


def test_every_use_is_logged_under_the_share_door(sharer):
    a = store(9, patient_id="PID-S")
    link = share(sharer, a)
    Client(REMOTE_ADDR="203.0.113.9").get(link + f"dicom-web/studies/{a.StudyInstanceUID}/metadata")

    (made,) = AccessEvent.objects.filter(action="share")
    (view,) = AccessEvent.objects.filter(action="view")
    assert made.username == "sam" and made.query.startswith("created ")
    assert (view.door, view.ip, view.patient_id) == ("share link", "203.0.113.9", "PID-S")
    assert view.username.startswith("sam (share link ") and view.authenticated_by == "share link"


def test_the_viewer_config_through_a_link_points_under_it(sharer):
    a = store(10)
    link = share(sharer, a)

    config = Client().get(link + "ohif/app-config.js").content.decode()
    start = Client().get(link)

    assert f'"http://testserver{link}dicom-web"' in config
    assert start.status_code == 302
    assert start["Location"] == f"{link}ohif/viewer?StudyInstanceUIDs={a.StudyInstanceUID}"
