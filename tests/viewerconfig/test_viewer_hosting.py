"""Serving the pinned OHIF build under /ohif/: prefix rewriting, client-route fallback, 404 for
missing files, MIME types, caching, compression, cross-origin isolation, and access."""

import gzip
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import set_script_prefix

from viewerconfig.models import ViewerSettings

pytestmark = pytest.mark.django_db

BUILD = Path(settings.OHIF_BUILD_DIR)


def app_bundle() -> str:
    return next(BUILD.glob("app.bundle.*.js")).name


def body(response) -> bytes:
    data = b"".join(response.streaming_content) if response.streaming else response.content
    if response.get("Content-Encoding") == "gzip":
        return gzip.decompress(data)
    return data


def test_index_is_rewritten_for_the_prefix(admin_client):
    response = admin_client.get("/ohif/viewer")
    html = body(response).decode()
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    assert f'src="/ohif/{app_bundle()}"' in html
    assert 'src="/ohif/app-config.js"' in html
    assert f'href="/ohif/app.bundle.css?v={app_bundle().split(".")[2]}"' in html
    assert 'window.PUBLIC_URL="/ohif/"' in html
    assert 'window.PUBLIC_URL="/"' not in html
    assert "init-service-worker" not in html
    assert not re.search(r'(href|src)="/(?!ohif/)', html)
    # The manifest is fetched with the session cookie (no 401 in the console), and the way
    # back from the viewer leads to the worklist.
    assert '<link rel="manifest" crossorigin="use-credentials" href="/ohif/manifest.json">' in html
    assert '})("/", "/ohif/");' in html


def test_ohif_own_list_is_offered_only_when_the_admin_switches_it_on(admin_client):
    assert admin_client.get("/ohif/")["Location"] == "/"
    ViewerSettings.objects.update_or_create(pk=1, defaults={"show_study_list": True})
    response = admin_client.get("/ohif/")
    assert response.status_code == 200
    assert b'window.PUBLIC_URL="/ohif/"' in body(response)


@pytest.mark.parametrize(
    "route",
    ["/ohif/viewer", "/ohif/viewer/dicomjson", "/ohif/tmtv", "/ohif/segmentation", "/ohif/local"],
)
def test_client_routes_get_index(admin_client, route):
    response = admin_client.get(route, {"StudyInstanceUIDs": "1.2.3"})
    assert response.status_code == 200
    assert b'window.PUBLIC_URL="/ohif/"' in body(response)


@pytest.mark.parametrize(
    "path",
    [
        "/ohif/nope.bundle.js",
        "/ohif/assets/missing.png",
        "/ohif/..%2fmanage.py",
        "/ohif/.x.js",
        # a relative DICOMweb URL resolved against the viewer's page (OHIF's DICOM JSON source
        # without wadoRoot asked this for a PDF): not a route of OHIF's, so not its index.html
        "/ohif/viewer/undefined/studies/1.2.3/series/1.2.4/instances/1.2.5/rendered",
        "/ohif/series/1.2.4/instances/1.2.5/thumbnail",
    ],
)
def test_missing_files_are_404_not_index(admin_client, path):
    response = admin_client.get(path)
    assert response.status_code == 404
    assert b"PUBLIC_URL" not in response.content


def test_hashed_bundle_is_gzipped_immutable_javascript_with_the_prefix(admin_client):
    response = admin_client.get(f"/ohif/{app_bundle()}", HTTP_ACCEPT_ENCODING="gzip, br")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["Content-Encoding"] == "gzip"
    assert "immutable" in response["Cache-Control"]
    assert "max-age=31536000" in response["Cache-Control"]
    assert "Accept-Encoding" in response["Vary"]
    code = body(response)
    assert b'__webpack_require__.p = "/ohif/"' in code
    assert b'__webpack_require__.p = "/"' not in code


