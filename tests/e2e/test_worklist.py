"""The worklist in a real browser, as a clinician uses it: upload three files (one not DICOM)
and read the per-file results, see the new study arrive without a reload and become ready,
find it by name and by date, expand its series, open it in OHIF and see the image, and
download it as a zip holding the very same instances."""

import base64
import io
import zipfile
from datetime import date

import pytest
from dicom_data import ct_blocks_series, mr_slice, receive_one, to_bytes
from test_ohif_viewer import shows_ct, skip_tour

from archive.models import Study

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker"),
]


def row(page, uid):
    return page.locator(f'#results tr.study[data-uid="{uid}"]')


def throttle_uploads(page, bytes_per_second):
    """Slow the browser's uploads (DevTools network emulation) so progress can be seen."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )
    return cdp


def test_upload_find_expand_open_and_download(page, live_server, tmp_path, screenshot):
    today = date.today().strftime("%Y%m%d")
    series = ct_blocks_series(2, patient_name="Worklist^Wendy", study_date=today)
    study = series[0].StudyInstanceUID
    older = mr_slice(patient_name="Other^Oscar", study_date="20010101")
    assert receive_one(older).ok
    files = []
    for i, ds in enumerate(series):
        files.append(tmp_path / f"slice{i}.dcm")
        files[-1].write_bytes(to_bytes(ds))
    files.append(tmp_path / "notes.txt")
    files[-1].write_text("not an image\n" * 50)

    page.goto(live_server.url + "/")
    row(page, older.StudyInstanceUID).wait_for()
    page.evaluate("window.sameDocument = true")
    page.click("#upload-toggle")
    cdp = throttle_uploads(page, 12 * 1024)
    page.set_input_files("#pick-files", [str(path) for path in files])
    page.wait_for_function(
        "[...document.querySelectorAll('#upload-files progress')]"
        ".some(p => p.value > 0.05 && p.value < 0.95)"
    )
    screenshot(page, "upload-in-progress")
    # Searching while the files go up: the results change in place, the uploads go on.
    page.fill('input[name="name"]', "worklist")
    page.click('#filters button[type="submit"]')
    page.wait_for_url("**/?name=worklist")
    row(page, older.StudyInstanceUID).wait_for(state="detached")
    assert page.locator("#upload-files li:not([data-status])").count() >= 1
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
             "downloadThroughput": -1, "uploadThroughput": -1})  # fmt: skip

    items = page.locator("#upload-files > li")
    page.wait_for_function(
        "document.querySelectorAll('#upload-files > li[data-status]').length === 3"
    )
    outcomes = {
        items.nth(i).locator(".fname").inner_text(): (
            items.nth(i).get_attribute("data-status"),
            items.nth(i).locator(".outcome").inner_text(),
        )
        for i in range(3)
    }
    assert outcomes["slice0.dcm"][0] == "stored"
    assert outcomes["slice1.dcm"][0] == "stored"
    assert outcomes["notes.txt"][0] == "rejected"
    assert "not a DICOM file" in outcomes["notes.txt"][1]
    assert page.locator("#upload-summary").inner_text() == "Finished: 3 files"
    assert page.locator("#upload-counts").inner_text() == "2 stored · 1 rejected"

    # The new study joins the list in place, then its caches get built by the worker.
    new = row(page, study)
    new.wait_for()
    assert page.evaluate("window.sameDocument") is True
    assert new.locator(".col-name").inner_text() == "WORKLIST, WENDY"
    page.wait_for_selector(
        f'#results tr.study[data-uid="{study}"][data-state="ready"]', timeout=60_000
    )
    assert new.locator(".col-instances").inner_text() == "2"
    assert new.locator(".badge").inner_text().lower() == "ready"
    screenshot(page, "upload-results")

    # Find it by name, then by date: the filters go into the URL.
    page.fill('input[name="name"]', "worklist, wen")
    page.click('#filters button[type="submit"]')
    page.wait_for_url("**/?name=worklist%2C+wen")
    assert page.locator("#results tr.study").count() == 1
    row(page, study).wait_for()
    page.goto(live_server.url + "/")
    page.select_option("#date-preset", "today")
    page.click('#filters button[type="submit"]')
    page.wait_for_url("**/?date=today")
    uids = page.locator("#results tr.study").evaluate_all("rows => rows.map(r => r.dataset.uid)")
    assert uids == [study]
    page.select_option("#date-preset", "custom")
    page.fill('input[name="from"]', "2001-01-01")
    page.fill('input[name="to"]', "2001-01-31")
    page.click('#filters button[type="submit"]')
    page.wait_for_url("**/?date=custom&from=2001-01-01&to=2001-01-31")
    uids = page.locator("#results tr.study").evaluate_all("rows => rows.map(r => r.dataset.uid)")
    assert uids == [older.StudyInstanceUID]

    # Expand its series.
    page.goto(live_server.url + "/?name=worklist")
    row(page, study).locator("button.expand").click()
    series_row = page.locator("tr.series-row table.series tbody tr")
    series_row.wait_for()
    assert series_row.count() == 1
    cells = series_row.first.locator("td")
    assert cells.nth(2).inner_text() == "CT"
    assert cells.nth(3).inner_text() == "Blocks"
    assert cells.nth(4).inner_text() == "2"
    thumbnail = row(page, study).locator("img.thumb")
    assert page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle()
    )
    screenshot(page, "worklist")

    # Open it in OHIF (a new tab) and see the image.
    with page.expect_popup() as popup_info:
        row(page, study).locator("a.open").click()
    viewer = popup_info.value
    shows_ct(viewer, series)
    skip_tour(viewer)
    screenshot(viewer, "ohif")
    viewer.close()

    # Download it as a zip: the same instances, byte for byte.
    row(page, study).locator("details.menu summary").click()
    with page.expect_download() as download_info:
        row(page, study).locator("a.download").click()
    path = download_info.value.path()
    with zipfile.ZipFile(path) as archive:
        got = {
            name.rsplit("/", 1)[1].removesuffix(".dcm"): archive.read(name)
            for name in archive.namelist()
        }
    assert got == {ds.SOPInstanceUID: to_bytes(ds) for ds in series}

    # Delete it (the admin's menu), after confirming in the dialog.
    row(page, study).locator("details.menu summary").click()
    row(page, study).locator("button.delete").click()
    dialog = page.locator("#delete-dialog")
    assert "WORKLIST, WENDY" in dialog.locator(".delete-what").inner_text()
    dialog.locator("#delete-confirm").click()
    row(page, study).wait_for(state="detached")
    assert "Study deleted: 1 series, 2 instances." in page.locator("#toast").inner_text()
    assert not Study.objects.filter(study_instance_uid=study).exists()


DROP_JS = """([name, b64]) => {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, {type: "application/zip"}));
  const zone = document.getElementById("dropzone");
  for (const type of ["dragenter", "dragover", "drop"]) {
    const init = {bubbles: true, cancelable: true, dataTransfer: transfer};
    zone.dispatchEvent(new DragEvent(type, init));
  }
}"""


def test_a_zip_dropped_on_the_page_is_expanded(page, live_server):
    series = ct_blocks_series(2, size=32, blocks=4, patient_name="Dropped^Dora")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i, ds in enumerate(series):
            archive.writestr(f"CD/IM{i}", to_bytes(ds))
        archive.writestr("CD/DICOMDIR", b"index")
    page.goto(live_server.url + "/")
    page.evaluate(DROP_JS, ["disc.zip", base64.b64encode(buffer.getvalue()).decode()])
    page.wait_for_selector("#upload-files > li[data-status]")
    item = page.locator("#upload-files > li").first
    assert item.get_attribute("data-status") == "stored,stored,skipped"
    text = item.locator(".outcome").inner_text()
    assert "CD/IM0: stored" in text and "CD/DICOMDIR: skipped" in text
    row(page, series[0].StudyInstanceUID).wait_for()
    # The summary counts the files inside the zip; with nothing refused the panel then gets
    # out of the list's way, its outcome in a toast.
    assert page.locator("#upload-summary").inner_text() == "Finished: 1 file"
    assert page.locator("#upload-counts").inner_text() == "3 files inside: 2 stored · 1 skipped"
    page.locator("#upload-panel").wait_for(state="hidden")
    toast = page.locator("#toast").inner_text()
    assert toast == "Finished: 1 file — 3 files inside: 2 stored · 1 skipped"
