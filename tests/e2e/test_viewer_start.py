"""What the viewer waits for before its first image, in a real browser: the HTJ2K decoder's
WebAssembly is asked for as the page starts (not once the first frame has come), and a second
visit takes OHIF's chunk CSS from the cache instead of revalidating each file, which cost a
round trip before every lazily loaded chunk."""

import re
from pathlib import Path

import pytest
from dicom_data import ct_blocks_series
from django.conf import settings
from test_ohif_htj2k import with_renditions
from test_ohif_viewer import ingest, open_viewer, shows_ct

from viewerconfig import assets, links
from viewerconfig.models import DataSource

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker"),
]


def test_htj2k_decoder_is_asked_for_before_the_first_frame(page, live_server, settings):
    settings.RENDITIONS = True
    DataSource.objects.filter(is_default=True).update(htj2k_delivery="streaming")
    series = ct_blocks_series(4, size=256, patient_name="Early^Ezra")
    with_renditions(series)
    decoder = assets.htj2k_decoder(Path(settings.OHIF_BUILD_DIR))

    requests = open_viewer(page, live_server, links.viewer_url(series[0].StudyInstanceUID))
    shows_ct(page, series, 90.0)
    first_frame = next(i for i, url in enumerate(requests) if "/frames/" in url)
    wasm = [i for i, url in enumerate(requests) if url.endswith(f"/ohif/{decoder}")]
    assert wasm and wasm[0] < first_frame, requests[: first_frame + 1]


def test_a_second_visit_keeps_the_chunk_css(page, live_server):
    DataSource.objects.filter(is_default=True).update(htj2k_delivery="off")
    series = ct_blocks_series(2, patient_name="Twice^Tess")
    ingest(series)
    url = links.viewer_url(series[0].StudyInstanceUID)
    open_viewer(page, live_server, url)
    shows_ct(page, series)

    css = []
    page.on("response", lambda r: css.append((r.url, r.status)) if ".css" in r.url else None)
    open_viewer(page, live_server, url)
    shows_ct(page, series)
    build = assets.build_id(Path(settings.OHIF_BUILD_DIR))
    chunk_css = [(u, s) for u, s in css if re.search(r"/ohif/\d+\.css\?v=", u)]
    assert chunk_css, css
    assert all(u.endswith(f"?v={build}") for u, _ in chunk_css), css
    # From the cache: no 304 (a revalidation) for the build's CSS.
    assert not [(u, s) for u, s in css if s == 304], css
