"""app-config.js follows the user's roles: OHIF offers upload only to uploaders and reject
(which deletes a series here) only to admins, whatever a data source's settings say; a share
link's viewer offers neither."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from test_viewer_appconfig import parse

from viewerconfig.models import DataSource

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def user_with_role(django_user_model, name, role):
    user = django_user_model.objects.create_user(name, password="unused-pw")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def offered(client, prefix="") -> dict[str, tuple]:
    config = parse(client.get(prefix + "/ohif/app-config.js").content.decode())
    return {
        s["sourceName"]: (
            s["configuration"].get("dicomUploadEnabled"),
            s["configuration"].get("supportsReject"),
        )
        for s in config["dataSources"]
        if s["namespace"].endswith("dicomweb")
    }


@pytest.fixture
def generous_source():
    """The archive's source with upload and reject on, the advanced JSON insisting too."""
    DataSource.objects.filter(name="dicomweb").update(
        dicom_upload_enabled=True,
        supports_reject=True,
        advanced={"dicomUploadEnabled": True, "supportsReject": True},
    )


@pytest.mark.parametrize(
    "role, upload, reject",
    [("reader", False, False), ("uploader", True, False), ("admin", True, True)],
)
def test_upload_and_reject_follow_the_role(
    django_user_model, generous_source, role, upload, reject
):
    client = logged_in(user_with_role(django_user_model, f"{role}-user", role))

    assert offered(client)["dicomweb"] == (upload, reject)


def test_a_share_link_viewer_offers_neither(admin_user, generous_source):
    from dicom_data import ct_slice, receive_one

    ds = ct_slice(rows=32, columns=32, seed=3)
    receive_one(ds)
    admin_user.user_permissions.add(Permission.objects.get(codename="add_sharelink"))
    made = logged_in(admin_user).post(
        "/accounts/shares/new", {"study": ds.StudyInstanceUID, "expires": 3600}
    )
    link = made.json()["url"].removeprefix("http://testserver").rstrip("/")

    assert offered(Client(), link)["dicomweb"] == (False, False)
