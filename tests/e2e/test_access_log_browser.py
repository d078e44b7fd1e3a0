"""The access log as an auditor reads it after a real session in Chromium: a worklist page
whose thumbnails all load is one search and no view; opening a study in OHIF (metadata, then
every frame) is one view of that study, with its patient; the admin's list shows both and
offers neither edit nor delete."""

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


def test_a_listing_is_a_search_and_opening_ohif_is_one_view(page, live_server, screenshot):
    studies = [
        ct_blocks_series(3, patient_name=f"Audit^A{i}", patient_id=f"AUD{i}") for i in range(4)
    ]
    for series in studies:
        ingest(series)
    thumbnails = []
    page.on(
        "response",
        lambda r: thumbnails.append(r.status) if r.url.endswith("/thumbnail") else None,
    )

    page.goto(live_server.url + "/")
    page.wait_for_function("[...document.querySelectorAll('img.thumb')].every(i => i.complete)")
    page.wait_for_load_state("networkidle")
    assert thumbnails.count(200) == 4
    listed = AccessEvent.objects.exclude(action__in=("login", "store"))
    assert list(listed.values_list("action", "door", "result_count")) == [("search", "web", 4)]

    opened = studies[2]
    page.goto(live_server.url + links.viewer_url(opened[0].StudyInstanceUID))
    shows_ct(page, opened)
    skip_tour(page)
    page.wait_for_load_state("networkidle")

    views = AccessEvent.objects.filter(action="view")
    assert [(e.study_instance_uid, e.patient_id, e.door) for e in views] == [
        (opened[0].StudyInstanceUID, "AUD2", "dicomweb")
    ]
    page.goto(live_server.url + "/admin/accounts/accessevent/")
    screenshot(page, "admin-log")
    assert page.locator("#result_list").get_by_text("AUD2").count() >= 1
    assert page.locator("select[name=action] option[value=delete_selected]").count() == 0
