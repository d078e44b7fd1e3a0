"""Fixtures for the DICOMweb tests."""

import base64

import pytest
from django.contrib.auth.models import Group


@pytest.fixture
def reader(client, django_user_model, settings):
    """A test client logged in as a user with only the reader role, by HTTP Basic (as
    DICOMweb clients do); a fast password hasher keeps per-request authentication cheap."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = django_user_model.objects.create_user("wado-reader", password="reader-secret")
    user.groups.add(Group.objects.get_or_create(name="reader")[0])
    token = base64.b64encode(b"wado-reader:reader-secret").decode()
    client.defaults["HTTP_AUTHORIZATION"] = f"Basic {token}"
    return client
