"""What a new admin opens first, at 1400×900: the admin names the archive; its Studies list
reads like the worklist; the access log's columns all fit on the screen; and the DICOM tag
browser, reached from a series row of the worklist, folds sequences. Screenshots of each."""

import pytest
from dicom_data import ct_series, receive_one
from pydicom.dataset import Dataset

from accounts.models import AccessEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def wide_page(browser, session_cookie):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_cookies([session_cookie])
    yield context.new_page()
    context.close()


def fits_the_screen(page):
    """Every column of the first row is in view: Django wraps the results in a scroll box, so
    the page itself never scrolls sideways; the cells must fit inside that box."""
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    box = page.locator("#changelist .results").bounding_box()
    assert box["x"] + box["width"] <= 1400
    for cell in page.locator("#result_list tbody tr").first.locator("td, th").all():
        found = cell.bounding_box()
        assert found["x"] + found["width"] <= box["x"] + box["width"] + 1, cell.inner_text()


def with_sequence(ds):
    item = Dataset()
    item.ReferencedSOPClassUID = ds.SOPClassUID
    item.ReferencedSOPInstanceUID = f"{ds.SOPInstanceUID}.9"
    ds.ReferencedImageSequence = [item]
    return ds


def test_admin_and_tag_browser_at_1400(wide_page, live_server, screenshot):
    page = wide_page
    series = [with_sequence(ds) for ds in ct_series(2, rows=8, columns=8, patient_name="Adm^Ada")]
    for ds in series:
        assert receive_one(ds).ok

    page.goto(live_server.url + "/admin/")
    assert page.locator("#site-name").inner_text() == "DICOM archive administration"
    assert page.title().endswith("| DICOM archive")
    page.goto(live_server.url + "/admin/archive/study/")
    row = page.locator("#result_list tbody tr").first
    assert row.locator(".field-patient").inner_text() == "ADM, ADA"
    day = series[0].StudyDate
    assert row.locator(".field-date").inner_text().startswith(f"{day[:4]}-{day[4:6]}-{day[6:]}")
    screenshot(page, "admin-studies")
    fits_the_screen(page)

    long_path = "/dicom-web/studies/" + "1.2.826.0.1.3680043.8.498." * 2 + "/series/metadata"
    for i in range(5):
        AccessEvent.objects.create(
            username=f"radiologist-with-a-long-name-{i}",
            action="view",
            study_instance_uid=("1.2.826.0.1.3680043.8.498." + "7" * 64)[:64],  # the longest
            method="GET",
            path=long_path,
            status_code=200,
            ip="2001:db8:85a3::8a2e:370:7334",
            user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131",
            authenticated_by="session",
        )
    page.goto(live_server.url + "/admin/accounts/accessevent/")
    page.locator("#result_list").wait_for()
    screenshot(page, "access-log")
    fits_the_screen(page)

    # The tag browser, from the series row of the worklist.
    page.goto(live_server.url + "/")
    page.locator("tr.study button.expand").first.click()
    with page.expect_popup() as popup:
        page.locator("a.tags-link").first.click()
    tags = popup.value
    tags.locator("table.tags").first.wait_for()
    assert tags.locator("h1").inner_text() == "DICOM tags"
    folded = tags.locator("tr.sequence details").first
    assert not folded.locator(".item").first.is_visible()
    folded.locator("summary").click()
    assert folded.locator(".item").first.is_visible()
    assert f"{series[0].SOPInstanceUID}.9" in folded.inner_text()
    assert tags.evaluate("document.documentElement.scrollWidth") <= 1400
    screenshot(tags, "tag-browser")
