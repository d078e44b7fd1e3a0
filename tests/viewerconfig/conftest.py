"""Fixtures for the viewer tests."""

import pytest


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """admin_user's password is hashed per test; the default hasher makes that a second."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
