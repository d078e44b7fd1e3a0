"""What authentication costs per request: the same QIDO-RS search (an empty archive, so the
search itself is small) through the whole Django stack, in-process, with each way of signing
in: session cookie, HTTP Basic (Django's default PBKDF2 hasher; the first request and the
remembered ones), a personal API token, and access tokens from the real test OIDC provider
(tests/oidc, started here): the first use of a token (JWKS fetch, signature, user sync), the
same token again (remembered), and a new token every request (signature and user sync).

    .venv/bin/python bench/auth.py [--runs 200]

Fresh SQLite database and data folder in a temporary directory; every answer's status is
checked, so a refusal cannot look fast.
"""

import argparse
import base64
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
URL = "/dicom-web/studies?limit=1"


def timed(label, make_client, runs, expect=200):
    samples = []
    for _ in range(runs):
        client = make_client()
        start = time.perf_counter()
        response = client.get(URL)
        samples.append((time.perf_counter() - start) * 1000)
        if response.status_code != expect:
            raise SystemExit(f"{label}: {response.status_code} {response.content[:200]!r}")
    samples.sort()
    median = statistics.median(samples)
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(f"{label:<44} median {median:7.2f} ms   p95 {p95:7.2f} ms   ({runs} requests)")


def start_provider(site):
    sys.path.insert(0, str(ROOT / "tests"))
    from oidc import provider as test_provider

    test_provider.npm_ci()
    key, jwk = test_provider.new_key()
    port = test_provider.free_port()
    issuer = f"http://127.0.0.1:{port}"
    config = {
        "issuer": issuer,
        "port": port,
        "jwk": jwk,
        "clients": [],
        "accounts": {},
        "clientGroups": {},
        "resource": test_provider.RESOURCE,
        "audience": test_provider.AUDIENCE,
    }
    process = subprocess.Popen(
        ["node", str(test_provider.HERE / "server.mjs")],
        env={**os.environ, "OIDC_TEST_CONFIG": json.dumps(config)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    process.stdout.readline()  # "listening on ..."
    return process, test_provider.OidcProvider(issuer, key, jwk, site, process)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="ohifsite-auth-bench-")
    os.environ.update(DATA_DIR=work, DJANGO_SETTINGS_MODULE="ohifsite.settings")
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from accounts.models import ApiToken

    logging.getLogger("django.request").setLevel(logging.ERROR)  # the expected 401s
    call_command("migrate", verbosity=0)
    settings.ALLOWED_HOSTS = ["*"]
    user = get_user_model().objects.create_superuser("bench", password="bench-password")
    token = ApiToken(user=user, name="bench", role="admin")
    key = token.new_key()
    token.save()
    process, provider = start_provider("http://localhost")
    for name, value in provider.django_settings().items():
        setattr(settings, name, value)
    try:
        runs = args.runs
        basic = "Basic " + base64.b64encode(b"bench:bench-password").decode()

        def session():
            client = Client()
            client.force_login(user)
            return lambda: client

        timed("anonymous (401)", Client, runs, expect=401)
        timed("session cookie", session(), runs)
        timed("HTTP Basic, first request (PBKDF2)", lambda: Client(HTTP_AUTHORIZATION=basic), 1)
        timed("HTTP Basic, remembered", lambda: Client(HTTP_AUTHORIZATION=basic), runs)
        timed("personal API token", lambda: Client(HTTP_AUTHORIZATION=f"Bearer {key}"), runs)
        jwt = provider.sign(sub="bench-script", groups=["reader"])
        timed(
            "provider JWT, first use (JWKS, user sync)",
            lambda: Client(HTTP_AUTHORIZATION=f"Bearer {jwt}"),
            1,
        )
        timed("provider JWT, same token", lambda: Client(HTTP_AUTHORIZATION=f"Bearer {jwt}"), runs)

        def fresh_jwt():
            fresh = provider.sign(sub="bench-script", jti=os.urandom(8).hex())
            return Client(HTTP_AUTHORIZATION=f"Bearer {fresh}")

        timed("provider JWT, new token each request", fresh_jwt, runs)
    finally:
        process.terminate()


if __name__ == "__main__":
    main()
