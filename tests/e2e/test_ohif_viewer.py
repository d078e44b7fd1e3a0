"""OHIF, served by the project at /ohif/, shows the archive's images in a real browser: through
DICOMweb and through the DICOM JSON data source, its study list lists the archive, an admin
edit of a data source changes what it loads, and a wrong study shows OHIF's error.

"Shows the image" is checked on the viewport canvas itself: each tile of a generated CT slice
(or each point of an RGB image) must have the brightness pydicom's decoding of the displayed
instance predicts under the viewport's window, so a black, saturated, wrong or misplaced image
fails.
"""

import re
import time

import numpy as np
import pytest
from dicom_data import ct_blocks_series, mr_slice, receive_one, rgb_image, to_bytes
from django.conf import settings
from django.urls import reverse
from ohif_builds import OHIF_BUILDS

from archive.models import Instance
from viewerconfig import links
from viewerconfig.models import DataSource, ViewerSettings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker"),
]

# The first viewport's current image, its window and canvas pixels at image pixel centres
# (Cornerstone3D maps image indices to canvas points; OHIF exposes it as window.cornerstone).
VIEWPORT_JS = """(points) => {
  const cs = window.cornerstone;
  const engine = cs && cs.getRenderingEngines && cs.getRenderingEngines()[0];
  const viewport = engine && engine.getViewports()[0];
  const imageId = viewport && viewport.getCurrentImageId && viewport.getCurrentImageId();
  const image = imageId && viewport.getImageData && viewport.getImageData();
  if (!image) return null;
  const context = viewport.getCanvas().getContext('2d');
  const ratio = window.devicePixelRatio || 1;
  const samples = points.map(([i, j]) => {
    const [x, y] = viewport.worldToCanvas(image.imageData.indexToWorld([i, j, 0]));
    const pixel = context.getImageData(Math.round(x * ratio), Math.round(y * ratio), 1, 1);
    return Array.from(pixel.data);
  });
  const voi = viewport.getProperties ? viewport.getProperties().voiRange : null;
  return {imageId, voi: voi || null, dims: image.dimensions, samples};
}"""

BLOCK_CENTRES = [(8 + 16 * x, 8 + 16 * y) for y in range(8) for x in range(8)]
RGB_POINTS = [(5 + 20 * x, 5 + 15 * y) for y in range(8) for x in range(8)]


def wait_until(predicate, timeout=30.0, interval=0.25):
    """The predicate's first truthy value, or its last value at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def ingest(datasets):
    for ds in datasets:
        result = receive_one(ds)
        assert result.status == "stored", result.reason


def sop_of(image_id: str) -> str:
    match = re.search(r"/instances/([0-9.]+)/|objectUID=([0-9.]+)", image_id)
    assert match, image_id
    return match.group(1) or match.group(2)


def expected_gray(ds, voi, points) -> np.ndarray:
    """What a linear window (VOI LUT Function LINEAR, PS3.3 C.11.2.1.2) makes of the stored
    pixels: 0 at voi.lower, 255 at voi.upper."""
    hu = ds.pixel_array.astype(float) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    values = np.array([hu[j, i] for i, j in points])
    return np.clip((values - voi["lower"]) / (voi["upper"] - voi["lower"]), 0, 1) * 255


def shows_ct(page, datasets, timeout=60.0, points=BLOCK_CENTRES):
    """Waits until the viewport shows one of ``datasets`` tile for tile (the tiles' centres are
    ``points``); returns the state."""
    by_sop = {ds.SOPInstanceUID: ds for ds in datasets}

    def check():
        state = page.evaluate(VIEWPORT_JS, points)
        if not state or not state["voi"] or sop_of(state["imageId"]) not in by_sop:
            return None
        gray = np.array([sample[0] for sample in state["samples"]], dtype=float)
        expected = expected_gray(by_sop[sop_of(state["imageId"])], state["voi"], points)
        state["error"] = float(np.abs(gray - expected).max())
        state["correlation"] = float(np.corrcoef(gray, expected)[0, 1]) if gray.std() else 0.0
        return state if state["correlation"] > 0.99 and state["error"] < 12 else None

    state = wait_until(check, timeout)
    assert state, f"no matching image; last viewport state: {page.evaluate(VIEWPORT_JS, [])}"
    return state


def skip_tour(page):
    """OHIF's first-visit tour covers the viewport in screenshots (not the canvas pixels)."""
    skip = page.get_by_text("Skip all")
    if skip.count():
        skip.first.click()


