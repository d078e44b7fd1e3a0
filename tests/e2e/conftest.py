"""Playwright on Debian's Chromium (never a downloaded browser) against the live server, logged
in with a real session cookie. Screenshots of every scenario go to tests/.screenshots/ (or
$SCREENSHOTS_DIR), printed at the end of the run. Without /usr/bin/chromium the tests skip."""

import os
import re
from pathlib import Path

import pytest
from chromium import CHROMIUM, CHROMIUM_ARGS
from ohif_builds import PINNED, SECOND, SECOND_DIST

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# around it are ordinary synchronous ones.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(
    os.environ.get("SCREENSHOTS_DIR") or Path(__file__).resolve().parent.parent / ".screenshots"
)
_saved: list[Path] = []


@pytest.fixture
def ohif_build(request, settings, page):
    """The OHIF version this test runs against (the pin unless parametrized), served from its
    own build; the second build is skipped with the fix when it is not installed. At the end,
    the app bundle the page loaded must be that build's (its name carries a content hash)."""
    from viewerconfig import build

    version = getattr(request, "param", PINNED)
    if version != PINNED:
        if build.installed_version(SECOND_DIST) != version:
            pytest.skip(f"OHIF {version} is not installed in {SECOND} (bash scripts/setup.sh test)")
        settings.OHIF_BUILD_DIR = SECOND_DIST
    bundles = []
    page.on(
        "request",
        lambda r: bundles.append(r.url) if re.search(r"/app\.bundle\.\w+\.js$", r.url) else None,
    )
    yield version
    expected = [p.name for p in Path(settings.OHIF_BUILD_DIR).glob("app.bundle.*.js")]
    assert bundles and {url.rsplit("/", 1)[-1] for url in bundles} <= set(expected), (
        bundles,
        expected,
    )


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def session_cookie(live_server, admin_user):
    """The cookie a browser gets after logging in as pytest-django's admin_user."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(admin_user)
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": live_server.url,
    }


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.call_failed = report.failed
    return report


@pytest.fixture
def page(browser, session_cookie, request):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_cookies([session_cookie])
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    log = []  # written next to the screenshot when the test fails
    page.on("console", lambda m: log.append(f"console.{m.type}: {m.text}"))
    page.on("response", lambda r: log.append(f"{r.status} {r.request.method} {r.url}"))
    page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: log.append(f"failed {r.failure} {r.method} {r.url}"))
    yield page
    if getattr(request.node, "call_failed", False):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{request.node.name}-FAILED.png"
        page.screenshot(path=str(path))
        path.with_suffix(".log").write_text("\n".join(log))
        _saved.append(path)
    context.close()


@pytest.fixture
def screenshot(request):
    """screenshot(page, "name") saves <test name>-<name>.png in the screenshots folder."""

    def save(page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path))
        _saved.append(path)
        return path

    return save


def pytest_terminal_summary(terminalreporter):
    if _saved:
        terminalreporter.write_line(f"browser screenshots ({len(_saved)}): {SCREENSHOTS}")
