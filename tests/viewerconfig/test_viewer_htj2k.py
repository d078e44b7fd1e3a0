"""The data sources' HTJ2K option: OHIF 3.13's acceptHeader and stackRetrieveOptions, on by
default for this archive when it makes renditions, and the option's parameters are what this
archive's negotiation reads."""

import gzip
import urllib.parse
from pathlib import Path

import pytest

from archive.dicomweb import accept
from viewerconfig import assets
from viewerconfig.appconfig import ANY_FRAMES, HTJ2K_FRAMES, SiteUrls, build_app_config
from viewerconfig.models import DataSource, ViewerSettings

URLS = SiteUrls(viewer="/ohif", dicomweb="https://pacs.test/dicom-web", wado_uri="https://x/wado")
STAR = "multipart/related; type=application/octet-stream; transfer-syntax=*"


def configuration(source: DataSource) -> dict:
    (entry,) = build_app_config(ViewerSettings(), [source], urls=URLS)["dataSources"]
    return entry["configuration"]


def archive(**kw) -> DataSource:
    fields = {"name": "dicomweb", "friendly_name": "Here", "is_archive": True, "is_default": True}
    return DataSource(**{**fields, "accept_header": STAR, **kw})


def test_auto_follows_renditions_for_this_archive_only(settings):
    settings.RENDITIONS = False
    off = configuration(archive())
    assert off["acceptHeader"] == [STAR]
    assert "stackRetrieveOptions" not in off

    settings.RENDITIONS = True
    on = configuration(archive())
    assert on["acceptHeader"] == [HTJ2K_FRAMES, STAR]
    # Decoded as it grows, but not a CT slice's 180 KB twice (Cornerstone's step: 128 KB).
    assert on["stackRetrieveOptions"] == {
        "retrieveOptions": {"single": {"streaming": True, "decodeLevel": 1, "minChunkSize": 262144}}
    }
    remote = DataSource(name="r", friendly_name="R", qido_root="https://r.test/dicom-web")
    assert "stackRetrieveOptions" not in configuration(remote)
    assert "stackRetrieveOptions" not in configuration(archive(htj2k_delivery="off"))


def test_byte_ranges_name_htj2k_in_the_url(settings):
    settings.RENDITIONS = False
    remote = DataSource(
        name="r", friendly_name="R", qido_root="https://r.test/dicom-web", htj2k_delivery="ranges"
    )
    c = configuration(remote)
    assert c["acceptHeader"] == [HTJ2K_FRAMES, ANY_FRAMES]
    spec = c["stackRetrieveOptions"]["$set"]
    assert [stage["retrieveType"] for stage in spec["stages"]] == ["singleFast", "singleFinal"]
    fast, final = spec["retrieveOptions"]["singleFast"], spec["retrieveOptions"]["singleFinal"]
    assert (fast["rangeIndex"], fast["chunkSize"], final["rangeIndex"]) == (0, 65536, -1)
    # What the range requests carry in ?accept= is HTJ2K first for this archive's negotiation.
    ((name, value),) = urllib.parse.parse_qsl(fast["urlArguments"])
    assert name == "accept"
    ranges = accept.parse(value)
    assert ranges[0].transfer_syntax == "1.2.840.10008.1.2.4.202"
    assert ranges[1].transfer_syntax == "*"


@pytest.mark.django_db
def test_the_viewer_page_fetches_the_htj2k_decoder_from_its_start(admin_client, settings):
    """The decode worker asks for OpenJPH's WebAssembly only once the first HTJ2K frame has
    come; the page asks for it as it starts, so the worker finds it in the HTTP cache."""
    decoder = assets.htj2k_decoder(Path(settings.OHIF_BUILD_DIR))
    assert decoder and decoder.endswith(".wasm")
    bundle = next(
        b for b in Path(settings.OHIF_BUILD_DIR).glob("*.bundle.*.js") if decoder in b.read_text()
    )
    assert "openjph" in bundle.read_text()
    link = f'<link rel="preload" href="/ohif/{decoder}" as="fetch" crossorigin>'

    DataSource.objects.filter(is_default=True).update(htj2k_delivery="streaming")
    assert link in page(admin_client)
    DataSource.objects.filter(is_default=True).update(htj2k_delivery="off")
    assert decoder not in page(admin_client)
    settings.RENDITIONS = True
    DataSource.objects.filter(is_default=True).update(htj2k_delivery="auto")
    assert link in page(admin_client)


def page(client) -> str:
    response = client.get("/ohif/viewer")
    assert response.status_code == 200
    data = response.content
    return (gzip.decompress(data) if response.get("Content-Encoding") == "gzip" else data).decode()
