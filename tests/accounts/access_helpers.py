"""Small helpers shared by the access tests: users with a role, STOW bodies."""

from dicom_data import to_bytes
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