def test_uncompressed_when_the_client_does_not_ask(admin_client):
    name = next(BUILD.glob("*.wasm")).name
    response = admin_client.get(f"/ohif/{name}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/wasm"
    assert "Content-Encoding" not in response
    assert body(response) == (BUILD / name).read_bytes()


def test_precompressed_wasm_is_the_same_bytes(admin_client):
    name = max(BUILD.glob("*.wasm"), key=lambda p: p.stat().st_size).name
    response = admin_client.get(f"/ohif/{name}", HTTP_ACCEPT_ENCODING="gzip")
    assert response["Content-Encoding"] == "gzip"
    assert int(response["Content-Length"]) < (BUILD / name).stat().st_size
    assert body(response) == (BUILD / name).read_bytes()


def test_worker_bundles_and_css_follow_the_prefix(admin_client):
    worker = next(BUILD.glob("histogram-worker.bundle.*.js")).name
    code = body(admin_client.get(f"/ohif/{worker}"))
    assert b'__webpack_require__.p = "/ohif/"' in code
    css = body(admin_client.get("/ohif/app.bundle.css")).decode()
    assert "url(/ohif/" in css and "url(/" not in css.replace("url(/ohif/", "")
    manifest = body(admin_client.get("/ohif/manifest.json")).decode()
    assert '"/ohif/assets/' in manifest and '"/assets/' not in manifest


def test_unhashed_files_revalidate(admin_client):
    response = admin_client.get("/ohif/assets/favicon.ico")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-cache"
    again = admin_client.get(
        "/ohif/assets/favicon.ico", HTTP_IF_MODIFIED_SINCE=response["Last-Modified"]
    )
    assert again.status_code == 304


def test_chunk_css_is_linked_with_the_build_id_and_kept(admin_client):
    """Webpack runs a lazily loaded chunk once its CSS has loaded too; CSS named by chunk id
    (2623.css) was revalidated on every viewer load, a round trip before each such chunk. Its
    URLs now carry the app bundle's hash, and with that hash it is cached like the bundles."""
    build = app_bundle().split(".")[2]
    code = body(admin_client.get(f"/ohif/{app_bundle()}")).decode()
    assert f'return "" + chunkId + ".css?v={build}"' in code
    html = body(admin_client.get("/ohif/viewer")).decode()
    assert f'href="/ohif/app.bundle.css?v={build}"' in html
    chunk_css = next(p.name for p in BUILD.glob("*.css") if p.name[0].isdigit())
    kept = admin_client.get(f"/ohif/{chunk_css}?v={build}")
    assert kept.status_code == 200
    assert kept["Cache-Control"] == "private, max-age=31536000, immutable"
    assert body(kept) == (BUILD / chunk_css).read_bytes()
    # Without the id, or with another build's, revalidated as before.
    for url in (f"/ohif/{chunk_css}", f"/ohif/{chunk_css}?v=0123456789abcdef"):
        assert admin_client.get(url)["Cache-Control"] == "no-cache"


@pytest.fixture
def sub_path():
    """The script prefix a WSGI server sets from SCRIPT_NAME (or FORCE_SCRIPT_NAME); Django's
    test client does not set it, so set it the way WSGIHandler does."""
    set_script_prefix("/pacs/")
    yield "/pacs/"
    set_script_prefix("/")


def test_sub_path_behind_a_proxy(admin_client, sub_path):
    html = body(admin_client.get("/ohif/viewer")).decode()
    assert f'src="/pacs/ohif/{app_bundle()}"' in html
    assert 'window.PUBLIC_URL="/pacs/ohif/"' in html
    code = body(admin_client.get(f"/ohif/{app_bundle()}"))
    assert b'__webpack_require__.p = "/pacs/ohif/"' in code
    config = admin_client.get("/ohif/app-config.js").content.decode()
    assert '"routerBasename": "/pacs/ohif"' in config
    assert '"qidoRoot": "http://testserver/pacs/dicom-web"' in config
    assert '"wadoUriRoot": "http://testserver/pacs/wado"' in config


def test_cross_origin_isolation_is_a_setting(admin_client, settings):
    settings.OHIF_CROSS_ORIGIN_ISOLATION = True
    response = admin_client.get("/ohif/viewer")
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Cross-Origin-Embedder-Policy"] == "require-corp"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"
    settings.OHIF_CROSS_ORIGIN_ISOLATION = False
    response = admin_client.get("/ohif/viewer")
    assert "Cross-Origin-Embedder-Policy" not in response
    assert "Cross-Origin-Resource-Policy" not in response


def test_anonymous_browsers_are_sent_to_log_in(client):
    response = client.get("/ohif/viewer?StudyInstanceUIDs=1.2.3", HTTP_ACCEPT="text/html")
    assert response.status_code == 302
    assert "next=/ohif/viewer" in response["Location"]
    assert client.get("/ohif/app-config.js").status_code in (302, 401)
    assert client.get(f"/ohif/{app_bundle()}").status_code in (302, 401)


def test_users_without_a_role_are_refused(client, django_user_model):
    user = django_user_model.objects.create_user("norole", password="x")
    client.force_login(user)
    assert client.get("/ohif/").status_code == 403
    assert client.get("/ohif/app-config.js").status_code == 403


def test_missing_build_says_how_to_install(admin_client, settings, tmp_path):
    settings.OHIF_BUILD_DIR = tmp_path
    response = admin_client.get("/ohif/viewer")
    assert response.status_code == 503
    assert b"scripts/setup.sh" in response.content
