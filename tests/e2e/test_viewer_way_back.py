"""What a radiologist meets opening a study from the worklist: the image, not OHIF's tour over
it; no console error for the manifest; and OHIF's back arrow leading to the archive's
worklist, not to OHIF's own second list."""

import pytest
from dicom_data import ct_blocks_series
from test_ohif_viewer import ingest, shows_ct

from viewerconfig import links

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker"),
]


MANIFEST_JS = """async () => {
  const link = document.querySelector('link[rel="manifest"]');
  const get = (credentials) => fetch(link.href, {credentials, redirect: "manual"});
  const withCookie = await get("include");
  const without = await get("omit");
  return {
    crossOrigin: link.crossOrigin,
    withCookie: [withCookie.status, (await withCookie.json()).name],
    without: without.status,
  };
}"""


def test_the_back_arrow_leads_to_the_worklist(page, live_server, screenshot):
    series = ct_blocks_series(3, patient_name="Back^Bea")
    ingest(series)
    page.goto(live_server.url + "/")
    row = page.locator(f'tr.study[data-uid="{series[0].StudyInstanceUID}"]')
    row.wait_for()
    page.goto(live_server.url + links.viewer_url(series[0].StudyInstanceUID))
    shows_ct(page, series)
    # No tour: nothing covers the image, and none is waiting to.
    assert page.locator(".shepherd-element").count() == 0
    assert page.get_by_text("Skip all").count() == 0
    screenshot(page, "viewer")
    # The manifest: browsers fetch it without cookies unless the link says otherwise (HTML
    # spec: credentials "omit", "include" with crossorigin="use-credentials"), and the
    # viewer's files are for signed-in users. Headless Chromium does not fetch it, so the two
    # fetches are made here as the browser makes them.
    manifest = page.evaluate(MANIFEST_JS)
    assert manifest["crossOrigin"] == "use-credentials"
    assert manifest["withCookie"] == [200, "OHIF Viewer"]
    assert manifest["without"] != 200  # what the console reported on every load before
    page.locator('[data-cy="return-to-work-list"]').click()
    page.wait_for_url(live_server.url + "/")
    page.locator("h1", has_text="Study list").wait_for()
    assert page.locator(f'tr.study[data-uid="{series[0].StudyInstanceUID}"]').count() == 1
    screenshot(page, "back-on-the-worklist")
