"""Login through the real OpenID Connect provider in Chromium: the worklist sends the browser
to the provider, the user signs in there and comes back to the worklist, opens a study in OHIF
and sees the image, signs out (of the provider too) and is refused afterwards."""

import pytest
from dicom_data import ct_blocks_series
from test_ohif_viewer import ingest, shows_ct, skip_tour

from accounts.models import AccessEvent
from viewerconfig import links

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker"),
]


@pytest.fixture
def anonymous_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def test_oidc_login_view_and_logout(anonymous_page, live_server, oidc_settings, screenshot):
    page = anonymous_page
    series = ct_blocks_series(4, patient_name="Sso^Sam")
    ingest(series)
    study = series[0].StudyInstanceUID

    page.goto(live_server.url + "/")
    page.wait_for_url(oidc_settings.issuer + "/interaction/**")
    screenshot(page, "provider-login")
    page.fill("#username", "alice")
    page.fill("#password", "alice-pw")
    page.click("#submit")
    page.wait_for_url(live_server.url + "/")
    page.get_by_text("Sso, Sam").or_(page.get_by_text("Sso^Sam")).first.wait_for(timeout=30_000)
    screenshot(page, "worklist")

    page.goto(live_server.url + links.viewer_url(study))
    shows_ct(page, series, timeout=90)
    skip_tour(page)
    screenshot(page, "viewer")

    page.goto(live_server.url + "/")
    page.get_by_role("button", name="Sign out").click()  # the worklist's own button
    page.wait_for_url(live_server.url + "/accounts/logged-out/")
    api = page.request.get(live_server.url + "/dicom-web/studies")
    page.goto(live_server.url + links.viewer_url(study))
    viewer_after = page.url
    page.goto(live_server.url + "/")
    page.wait_for_url(oidc_settings.issuer + "/interaction/**")
    screenshot(page, "refused")

    assert api.status == 401
    assert not viewer_after.startswith(live_server.url + "/ohif/viewer")
    assert page.locator("#password").count() == 1  # the provider asks for the password again


def test_viewer_signs_in_by_itself_and_sends_bearer_tokens(
    anonymous_page, live_server, oidc_settings, screenshot
):
    """OIDC in the viewer: an admin turns it on (ViewerSettings); OHIF sends the browser to the
    provider, comes back with a token and sends it on every DICOMweb request; there is no
    Django session at all."""
    from oidc.provider import VIEWER_CLIENT_ID

    from viewerconfig.models import ViewerSettings

    viewer = ViewerSettings.load()
    viewer.oidc_enabled = True
    viewer.oidc_authority = oidc_settings.issuer
    viewer.oidc_client_id = VIEWER_CLIENT_ID
    viewer.oidc_scope = "openid profile email groups"
    viewer.oidc_automatic_silent_renew = False
    viewer.save()
    page = anonymous_page
    series = ct_blocks_series(4, patient_name="Token^Tia")
    ingest(series)
    dicomweb = []
    page.on(
        "request",
        lambda r: (
            dicomweb.append(r.headers.get("authorization", "")) if "/dicom-web/" in r.url else None
        ),
    )

    page.goto(live_server.url + links.viewer_url(series[0].StudyInstanceUID))
    page.wait_for_url(oidc_settings.issuer + "/interaction/**")
    page.fill("#username", "alice")
    page.fill("#password", "alice-pw")
    page.click("#submit")
    page.wait_for_url(live_server.url + "/ohif/viewer**", timeout=90_000)  # via /ohif/callback
    shows_ct(page, series, timeout=90)
    skip_tour(page)
    screenshot(page, "viewer-oidc")

    cookies = {c["name"] for c in page.context.cookies(live_server.url)}
    assert "sessionid" not in cookies
    assert dicomweb and all(h.startswith("Bearer ") for h in dicomweb)
    # The opaque token was checked at the provider's userinfo and mapped to the reader role.
    assert AccessEvent.objects.filter(username="alice", authenticated_by="oidc token").exists()
