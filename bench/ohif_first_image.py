"""OHIF benchmark: time from navigation to the first rendered image of a 300-slice 512x512 CT,
in headless Chromium, the same pinned OHIF build reading the same series from this archive and
from Orthanc + its DICOMweb plugin.

    .venv/bin/python bench/ohif_first_image.py
    .venv/bin/python bench/ohif_first_image.py --runs 5 --database-url postgres://... \
        --broker-url redis://127.0.0.1:6379/0

Ours: gunicorn (2 workers x 4 threads, as ./run.sh) serving /ohif/ and DICOMweb, logged in with
a session cookie, once with OHIF_CROSS_ORIGIN_ISOLATION on (the default) and once off.
Orthanc has no CORS and cannot serve a single-page app, so the same OHIF build is served by a
small same-origin proxy in this process, which forwards /dicom-web and /wado to Orthanc; ours is
also timed through that proxy, so its cost can be subtracted. The data source configuration is
the same for both (this archive's default: wadors frames, lazy series metadata, transfer-syntax=*).

"First image" = the first viewport has an image and its canvas centre is not all black, polled
every 50 ms. Cold: a new browser profile on disk (OHIF's bundles downloaded); warm: the same
page again with that profile's HTTP cache filled (bundles kept, frames and metadata revalidated
where the server gives validators). Median of --runs. Not part of the test suite.
"""

import argparse
import http.client
import http.server
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))

import corpus  # noqa: E402
from chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from ingest import machine  # noqa: E402
from orthanc import Orthanc, free_port  # noqa: E402
from ours import Archive  # noqa: E402

FIRST_IMAGE_JS = """() => {
  const cs = window.cornerstone;
  const engine = cs && cs.getRenderingEngines && cs.getRenderingEngines()[0];
  const viewport = engine && engine.getViewports()[0];
  if (!viewport || !viewport.getCurrentImageId || !viewport.getCurrentImageId()) return false;
  const canvas = viewport.getCanvas();
  const context = canvas.getContext('2d');
  const size = 32;  // a patch at the centre: one pixel of a noisy image may be black
  const [x, y] = [(canvas.width - size) >> 1, (canvas.height - size) >> 1];
  const patch = context.getImageData(x, y, size, size);
  const lit = patch.data.some((value, index) => index % 4 !== 3 && value > 0);
  return lit ? {crossOriginIsolated: window.crossOriginIsolated} : false;
}"""


def browser_profile(playwright, cookies: list[dict]):
    """(folder, context, page) of a new Chromium profile on disk; remove the folder after."""
    profile = tempfile.mkdtemp(prefix="bench-chromium-")
    context = playwright.chromium.launch_persistent_context(
        profile,
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        viewport={"width": 1280, "height": 800},
    )
    context.add_cookies(cookies)
    return profile, context, context.new_page()


def time_first_image(playwright, url: str, cookies: list[dict], runs: int) -> dict:
    """Each run in a new browser profile on disk, as a workstation's browser has one: an
    incognito context keeps its cache in memory and drops OHIF's bundles and the frames, so
    its second visit was not warm."""
    cold, warm, isolated = [], [], None
    for _ in range(runs):
        profile, context, page = browser_profile(playwright, cookies)
        for timings in (cold, warm):
            started = time.monotonic()
            page.goto(url, wait_until="commit")
            try:
                result = page.wait_for_function(FIRST_IMAGE_JS, polling=50, timeout=120_000)
            except Exception as error:
                page.screenshot(path="/tmp/ohif_first_image-failed.png")
                message = f"no image at {page.url}; see /tmp/ohif_first_image-failed.png"
                raise RuntimeError(message) from error
            timings.append(time.monotonic() - started)
            isolated = result.json_value()["crossOriginIsolated"]
        context.close()
        shutil.rmtree(profile, ignore_errors=True)
    return {
        "cold_s": statistics.median(cold),
        "warm_s": statistics.median(warm),
        "crossOriginIsolated": isolated,
    }


