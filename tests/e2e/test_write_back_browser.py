"""OHIF's write-back in Chromium, with the pinned OHIF and the second build the tests install
(tests/e2e/ohif_builds.py): a length drawn on a CT and saved as an SR, and a segment painted
with the brush and saved as a SEG, are stored through STOW-RS into the study, found by QIDO-RS
and shown again when the study is reopened; the SEG's stored mask is decoded and compared with
where the brush went."""

import io
import re

import numpy as np
import pydicom
import pytest
from dicom_data import ct_blocks_series
from ohif_builds import NEXT, OHIF_BUILDS
from stored import stored_bytes
from test_object_kinds_browser import Watch, open_series, open_study, segment_drawn, store
from test_ohif_viewer import VIEWPORT_JS, sop_of, wait_until

from archive.models import Instance

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker"),
]

# Canvas points (CSS pixels) of the first viewport -> image indices (column, row) of its image.
CANVAS_TO_INDEX = """(points) => {
  const engine = window.cornerstone.getRenderingEngines()[0];
  const viewport = engine.getViewports()[0];
  const image = viewport.getImageData();
  return points.map(p => Array.from(image.imageData.worldToIndex(viewport.canvasToWorld(p))));
}"""


def open_new_ct(page, live_server, patient_name, mode="viewer"):
    """A new 3-slice CT study stored and opened in OHIF's ``mode`` until the image is drawn;
    returns its datasets and Study Instance UID."""
    series = ct_blocks_series(3, patient_name=patient_name)
    store(*series)
    study = series[0].StudyInstanceUID
    open_study(page, live_server, study, "dicomweb", mode=mode)
    assert wait_until(lambda: page.evaluate(VIEWPORT_JS, []), 60)
    return series, study


def reopen(page, live_server, study, description, *, prompt_seconds):
    """The study opened afresh (a new page: nothing kept from the save) until its CT is drawn,
    then the saved series; opened sooner, OHIF can replace a viewport still loading."""
    page.goto("about:blank")
    open_study(page, live_server, study, "dicomweb")
    assert wait_until(lambda: page.evaluate(VIEWPORT_JS, []), 60)
    open_series(page, description, prompt_seconds=prompt_seconds)


def save_in_dialog(page, study, modality, *, count=1) -> Instance:
    """Confirm OHIF's save dialog (the name and series as offered, the archive as the data
    source) and wait for the study's ``count``-th stored instance of ``modality``; returns it."""
    name = page.locator('[data-cy="input-dialog-save-button"], [data-cy*="save"]').first
    name.wait_for(timeout=15_000)
    name.click()
    stored = Instance.objects.filter(
        series__study__study_instance_uid=study, series__modality=modality
    ).order_by("pk")
    assert wait_until(lambda: page.wait_for_timeout(250) or stored.count() >= count, 30), (
        f"no {modality} was stored"
    )
    return stored.last()


def paint(page, start, end) -> list[list[int]]:
    """One stroke of the active tool from ``start`` to ``end`` (fractions of the viewport);
    returns the image indices (column, row) of both ends."""
    canvas = page.locator(".cornerstone-viewport-element canvas").first
    box = canvas.bounding_box()
    start = (box["width"] * start[0], box["height"] * start[1])
    end = (box["width"] * end[0], box["height"] * end[1])
    page.mouse.move(box["x"] + start[0], box["y"] + start[1])
    page.mouse.down()
    for step in range(1, 11):
        t = step / 10
        page.mouse.move(
            box["x"] + start[0] + (end[0] - start[0]) * t,
            box["y"] + start[1] + (end[1] - start[1]) * t,
        )
    page.mouse.up()
    return [[round(v) for v in point[:2]] for point in page.evaluate(CANVAS_TO_INDEX, [start, end])]


def draw_length(page, start, end, *, track) -> str:
    """A length from ``start`` to ``end`` (fractions of the viewport), tracked when OHIF asks
    (``track``: the first measurement of a study); returns the text OHIF shows for it."""
    shown = page.get_by_text(re.compile(r"\d+(\.\d+)? mm"))
    before = {re.search(r"\d+(\.\d+)? mm", t).group(0) for t in shown.all_text_contents()}
    page.locator('[data-cy="Length"]').first.click()
    canvas = page.locator(".cornerstone-viewport-element canvas").first
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + box["width"] * start[0], box["y"] + box["height"] * start[1])
    page.mouse.click(box["x"] + box["width"] * end[0], box["y"] + box["height"] * end[1])
    if track:
        yes = page.get_by_role("button", name=re.compile("^Yes", re.I)).first
        yes.wait_for(timeout=15_000)
        yes.click()

    def new_length():
        now = {re.search(r"\d+(\.\d+)? mm", t).group(0) for t in shown.all_text_contents()}
        return sorted(now - before)

    added = wait_until(new_length, 15)
    assert added, "no new length is shown"
    return added[0]


