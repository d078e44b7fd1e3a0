"""Nothing is open by default: every URL pattern the project defines, walked recursively,
refuses an anonymous request (401 with a challenge for scripts, a redirect to a login page for
browsers), except the reviewed allowlist below."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

# Reviewed: each of these is safe for anyone, and why.
ALLOWLIST = {
    "accounts:login": "the login page itself",
    "accounts:logout": "asks to sign out; signing out an anonymous user does nothing",
    "accounts:logged_out": "a static 'you are signed out' page",
    "accounts:oidc_login": "starts the provider's login (404 while OIDC is off)",
    "accounts:oidc_callback": "the provider's redirect back; needs a valid state and code",
    "healthz": "readiness for load balancers; says only which services answer",
    "livez": "liveness: answers only that the process is alive",
    "favicon": "the site's icon, the same SVG as in static/",
    "admin:login": "Django admin's own login page",
    "admin:logout": "signing out an anonymous user does nothing",
}
# Links that carry their own authorization (archive/signing.py: signed, user-bound, expiring),
# for OHIF's cookie-less DICOM JSON fetch: open to anyone holding a valid link, so a forged
# one must be refused.
SIGNED_LINKS = {"ohif_dicom_json"}
SAMPLES = {
    "study": "1.2.826.0.1.3680043.8.498.1",
    "series": "1.2.826.0.1.3680043.8.498.2",
    "instance": "1.2.826.0.1.3680043.8.498.3",
    "frame_list": "1",
    "tag_path": "7FE00010",
    "code": "113001",
    "app_label": "auth",
    "object_id": "1",
    "content_type_id": "1",
    "pk": "1",
}
METHODS = ("get", "post", "put", "delete")
LOGIN_PATHS = ("/accounts/login/", "/admin/login/")


def walk(resolver=None, prefix="", namespace=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from walk(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else f"{prefix}{entry.pattern}"
            yield name, prefix + str(entry.pattern)


def concrete(pattern: str) -> str:
    """A URL that the pattern matches, with sample values for its parameters."""

    def value(name: str, regex: str = "") -> str:
        if name in SAMPLES:
            return SAMPLES[name]
        return regex.split("|")[0] if regex and re.fullmatch(r"[\w|]+", regex) else "x"

    url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: value(m.group(1)), pattern)
    url = re.sub(r"\(\?P<(\w+)>([^)]*)\)", lambda m: value(m.group(1), m.group(2)), url)
    url = url.replace("^", "").replace("$", "").replace("\\", "")
    return "/" + url


PATTERNS = sorted(set(walk()))


def test_the_walk_finds_every_app():
    names = [name for name, _ in PATTERNS]

    assert "studies" in names and "retrieve_instance_frames" in names
    assert any(name.startswith("admin:") for name in names)
    assert any(name.startswith("worklist:") for name in names)
    assert any(name.startswith("viewerconfig:") for name in names)
    assert set(ALLOWLIST) <= set(names)


def refused(response, method) -> str | None:
    """None when the anonymous request was refused properly, else what went wrong."""
    status = response.status_code
    if status == 401:
        return None if response.get("WWW-Authenticate") else "401 without WWW-Authenticate"
    if status == 302:
        location = response["Location"]
        return None if location.startswith(LOGIN_PATHS) else f"redirect to {location}"
    if status in (405, 406):
        return None  # nothing served: the method or media type is refused before anything
    return f"{method.upper()} answered {status}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name, pattern", [p for p in PATTERNS if p[0] not in {*ALLOWLIST, *SIGNED_LINKS}]
)
def test_anonymous_requests_are_refused(name, pattern):
    client = Client()
    url = concrete(pattern)
    problems = []
    for method in METHODS:
        for accept in ("text/html", "*/*"):
            response = getattr(client, method)(url, HTTP_ACCEPT=accept)
            if problem := refused(response, method):
                problems.append(f"{problem} (Accept: {accept})")

    assert not problems, f"{name} {url}: {problems}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/accounts/logged-out/", "/healthz", "/livez"]
)
def test_allowlisted_pages_answer_anonymously(path):
    response = Client().get(path)

    assert response.status_code == 200


@pytest.mark.django_db
def test_scripts_get_401_and_browsers_get_the_login_page():
    script = Client().get("/", HTTP_ACCEPT="application/json")
    browser = Client().get("/", HTTP_ACCEPT="text/html,application/xhtml+xml")

    assert script.status_code == 401
    assert script["WWW-Authenticate"] == 'Bearer realm="ohifsite"'
    assert browser.status_code == 302
    assert browser["Location"] == "/accounts/login/?next=/"


@pytest.mark.django_db
@pytest.mark.parametrize("name, pattern", [p for p in PATTERNS if p[0] in SIGNED_LINKS])
def test_signed_links_refuse_forged_tokens(name, pattern):
    url = concrete(pattern).replace("/x", "/eyJ1IjoxfQ:forged:signature")

    response = Client().get(url)

    assert response.status_code in (401, 403)
