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
from ohif_builds import OHIF_BUILDS
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


def save_in_dialog(page, study, modality) -> Instance:
    """Confirm OHIF's save dialog (the name as offered, the archive as the data source) and
    wait for the stored instance of ``modality`` in the study."""
    name = page.locator('[data-cy="input-dialog-save-button"], [data-cy*="save"]').first
    name.wait_for(timeout=15_000)
    name.click()
    stored = Instance.objects.filter(
        series__study__study_instance_uid=study, series__modality=modality
    )
    assert wait_until(lambda: page.wait_for_timeout(250) or stored.exists(), 30), (
        f"no {modality} was stored"
    )
    return stored.get()


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
    save_in_dialog(page, study, "SR")
    screenshot(page, "saved")

    description = found_by_qido(page, live_server, study, "SR")
    page.goto("about:blank")
    open_study(page, live_server, study, "dicomweb")
    open_series(page, description, prompt_seconds=5)
    # The same length, read back from the stored SR.
    page.get_by_text(length).first.wait_for(timeout=30_000)
    screenshot(page, "reopened")
    watch.assert_clean()


@pytest.mark.parametrize("ohif_build", OHIF_BUILDS, indirect=True)
def test_a_painted_segment_saved_as_seg_is_stored_and_reopens(
    page, live_server, screenshot, ohif_build
):
    watch = Watch(page)
    series = ct_blocks_series(3, patient_name="Paint^Paula")
    store(*series)
    study = series[0].StudyInstanceUID
    open_study(page, live_server, study, "dicomweb", mode="segmentation")
    assert wait_until(lambda: page.evaluate(VIEWPORT_JS, []), 60)
    painted_sop = sop_of(page.evaluate(VIEWPORT_JS, [])["imageId"])

    # A new label map segmentation, OHIF's brush, one stroke across the image's upper left.
    page.locator('[data-cy="addSegmentation"]').first.click()
    page.locator('[data-cy="Brush-btn"]').first.click()
    canvas = page.locator(".cornerstone-viewport-element canvas").first
    box = canvas.bounding_box()
    start = (box["width"] * 0.35, box["height"] * 0.35)
    end = (box["width"] * 0.45, box["height"] * 0.4)
    page.mouse.move(box["x"] + start[0], box["y"] + start[1])
    page.mouse.down()
    for step in range(1, 11):
        t = step / 10
        page.mouse.move(
            box["x"] + start[0] + (end[0] - start[0]) * t,
            box["y"] + start[1] + (end[1] - start[1]) * t,
        )
    page.mouse.up()
    stroke = [
        [round(v) for v in point[:2]] for point in page.evaluate(CANVAS_TO_INDEX, [start, end])
    ]
    screenshot(page, "painted")

    # The segmentation's menu: Export > DICOM SEG opens the save dialog.
    page.locator('[data-cy="segmentation-collapsed-more-btn-Labelmap"]').first.click()
    page.get_by_role("menuitem", name="Export").first.hover()
    page.get_by_role("menuitem", name="DICOM SEG", exact=True).first.click()
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
    page.goto("about:blank")
    open_study(page, live_server, study, "dicomweb")
    assert wait_until(lambda: page.evaluate(VIEWPORT_JS, []), 60)
    open_series(page, description, prompt_seconds=30)
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
