"""Runs the real OpenID Connect provider (tests/oidc/server.mjs, npm oidc-provider) as a
separate node process on loopback, once per test session, and points Django at it.

Installs the provider with `npm ci` the first time (idempotent: skipped while node_modules
matches package-lock.json). The provider signs with an RSA key made here, so tests can also
sign tokens with the real key (expired, wrong audience) or with another one.
"""

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

HERE = Path(__file__).resolve().parent
CLIENT_ID, CLIENT_SECRET = "ohifsite", "ohifsite-test-secret"
VIEWER_CLIENT_ID = "ohif-viewer"
RESOURCE, AUDIENCE = "urn:ohifsite:dicomweb", "ohifsite-api"
ACCOUNTS = {
    "alice": {"password": "alice-pw", "groups": ["reader"], "email": "alice@example.org"},
    "ursula": {"password": "ursula-pw", "groups": ["uploader"], "email": "ursula@example.org"},
    "adam": {"password": "adam-pw", "groups": ["admin"], "email": "adam@example.org"},
    "nobody": {"password": "nobody-pw", "groups": [], "email": "nobody@example.org"},
    # a reader in a research group that a project is granted to (tests/accounts/test_projects)
    "rhea": {
        "password": "rhea-pw",
        "groups": ["reader", "research-a"],
        "email": "rhea@example.org",
    },
}
# Script clients (client credentials grant) and the groups their tokens carry.
SCRIPT_CLIENTS = {"reader-script": ["reader"], "uploader-script": ["uploader"]}


def new_key() -> tuple[rsa.RSAPrivateKey, dict]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    jwk.pop("key_ops", None)  # ["sign"] would stop the provider verifying its own tokens
    jwk.update(kid=uuid.uuid4().hex[:16], alg="RS256", use="sig")
    return key, jwk


def npm_ci() -> None:
    stamp = HERE / "node_modules" / ".package-lock.json"
    lock = HERE / "package-lock.json"
    if stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed for the OpenID Connect provider of the access tests")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class OidcProvider:
    issuer: str
    key: object
    jwk: dict
    site: str
    process: subprocess.Popen = field(repr=False)

    def django_settings(self) -> dict:
        return {
            "OIDC_OP_ISSUER": self.issuer,
            "OIDC_RP_CLIENT_ID": CLIENT_ID,
            "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_RP_SCOPES": "openid email profile groups",
            "OIDC_API_AUDIENCE": [AUDIENCE],
        }

    def client_credentials_token(self, client_id: str = "reader-script") -> str:
        response = requests.post(
            f"{self.issuer}/token",
            data={"grant_type": "client_credentials", "resource": RESOURCE, "scope": "dicomweb"},
            auth=(client_id, f"{client_id}-secret"),
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def sign(self, key=None, kid=None, **claims) -> str:
        """A JWT access token with the given claims over sensible defaults."""
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "sub": "reader-script",
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 300,
            "groups": ["reader"],
            **claims,
        }
        signing_key = key or self.key
        return jwt.encode(body, signing_key, "RS256", headers={"kid": kid or self.jwk["kid"]})


@pytest.fixture(scope="session")
def oidc_provider(live_server, tmp_path_factory):
    npm_ci()
    key, jwk = new_key()
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    site = live_server.url
    clients = [
        {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [f"{site}/accounts/oidc/callback/"],
            "post_logout_redirect_uris": [f"{site}/accounts/logged-out/"],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_post",
        },
        {
            # OHIF signing in by itself (OIDC in the viewer): a public client with PKCE.
            "client_id": VIEWER_CLIENT_ID,
            "token_endpoint_auth_method": "none",
            "redirect_uris": [f"{site}/ohif/callback", f"{site}/callback"],
            "post_logout_redirect_uris": [f"{site}/ohif/", f"{site}/"],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
        },
        *(
            {
                "client_id": name,
                "client_secret": f"{name}-secret",
                "grant_types": ["client_credentials"],
                "redirect_uris": [],
                "response_types": [],
            }
            for name in SCRIPT_CLIENTS
        ),
    ]
    config = {
        "issuer": issuer,
        "port": port,
        "jwk": jwk,
        "clients": clients,
        "accounts": ACCOUNTS,
        "clientGroups": SCRIPT_CLIENTS,
        "resource": RESOURCE,
        "audience": AUDIENCE,
    }
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["node", str(HERE / "server.mjs")],
            cwd=HERE,
            env={**os.environ, "OIDC_TEST_CONFIG": json.dumps(config), "NODE_ENV": "test"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while b"listening on" not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the OIDC provider did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    yield OidcProvider(issuer, key, jwk, site, process)
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def oidc_settings(settings, oidc_provider):
    """Django configured for the test provider, for one test."""
    for name, value in oidc_provider.django_settings().items():
        setattr(settings, name, value)
    yield oidc_provider
