"""Small helpers and fixtures shared by the access tests: users with a role, STOW bodies, one
stored instance, an empty cache. (Not a conftest.py: other tests import the top-level
conftest by name, and a second module called conftest would shadow it.)"""

import pytest
from dicom_data import ct_slice, receive_one, to_bytes
from django.contrib.auth.models import Group
from django.test import Client

MULTIPART = 'multipart/related; type="application/dicom"; boundary=B'


def multipart(ds) -> bytes:
    return b"--B\r\nContent-Type: application/dicom\r\n\r\n" + to_bytes(ds) + b"\r\n--B--\r\n"


def stow(client: Client, ds, **headers):
    """STOW-RS of one instance with a Django test client."""
    return client.post(
        "/dicom-web/studies",
        data=multipart(ds),
        content_type=MULTIPART,
        HTTP_ACCEPT="application/dicom+json",
        **headers,
    )


def user_with_role(django_user_model, username, role=None, **flags):
    user = django_user_model.objects.create_user(username, password="unused-pw", **flags)
    if role:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def logged_in(user, **defaults) -> Client:
    client = Client(**defaults)
    client.force_login(user)
    return client


@pytest.fixture
def stored():
    """One small CT instance in the archive."""
    ds = ct_slice(rows=64, columns=64, seed=7)
    receive_one(ds)
    return ds