class OhifProxy:
    """Serves the pinned OHIF build under /ohif/ with an app-config.js for ``backend`` (same
    configuration as this archive's default data source) and forwards everything else to
    ``backend``, so OHIF and DICOMweb share one origin."""

    def __init__(self, backend: str, serve_ohif: bool):
        self.backend = urllib.parse.urlsplit(backend)
        self.serve_ohif = serve_ohif
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.server.daemon_threads = True

    def app_config(self) -> bytes:
        from viewerconfig.appconfig import SiteUrls, build_app_config, to_js
        from viewerconfig.models import DataSource, ViewerSettings

        source = DataSource.objects.get(is_default=True)
        urls = SiteUrls(
            viewer="/ohif", dicomweb=self.url + "/dicom-web", wado_uri=self.url + "/wado"
        )
        return to_js(build_app_config(ViewerSettings.load(), [source], urls=urls)).encode()

    def _handler(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 (http.server's name)
                if proxy.serve_ohif and self.path.startswith("/ohif/"):
                    try:
                        return self.ohif()
                    except ConnectionError:  # the page went away mid-answer
                        self.close_connection = True
                        return None
                return self.forward()

            def ohif(self):
                from django.conf import settings

                from viewerconfig import assets

                build = Path(settings.OHIF_BUILD_DIR)
                relative = urllib.parse.urlsplit(self.path).path[len("/ohif/") :]
                if relative == "app-config.js":
                    body, ctype = proxy.app_config(), "text/javascript"
                else:
                    file = assets.resolve(build, relative) or build / "index.html"
                    ctype = assets.content_type(file.name)
                    if assets.needs_rewrite(file):
                        body = assets.rewritten(file, "/ohif/").data
                    else:
                        body = file.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "max-age=3600")
                self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
                self.end_headers()
                self.wfile.write(body)

            def forward(self):
                try:
                    self._forward()
                except (ConnectionError, http.client.HTTPException):
                    # The page was closed while OHIF was still prefetching: nothing to answer.
                    self.close_connection = True

            def _forward(self):
                upstream = http.client.HTTPConnection(proxy.backend.hostname, proxy.backend.port)
                # Host passes through: ours builds its DICOMweb roots from it (same origin).
                upstream.request("GET", self.path, headers=dict(self.headers.items()))
                answer = upstream.getresponse()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "keep-alive"):
                        self.send_header(name, value)
                body = answer.read()
                if answer.getheader("Content-Length") is None:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                upstream.close()

        return Handler

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="slices (default 300)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default="", help="PostgreSQL server (default SQLite)")
    parser.add_argument("--broker-url", default="", help="e.g. redis://127.0.0.1:6379/0")
    parser.add_argument("--skip-orthanc", action="store_true")
    args = parser.parse_args()

    import pydicom
    from playwright.sync_api import sync_playwright

    files = corpus.files(corpus.ct(count=args.count, size=args.size, per_series=args.count))
    study = pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID
    viewer_path = f"/ohif/viewer?StudyInstanceUIDs={study}"
    print(f"machine: {machine()}")
    print(f"corpus: {len(files)} CT slices {args.size}x{args.size}, one series; {args.runs} runs")
    results = {}
    with Archive(args.database_url, args.broker_url) as archive:
        archive.setup_django()
        archive.migrate()
        _, status, _, out = archive.manage("import_dicom", str(files[0].parent), "--no-progress")
        if status != 0:
            sys.exit(f"import_dicom failed:\n{out}")
        archive.start_worker()
        archive.wait_for_caches(300)
        session_key = archive.reader_session("bench-viewer")
        isolated_url = archive.start_web()
        archive.env["OHIF_CROSS_ORIGIN_ISOLATION"] = "false"
        archive.processes["web-isolated"] = archive.processes.pop("web")
        plain_url = archive.start_web()
        with sync_playwright() as playwright:
            for label, url in (("ours", isolated_url), ("ours, no COOP/COEP", plain_url)):
                cookie = {"name": "sessionid", "value": session_key, "url": url}
                results[label] = time_first_image(
                    playwright, url + viewer_path, [cookie], args.runs
                )
                print(f"{label:28} {json.dumps(results[label])}")
            with OhifProxy(isolated_url, serve_ohif=False) as proxy:
                cookie = {"name": "sessionid", "value": session_key, "url": proxy.url}
                label = "ours through the proxy"
                results[label] = time_first_image(
                    playwright, proxy.url + viewer_path, [cookie], args.runs
                )
                print(f"{label:28} {json.dumps(results[label])}")
            if not args.skip_orthanc:
                with Orthanc() as orthanc:
                    orthanc.upload(files)
                    with OhifProxy(orthanc.url, serve_ohif=True) as proxy:
                        label = f"orthanc ({orthanc.version()})"
                        results[label] = time_first_image(
                            playwright, proxy.url + viewer_path, [], args.runs
                        )
                        print(f"{label:28} {json.dumps(results[label])}")


if __name__ == "__main__":
    main()
