"""A share link in Chromium: made from the worklist's study menu, opened in a browser with no
session at all, OHIF shows the study's image through DICOMweb and through DICOM JSON; from that
page another study's frames are 404; once revoked (from "My shared links") or expired, the
browser and a plain HTTP client both get "this link no longer works"."""

from datetime import timedelta

import pytest
import requests
from dicom_data import ct_blocks_series
from django.utils import timezone
from test_ohif_viewer import ingest, shows_ct, skip_tour

from accounts.models import ShareLink

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker"),
]


def test_share_link_opens_the_study_without_a_session(page, browser, live_server, screenshot):
    shared = ct_blocks_series(4, patient_name="Shared^Sue")
    other = ct_blocks_series(2, patient_name="Private^Pat")
    ingest(shared)
    ingest(other)
    uid = shared[0].StudyInstanceUID

    page.goto(live_server.url + "/")
    row = page.locator(f'#results tr.study[data-uid="{uid}"]')
    row.locator("details.menu summary").click()
    row.locator("button.share").click()
    page.select_option("#share-expires", "604800")
    page.locator("#share-confirm").click()
    url_box = page.locator("#share-url")
    url_box.wait_for()
    link = url_box.input_value()
    screenshot(page, "share-dialog")
    assert link.startswith(live_server.url + "/share/")

    stranger = browser.new_context(viewport={"width": 1280, "height": 800})
    viewer = stranger.new_page()
    viewer.goto(link)
    state = shows_ct(viewer, shared)
    skip_tour(viewer)
    screenshot(viewer, "ohif-through-link")
    assert state["imageId"].startswith("wadors:") and "/share/" in state["imageId"]
    assert stranger.cookies() == [] or all(c["name"] != "sessionid" for c in stranger.cookies())
    o = other[0]
    frames = (
        f"dicom-web/studies/{o.StudyInstanceUID}/series/{o.SeriesInstanceUID}"
        f"/instances/{o.SOPInstanceUID}/frames/1"
    )
    status = viewer.evaluate("(url) => fetch(url).then(r => r.status)", link + frames)
    assert status == 404

    # The DICOM JSON data source through the same link.
    viewer.goto(link + f"dicom-web/studies/{uid}/ohif-dicom-json-link?open=viewer")
    assert shows_ct(viewer, shared)["imageId"].startswith("dicomweb:")

    page.goto(live_server.url + "/accounts/shares/")
    screenshot(page, "my-links")
    page.locator("button.revoke").click()
    page.locator(".link.revoked").wait_for()

    viewer.goto(link)
    assert "It was revoked" in viewer.locator("#share-gone").inner_text()
    screenshot(viewer, "revoked")
    answer = requests.get(link + f"dicom-web/studies/{uid}/metadata", timeout=10)
    assert answer.status_code == 410 and answer.text == "This share link was revoked.\n"
    stranger.close()


def test_an_expired_link_says_so(page, browser, live_server):
    shared = ct_blocks_series(1, patient_name="Late^Lou")
    ingest(shared)
    page.goto(live_server.url + "/")
    uid = shared[0].StudyInstanceUID
    made = page.evaluate(
        """([uid, token]) => {
          const form = new FormData(); form.append('study', uid); form.append('expires', '3600');
          return fetch('/accounts/shares/new', {method: 'POST', body: form,
            headers: {'X-CSRFToken': token}}).then(r => r.json());
        }""",
        [uid, page.locator('meta[name="csrf-token"]').get_attribute("content")],
    )
    ShareLink.objects.update(expires_at=timezone.now() - timedelta(minutes=1))

    stranger = browser.new_context()
    viewer = stranger.new_page()
    viewer.goto(made["url"])
    assert "It was expired" in viewer.locator("#share-gone").inner_text()
    assert requests.get(made["url"] + "ohif/app-config.js", timeout=10).status_code == 410
    stranger.close()
