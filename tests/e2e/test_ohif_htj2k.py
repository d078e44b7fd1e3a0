"""OHIF reads this archive's HTJ2K renditions: with RENDITIONS on, the archive's data source asks
for HTJ2K (acceptHeader, stackRetrieveOptions), frames come back as HTJ2K Lossless RPCL from the
renditions, and the canvas shows the right pixels, for a CT series and a large DX; also with
the byte-range delivery, where the stack's frames arrive as 206 answers to ranged requests."""

import numpy as np
import pytest
from dicom_data import ct_blocks_series
from test_ohif_viewer import (
    ingest,
    open_viewer,
    shows_ct,
    skip_tour,
)

from archive import renditions
from archive.models import Instance, Rendition
from viewerconfig import links
from viewerconfig.models import DataSource

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker"),
]

RPCL = "1.2.840.10008.1.2.4.202"


def block_centres(size: int, blocks: int = 8) -> list[tuple[int, int]]:
    tile = size // blocks
    return [
        (tile // 2 + tile * x, tile // 2 + tile * y) for y in range(blocks) for x in range(blocks)
    ]


def with_renditions(datasets):
    ingest(datasets)
    uids = [ds.SOPInstanceUID for ds in datasets]
    counts = renditions.build_many(
        Instance.objects.filter(sop_instance_uid__in=uids), threshold=False
    )
    assert counts.get("built", 0) + counts.get("kept", 0) == len(datasets), counts
    assert Rendition.objects.filter(instance__sop_instance_uid__in=uids).count() == len(uids)


def frames_traffic(page):
    """The responses to frame requests from now on (their headers and bodies read later)."""
    seen = []
    page.on(
        "response", lambda response: seen.append(response) if "/frames/" in response.url else None
    )
    return seen


def part_header(response) -> bytes:
    """The start of a multipart frame answer: its first part's headers name the syntax."""
    return response.body()[:300]


@pytest.mark.parametrize("delivery", ["auto", "ranges"])
def test_ct_and_large_dx_through_htj2k(page, live_server, screenshot, settings, delivery):
    settings.RENDITIONS = True
    DataSource.objects.filter(is_default=True).update(htj2k_delivery=delivery)
    ct = ct_blocks_series(6, size=256, patient_name="Wavelet^Wanda")
    dx = ct_blocks_series(1, size=2048, modality="DX", patient_name="Large^Lars")
    noise = np.random.default_rng(3).integers(-3, 4, (2048, 2048))  # so it does not compress away
    dx[0].PixelData = (dx[0].pixel_array + noise).astype(np.uint16).tobytes()
    with_renditions(ct + dx)

    for datasets, size, name in ((ct, 256, "ct"), (dx, 2048, "dx")):
        traffic = frames_traffic(page)
        open_viewer(page, live_server, links.viewer_url(datasets[0].StudyInstanceUID))
        state = shows_ct(page, datasets, 90.0, block_centres(size))
        skip_tour(page)
        screenshot(page, f"htj2k-{delivery}-{name}")
        assert state["dims"][:2] == [size, size]
        assert traffic, "no frame was requested"
        for response in traffic:
            accept_sent = response.request.headers.get("accept", "")
            # Ranged requests name it in ?accept= (OHIF sends them without its headers).
            assert RPCL in accept_sent or RPCL in response.url, (response.url, accept_sent)
            range_sent = response.request.headers.get("range", "")
            if not range_sent or range_sent.startswith("bytes=0-"):
                assert f"transfer-syntax={RPCL}".encode() in part_header(response), response.url
        if delivery == "ranges" and name == "ct":
            # The stack's images come in ranges (a single image may come whole first, loaded
            # for its thumbnail, which OHIF fetches without the stack's retrieve options).
            ranged = [(r.request.headers.get("range", ""), r.status) for r in traffic]
            assert any(h.startswith("bytes=0-") and s == 206 for h, s in ranged), ranged
