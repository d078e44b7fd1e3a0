"""OHIF's write-back in Chromium: a length drawn on a CT and saved as an SR is stored through
STOW-RS into the study, found by QIDO-RS and shown again when the study is reopened."""

import re

import pytest
from dicom_data import ct_blocks_series
from test_object_kinds_browser import Watch, open_series, open_study, store
from test_ohif_viewer import VIEWPORT_JS, wait_until

from archive.models import Instance

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker"),
]


def test_a_length_saved_as_sr_is_stored_and_reopens(page, live_server, screenshot):
    watch = Watch(page)
    series = ct_blocks_series(3, patient_name="Write^Wanda")
    store(*series)
    study = series[0].StudyInstanceUID
    open_study(page, live_server, study, "dicomweb")
    assert wait_until(lambda: page.evaluate(VIEWPORT_JS, []), 60)

    page.locator('[data-cy="Length"]').first.click()
    canvas = page.locator(".cornerstone-viewport-element canvas").first
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3
    page.mouse.click(x, y)
    page.mouse.click(x + box["width"] * 0.3, y + box["height"] * 0.2)
    yes = page.get_by_role("button", name=re.compile("^Yes", re.I)).first
    yes.wait_for(timeout=15_000)
    yes.click()
    drawn = page.get_by_text(re.compile(r"\d+(\.\d+)? mm")).first
    drawn.wait_for(timeout=15_000)
    length = re.search(r"\d+(\.\d+)? mm", drawn.text_content()).group(0)

    # The measurements panel (collapsed at first) holds "Create SR".
    panel = page.locator('[data-cy="trackedMeasurements-btn"], [data-cy="measurements-btn"]')
    panel.first.click()
    page.get_by_role("button", name=re.compile("Create SR", re.I)).first.click()
    name = page.locator('[data-cy="input-dialog-save-button"], [data-cy*="save"]').first
    name.wait_for(timeout=15_000)
    name.click()
    assert wait_until(
        lambda: (
            page.wait_for_timeout(250)
            or Instance.objects.filter(
                series__study__study_instance_uid=study, series__modality="SR"
            ).exists()
        ),
        30,
    ), "no SR was stored"
    screenshot(page, "saved")

    found = page.request.get(f"{live_server.url}/dicom-web/studies/{study}/series?Modality=SR")
    assert found.status == 200 and len(found.json()) == 1
    page.goto("about:blank")
    open_study(page, live_server, study, "dicomweb")
    sr = found.json()[0]["0008103E"]["Value"][0] if "0008103E" in found.json()[0] else "SR"
    open_series(page, sr, prompt_seconds=5)
    # The same length, read back from the stored SR.
    page.get_by_text(length).first.wait_for(timeout=30_000)
    screenshot(page, "reopened")
    watch.assert_clean()