def create_sr(page):
    """The measurements panel (collapsed at first) holds "Create SR", which opens the dialog."""
    panel = page.locator('[data-cy="trackedMeasurements-btn"], [data-cy="measurements-btn"]')
    if not page.get_by_role("button", name=re.compile("Create SR", re.I)).count():
        panel.first.click()
    page.get_by_role("button", name=re.compile("Create SR", re.I)).first.click()


def export_seg(page):
    """The segmentation's menu: Export > DICOM SEG opens the save dialog."""
    page.locator('[data-cy="segmentation-collapsed-more-btn-Labelmap"]').first.click()
    page.get_by_role("menuitem", name="Export").first.hover()
    page.get_by_role("menuitem", name="DICOM SEG", exact=True).first.click()


def seg_masks(seg, series) -> dict[str, np.ndarray]:
    """Segment 1 of a stored SEG (BINARY, or LABELMAP as OHIF writes it) per CT slice (by SOP
    Instance UID), each frame placed by its ImagePositionPatient among the series' slices."""
    frames = seg.pixel_array.reshape(-1, seg.Rows, seg.Columns)
    by_position = {tuple(round(float(v), 2) for v in ds.ImagePositionPatient): ds for ds in series}
    masks = {}
    for frame, group in zip(frames, seg.PerFrameFunctionalGroupsSequence, strict=True):
        if seg.SegmentationType == "LABELMAP":  # what OHIF writes: pixel value = segment
            piece = frame == 1
        elif group.SegmentIdentificationSequence[0].ReferencedSegmentNumber == 1:
            piece = frame > 0
        else:
            continue
        position = group.PlanePositionSequence[0].ImagePositionPatient
        ct = by_position[tuple(round(float(v), 2) for v in position)]
        masks[ct.SOPInstanceUID] = masks.get(ct.SOPInstanceUID, False) | piece
    return masks


def found_by_qido(page, live_server, study, modality) -> str:
    """The one series of ``modality`` a QIDO-RS search of the study finds; its description."""
    found = page.request.get(
        f"{live_server.url}/dicom-web/studies/{study}/series?Modality={modality}"
    )
    assert found.status == 200 and len(found.json()) == 1, found.text()
    return found.json()[0].get("0008103E", {}).get("Value", [modality])[0]


@pytest.mark.parametrize("ohif_build", OHIF_BUILDS, indirect=True)
def test_a_length_saved_as_sr_is_stored_and_reopens(page, live_server, screenshot, ohif_build):
    watch = Watch(page)
    series, study = open_new_ct(page, live_server, "Write^Wanda")

    length = draw_length(page, (0.3, 0.3), (0.6, 0.5), track=True)
    create_sr(page)
    save_in_dialog(page, study, "SR")
    screenshot(page, "saved")

    description = found_by_qido(page, live_server, study, "SR")
    reopen(page, live_server, study, description, prompt_seconds=5)
    # The same length, read back from the stored SR.
    page.get_by_text(length).first.wait_for(timeout=30_000)
    screenshot(page, "reopened")
    watch.assert_clean()