def open_viewer(page, live_server, path):
    """Goes to ``path``; returns the list of URLs requested from then on (kept growing)."""
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(live_server.url + path)
    return requests


def viewer_files(page):
    """(url, status) of every file of the OHIF build the page fetched from now on."""
    files = []
    page.on("response", lambda r: files.append((r.url, r.status)) if "/ohif/" in r.url else None)
    return files


@pytest.mark.parametrize("ohif_build", OHIF_BUILDS, indirect=True)
def test_ct_series_through_dicomweb(page, live_server, screenshot, ohif_build):
    series = ct_blocks_series(20, patient_name="Blocks^Bob")
    ingest(series)
    study = series[0].StudyInstanceUID
    files = viewer_files(page)
    requests = open_viewer(page, live_server, links.viewer_url(study))
    state = shows_ct(page, series)
    skip_tour(page)
    screenshot(page, "ct")
    assert state["dims"][:2] == [128, 128]
    assert state["imageId"].startswith("wadors:")
    assert any(
        f"/dicom-web/studies/{study}/series/" in url and "/frames/" in url for url in requests
    )
    isolated = settings.OHIF_CROSS_ORIGIN_ISOLATION
    assert page.evaluate("window.crossOriginIsolated") is isolated
    # The lazily loaded chunks came from under the prefix, and nothing of the build was missing.
    chunks = [url for url, _ in files if re.search(r"/ohif/\d+\.bundle\.[0-9a-f]+\.js$", url)]
    assert len(chunks) >= 3, files
    assert all(status in (200, 304) for _, status in files), files
    assert not [e for e in page.console_errors if "Loading chunk" in e or "Failed to load" in e]


def shows_rgb(page, ds, timeout=60.0):
    """Waits until the viewport shows ``ds`` (RGB) colour for colour; returns the state."""
    expected = ds.pixel_array

    def colours_match():
        state = page.evaluate(VIEWPORT_JS, RGB_POINTS)
        if not state or sop_of(state["imageId"]) != ds.SOPInstanceUID:
            return None
        shown = np.array([sample[:3] for sample in state["samples"]], dtype=float)
        wanted = np.array([expected[j, i] for i, j in RGB_POINTS], dtype=float)
        if shown[:, :2].std(axis=0).min() == 0:
            return None
        red = np.corrcoef(shown[:, 0], wanted[:, 0])[0, 1]
        green = np.corrcoef(shown[:, 1], wanted[:, 1])[0, 1]
        close = np.abs(shown - wanted).max() < 12
        return state if red > 0.99 and green > 0.99 and close else None

    state = wait_until(colours_match, timeout)
    assert state, f"no matching image; last viewport state: {page.evaluate(VIEWPORT_JS, [])}"
    return state


def test_rgb_image_through_dicomweb_and_dicom_json(page, live_server, screenshot):
    ds = rgb_image(patient_name="Colour^Cleo")
    ingest([ds])
    open_viewer(page, live_server, links.viewer_url(ds.StudyInstanceUID))
    assert shows_rgb(page, ds)["imageId"].startswith("wadors:")
    skip_tour(page)
    screenshot(page, "rgb-dicomweb")

    page.goto(live_server.url + links.dicomjson_viewer_url(ds.StudyInstanceUID))
    assert shows_rgb(page, ds)["imageId"].startswith("dicomweb:")
    skip_tour(page)
    screenshot(page, "rgb-dicomjson")


def test_ct_series_through_dicom_json(page, live_server, screenshot):
    series = ct_blocks_series(6, patient_name="Json^Jo")
    ingest(series)
    requests = open_viewer(
        page, live_server, links.dicomjson_viewer_url(series[0].StudyInstanceUID)
    )
    state = shows_ct(page, series)
    skip_tour(page)
    screenshot(page, "dicomjson")
    assert "/ohif/viewer/dicomjson?url=" in page.url
    assert state["imageId"].startswith("dicomweb:")
    assert any("/wado?requestType=WADO" in url for url in requests)
    assert not any("/frames/" in url for url in requests)


