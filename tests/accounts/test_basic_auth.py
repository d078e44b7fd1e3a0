"""HTTP Basic for local accounts (on by default, as Orthanc offers it; AUTH_BASIC=false turns
it off): right password in, wrong password 401 with a Basic challenge, a changed password
takes effect at once although successes are remembered for a minute."""

import base64

import pytest
from access_helpers import (
    user_with_role,
)
from django.test import Client

pytestmark = pytest.mark.django_db


def basic(username, password) -> Client:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return Client(HTTP_AUTHORIZATION=f"Basic {token}")


@pytest.fixture
def station(django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = user_with_role(django_user_model, "station", "reader")
    user.set_password("station-pw")
    user.save()
    return user


def test_basic_credentials_open_dicomweb_and_pages(station):
    api = basic("station", "station-pw").get("/dicom-web/studies")
    page = basic("station", "station-pw").get("/", HTTP_ACCEPT="text/html")

    assert api.status_code == 200 and api.json() == []
    assert page.status_code == 200


def test_wrong_password_gets_a_basic_challenge(station):
    response = basic("station", "wrong").get("/dicom-web/studies")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="ohifsite", charset="UTF-8"'


def test_malformed_basic_credentials_get_401(station):
    response = Client(HTTP_AUTHORIZATION="Basic %%%not-base64").get("/dicom-web/studies")

    assert response.status_code == 401


def test_changed_password_is_refused_at_once(station):
    assert basic("station", "station-pw").get("/dicom-web/studies").status_code == 200
    station.set_password("new-pw")
    station.save()

    assert basic("station", "station-pw").get("/dicom-web/studies").status_code == 401
    assert basic("station", "new-pw").get("/dicom-web/studies").status_code == 200


def test_disabled_account_is_refused_at_once(station):
    assert basic("station", "station-pw").get("/dicom-web/studies").status_code == 200
    station.is_active = False
    station.save()

    assert basic("station", "station-pw").get("/dicom-web/studies").status_code == 401


def test_basic_can_be_switched_off(station, settings):
    settings.AUTH_BASIC = False

    response = basic("station", "station-pw").get("/dicom-web/studies")

    assert response.status_code == 401
    assert "switched off" in response["WWW-Authenticate"]
