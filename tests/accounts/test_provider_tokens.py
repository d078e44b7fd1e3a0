"""REST clients with access tokens from the real OpenID Connect provider (tests/oidc):
dicomweb-client searches and retrieves with a client-credentials token; expired, wrongly
signed, wrong-audience and malformed tokens get 401 with a Bearer challenge."""

import base64
import hashlib
import os
import re
import time
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
import requests
from access_helpers import MULTIPART, multipart, stored  # noqa: F401 - fixtures
from dicom_data import ct_slice
from dicomweb_client.api import DICOMwebClient
from oidc.provider import VIEWER_CLIENT_ID, new_key

from accounts import roles
from accounts.models import OidcIdentity

pytestmark = pytest.mark.django_db(transaction=True)


def client_with(url, token) -> DICOMwebClient:
    return DICOMwebClient(url, headers={"Authorization": f"Bearer {token}"})


def get_studies(url, token):
    return requests.get(f"{url}/studies", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_client_credentials_token_searches_and_retrieves(stored, oidc_settings, dicomweb_url):
    client = client_with(dicomweb_url, oidc_settings.client_credentials_token("reader-script"))

    studies = client.search_for_studies()
    instance = client.retrieve_instance(
        stored.StudyInstanceUID, stored.SeriesInstanceUID, stored.SOPInstanceUID
    )

    assert [s["0020000D"]["Value"][0] for s in studies] == [stored.StudyInstanceUID]
    assert instance.SOPInstanceUID == stored.SOPInstanceUID
    assert instance.PixelData == stored.PixelData
    identity = OidcIdentity.objects.get(subject="reader-script")
    assert identity.issuer == oidc_settings.issuer
    assert [g.name for g in identity.user.groups.all()] == ["reader"]


def stow(url, token, ds):
    return requests.post(
        f"{url}/studies",
        data=multipart(ds),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": MULTIPART,
            "Accept": "application/dicom+json",
        },
        timeout=30,
    )


def test_reader_token_cannot_store_but_uploader_token_can(oidc_settings, dicomweb_url):
    ds = ct_slice(rows=64, columns=64, seed=4)
    reader = oidc_settings.client_credentials_token("reader-script")
    uploader = oidc_settings.client_credentials_token("uploader-script")

    refused = stow(dicomweb_url, reader, ds)
    found_before = client_with(dicomweb_url, reader).search_for_studies()
    accepted = stow(dicomweb_url, uploader, ds)
    found_after = client_with(dicomweb_url, reader).search_for_studies()

    assert refused.status_code == 403
    assert found_before == []
    assert accepted.status_code == 200
    assert [s["0020000D"]["Value"][0] for s in found_after] == [ds.StudyInstanceUID]


@pytest.mark.parametrize(
    "make_token, reason",
    [
        (lambda p: p.sign(exp=int(time.time()) - 120, iat=int(time.time()) - 900), "expired"),
        (lambda p: p.sign(key=new_key()[0]), "not valid"),
        (lambda p: p.sign(aud="another-api"), "another audience"),
        (lambda p: p.sign(iss="http://127.0.0.1:1/evil"), "another issuer"),
        (lambda p: "not.a.jwt", "not valid"),
        (lambda p: p.sign(key=new_key()[0], kid="unknown-kid"), "not valid"),
    ],
    ids=["expired", "other-key", "wrong-audience", "wrong-issuer", "malformed", "unknown-kid"],
)
def test_bad_tokens_are_refused_with_a_challenge(
    stored, oidc_settings, dicomweb_url, make_token, reason
):
    response = get_studies(dicomweb_url, make_token(oidc_settings))

    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="ohifsite", error="invalid_token"')
    assert reason in challenge
    assert stored.StudyInstanceUID not in response.text


def test_the_same_claims_signed_by_the_provider_key_are_accepted(
    stored, oidc_settings, dicomweb_url
):
    """The control for the refusals above: only the one thing changed there is wrong."""
    response = get_studies(dicomweb_url, oidc_settings.sign(sub="signed-here"))

    assert response.status_code == 200
    assert response.json()[0]["0020000D"]["Value"] == [stored.StudyInstanceUID]


def test_provider_tokens_are_refused_when_switched_off(
    stored, oidc_settings, settings, dicomweb_url
):
    settings.AUTH_OIDC_BEARER = False

    response = get_studies(dicomweb_url, oidc_settings.client_credentials_token())

    assert response.status_code == 401
    assert "not accepted" in response.headers["WWW-Authenticate"]


def test_anonymous_api_call_gets_401_with_bearer_challenge(stored, dicomweb_url):
    response = requests.get(f"{dicomweb_url}/studies", timeout=10)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="ohifsite"'
    assert stored.StudyInstanceUID not in response.text


def opaque_user_token(provider, username, password) -> str:
    """An access token the way OHIF gets one (public client, code flow with PKCE): opaque,
    not a JWT, so the archive must ask the provider's userinfo endpoint about it."""
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    redirect_uri = f"{provider.site}/ohif/callback"
    browser = requests.Session()
    login_form = browser.get(
        f"{provider.issuer}/auth",
        params={
            "client_id": VIEWER_CLIENT_ID,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "openid groups",
            "state": "s" * 32,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        timeout=10,
    )
    action = re.search(r'action="([^"]+)"', login_form.text).group(1)
    answer = browser.post(
        provider.issuer + action,
        data={"username": username, "password": password},
        allow_redirects=False,
        timeout=10,
    )
    while not answer.headers["Location"].startswith(redirect_uri):
        answer = browser.get(urljoin(answer.url, answer.headers["Location"]), allow_redirects=False)
    code = parse_qs(urlparse(answer.headers["Location"]).query)["code"][0]
    tokens = requests.post(
        f"{provider.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": VIEWER_CLIENT_ID,
            "code_verifier": verifier,
        },
        timeout=10,
    )
    return tokens.json()["access_token"]


def test_opaque_token_is_checked_at_userinfo(stored, oidc_settings, dicomweb_url):
    token = opaque_user_token(oidc_settings, "ursula", "ursula-pw")

    first = get_studies(dicomweb_url, token)
    again = get_studies(dicomweb_url, token)  # remembered: no second provider call needed
    forged = get_studies(dicomweb_url, "x" * len(token))

    assert token.count(".") != 2
    assert first.status_code == again.status_code == 200
    assert first.json()[0]["0020000D"]["Value"] == [stored.StudyInstanceUID]
    user = OidcIdentity.objects.get(subject="ursula").user
    assert roles.highest_role(user) == roles.UPLOADER
    assert forged.status_code == 401
    assert "does not accept" in forged.headers["WWW-Authenticate"]