def offer_ohif_list():
    ViewerSettings.objects.update_or_create(pk=1, defaults={"show_study_list": True})


def test_study_list_shows_the_archive(page, live_server, screenshot):
    offer_ohif_list()
    ingest(ct_blocks_series(3, patient_name="Listed^Lisa", description="First listed"))
    ingest([rgb_image(patient_name="Listed^Leo", description="Second listed")])
    open_viewer(page, live_server, links.study_list_url())
    page.get_by_text("Listed, Lisa").wait_for(timeout=30_000)
    page.get_by_text("Listed, Leo").wait_for(timeout=5_000)
    assert page.get_by_text("First listed").count() == 1
    assert page.get_by_text("Second listed").count() == 1
    screenshot(page, "study-list")


def test_data_source_edited_in_the_admin_changes_what_the_viewer_loads(
    page, live_server, screenshot
):
    series = ct_blocks_series(4, patient_name="Edited^Eve")
    ingest(series)
    viewer = links.viewer_url(series[0].StudyInstanceUID)
    before = open_viewer(page, live_server, viewer)
    shows_ct(page, series)
    assert any("/frames/" in url for url in before)

    archive = DataSource.objects.get(is_default=True)
    change = reverse("admin:viewerconfig_datasource_change", args=[archive.pk])
    page.goto(live_server.url + change)
    page.select_option("#id_image_rendering", "wadouri")
    page.locator("input[name=_save]").click()
    page.get_by_text("was changed successfully").wait_for(timeout=15_000)
    screenshot(page, "admin-saved")

    after = open_viewer(page, live_server, viewer)
    state = shows_ct(page, series)
    skip_tour(page)
    screenshot(page, "wadouri")
    assert not state["imageId"].startswith("wadors:")
    assert any("/wado?requestType=WADO" in url for url in after)
    assert not any("/frames/" in url for url in after[len(before) :])


def test_wrong_study_shows_the_error_and_no_image(page, live_server, screenshot):
    ingest(ct_blocks_series(2))
    open_viewer(page, live_server, links.viewer_url("1.2.826.0.1.3680043.8.498.999"))
    page.get_by_text("not available").first.wait_for(timeout=30_000)
    skip_tour(page)
    screenshot(page, "error")
    assert page.evaluate(VIEWPORT_JS, BLOCK_CENTRES) is None


def test_upload_button_stores_through_stow(page, live_server, screenshot, tmp_path):
    """OHIF 3.13 shows Upload from dicomUploadEnabled alone (no customization needed) and
    sends each file to the archive's STOW-RS."""
    ds = mr_slice(patient_name="Uploaded^Una")
    path = tmp_path / "upload.dcm"
    path.write_bytes(to_bytes(ds))
    offer_ohif_list()
    open_viewer(page, live_server, links.study_list_url())
    page.get_by_text("Upload").first.click()
    page.locator("input[type=file]:not([webkitdirectory])").set_input_files(str(path))
    page.get_by_text("1 file completed").wait_for(timeout=30_000)
    screenshot(page, "upload")
    stored = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
    assert stored.series.study.patient_name == "Uploaded^Una"


def test_a_second_data_source_opens_side_by_side(page, live_server, screenshot):
    """A remote-style source (absolute roots, WADO-URI) next to the default: the launch link
    naming it loads through it, the default link still through DICOMweb frames."""
    series = ct_blocks_series(3, patient_name="Second^Sam")
    ingest(series)
    mirror = DataSource.objects.create(
        name="mirror",
        friendly_name="Same archive by absolute URL",
        qido_root=live_server.url + "/dicom-web",
        wado_root=live_server.url + "/dicom-web",
        wado_uri_root=live_server.url + "/wado",
        image_rendering="wadouri",
        position=5,
    )
    study = series[0].StudyInstanceUID
    requests = open_viewer(page, live_server, links.viewer_url(study, mirror))
    state = shows_ct(page, series)
    skip_tour(page)
    screenshot(page, "mirror")
    assert "/ohif/viewer/mirror?" in page.url
    assert not state["imageId"].startswith("wadors:")
    assert any("/wado?requestType=WADO" in url for url in requests)

    page.goto(live_server.url + links.viewer_url(study))
    assert shows_ct(page, series)["imageId"].startswith("wadors:")