@pytest.mark.parametrize("ohif_build", OHIF_BUILDS, indirect=True)
def test_a_painted_segment_saved_as_seg_is_stored_and_reopens(
    page, live_server, screenshot, ohif_build
):
    watch = Watch(page)
    series, study = open_new_ct(page, live_server, "Paint^Paula", mode="segmentation")
    painted_sop = sop_of(page.evaluate(VIEWPORT_JS, [])["imageId"])

    # A new label map segmentation, OHIF's brush, one stroke across the image's upper left.
    page.locator('[data-cy="addSegmentation"]').first.click()
    page.locator('[data-cy="Brush-btn"]').first.click()
    stroke = paint(page, (0.35, 0.35), (0.45, 0.4))
    screenshot(page, "painted")
    export_seg(page)
    instance = save_in_dialog(page, study, "SEG")
    screenshot(page, "saved")

    # The stored SEG's mask on the painted CT slice covers the stroke and not the far corners;
    # no other slice has one.
    masks = seg_masks(pydicom.dcmread(io.BytesIO(stored_bytes(instance))), series)
    mask = masks.pop(painted_sop, None)
    assert mask is not None and mask.any(), "the SEG has no mask on the painted slice"
    for column, row in stroke:
        assert mask[row, column], (column, row, np.argwhere(mask).mean(axis=0))
    assert not mask[-8:, -8:].any() and not mask[:8, -8:].any()
    assert not any(other.any() for other in masks.values()), "an unpainted slice has a mask"

    description = found_by_qido(page, live_server, study, "SEG")
    reopen(page, live_server, study, description, prompt_seconds=30)
    # OHIF draws the stored segment over the painted slice where the mask is, not elsewhere.
    rows, columns = np.nonzero(mask)
    inside = [(int(c), int(r)) for r, c in zip(rows, columns, strict=True)][
        :: max(1, len(rows) // 5)
    ][:5]
    outside = [(mask.shape[1] - 4, mask.shape[0] - 4), (mask.shape[1] - 4, 3)]
    state = wait_until(
        lambda: (
            (s := segment_drawn(page, inside, outside))
            and sop_of(s["imageId"]) == painted_sop
            and s
        ),
        60,
    )
    screenshot(page, "reopened")
    assert state, page.evaluate(VIEWPORT_JS, inside + outside)
    watch.assert_clean()


@pytest.mark.parametrize("ohif_build", [NEXT], indirect=True)
def test_an_sr_saved_again_is_a_new_version_in_its_series(
    page, live_server, screenshot, ohif_build
):
    """OHIF 3.14 saves an edited SR "to current": a new instance in the SR's own series, with
    the next InstanceNumber and the first as its predecessor. Instance searches carry what
    OHIF orders the versions by, the series' next metadata has both, and the study reopens on
    the newer one."""
    watch = Watch(page)
    series, study = open_new_ct(page, live_server, "Again^Agnes")
    first_length = draw_length(page, (0.3, 0.3), (0.6, 0.5), track=True)
    create_sr(page)
    first = save_in_dialog(page, study, "SR")
    description = found_by_qido(page, live_server, study, "SR")
    metadata_url = (
        f"{live_server.url}/dicom-web/studies/{study}/series/"
        f"{first.series.series_instance_uid}/metadata"
    )
    assert len(page.request.get(metadata_url).json()) == 1

    # Reopened, the SR's measurements taken up again, a second length, saved again: the dialog
    # offers the SR's own series.
    reopen(page, live_server, study, description, prompt_seconds=5)
    page.get_by_text(first_length).first.wait_for(timeout=30_000)
    screenshot(page, "reopened")
    second_length = draw_length(page, (0.3, 0.7), (0.5, 0.8), track=False)
    create_sr(page)
    page.wait_for_timeout(1000)
    screenshot(page, "dialog")
    second = save_in_dialog(page, study, "SR", count=2)
    screenshot(page, "saved-again")
    assert second.series_id == first.series_id, "saved into a new series"
    stored = pydicom.dcmread(io.BytesIO(stored_bytes(second)))
    assert stored.InstanceNumber == first.instance_number + 1
    predecessor = stored.PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0]
    assert predecessor.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == first.sop_instance_uid

    # What OHIF orders the versions by, from a plain instance search of the series.
    url = metadata_url.removesuffix("/metadata") + "/instances"
    found = page.request.get(url).json()
    assert [i["00200013"]["Value"] for i in found] == [[1], [2]]
    for result, instance in zip(found, (first, second), strict=True):
        ds = pydicom.dcmread(io.BytesIO(stored_bytes(instance)))
        for tag, keyword in (
            ("00080012", "InstanceCreationDate"),
            ("00080013", "InstanceCreationTime"),
            ("00080023", "ContentDate"),
            ("00080033", "ContentTime"),
        ):
            assert result[tag].get("Value", [""]) == [ds.get(keyword) or ""], keyword
    # The series' metadata, cached after the first save, has the new version too.
    assert len(page.request.get(metadata_url).json()) == 2

    # Reopened, the series shows the newer version: both lengths.
    reopen(page, live_server, study, description, prompt_seconds=5)
    for length in (first_length, second_length):
        page.get_by_text(length).first.wait_for(timeout=30_000)
    screenshot(page, "reopened-again")
    watch.assert_clean()
