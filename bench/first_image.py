"""First image and whole series in OHIF over a throttled network: Orthanc, this archive with the
stored syntax, and this archive with HTJ2K progressive delivery (streamed, and byte ranges).

    .venv/bin/python bench/first_image.py                       # 300 x 512² CT, 3000² DX
    .venv/bin/python bench/first_image.py --count 20 --size 256 --dx-size 1024 --runs 1

For each network profile (``--network MBIT:MS``, repeatable; default 20 Mbit/s with 40 ms of
latency, and unthrottled), Chromium's DevTools protocol throttles the page
(``Network.emulateNetworkConditions``) and the bench times, from navigation: the first lit image
of the CT (as ``ohif_first_image.py``), every slice of the CT in Cornerstone's cache at full
resolution, and the first lit image of a single large DX; and counts the bytes of DICOMweb
answers the page received. Then: how fast the workers' code encodes the renditions
(``build_renditions``, instances/s) and how much storage they add.

Images are synthetic but compress like images (smooth anatomy plus noise), not like the noise
of ``corpus.ct``. Each run uses a fresh browser profile whose cache first gets OHIF's bundles
(the study list, unthrottled), so the timings are the images', not the viewer's download.
Orthanc (Debian's 1.10 + DICOMweb plugin) is reached through ``ohif_first_image.OhifProxy``, as
is ours for the comparison, so both pay the same hop. On the shared development machine the
figures are indicative only.
"""

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))

import corpus  # noqa: E402
import dicom_data  # noqa: E402
import first_image_trace  # noqa: E402
from ingest import machine  # noqa: E402
from ohif_first_image import FIRST_IMAGE_JS, OhifProxy, browser_profile  # noqa: E402
from orthanc import Orthanc  # noqa: E402
from ours import Archive  # noqa: E402

# Every image of the first viewport's stack in Cornerstone's cache at full resolution
# (ImageQualityStatus.FULL_RESOLUTION = 8); [loaded, total].
ALL_LOADED_JS = """() => {
  const cs = window.cornerstone;
  const engine = cs && cs.getRenderingEngines && cs.getRenderingEngines()[0];
  const viewport = engine && engine.getViewports()[0];
  const ids = viewport && viewport.getImageIds ? viewport.getImageIds() : [];
  const full = ids.filter((id) => {
    if (!cs.cache.isLoaded(id)) return false;
    const image = cs.cache.getImage(id);
    return image && (image.imageQualityStatus === undefined || image.imageQualityStatus >= 8);
  });
  return [full.length, ids.length];
}"""


def anatomy(rows: int, columns: int, seed: int, low: float, high: float, noise: float):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns]
    r = np.hypot((y - rows / 2) / (rows / 2.3), (x - columns / 2) / (columns / 2.6))
    shape = np.where(r < 1, high - (high - low) * r**2, low)
    shape = shape + 0.1 * (high - low) * np.sin(x / 17.0 + seed) * np.cos(y / 23.0)
    return np.clip(shape + rng.normal(0, noise, (rows, columns)), 0, 4095).astype(np.uint16)


def write_corpus(count: int, size: int, dx_size: int) -> tuple[Path, str, str]:
    """A CT series and a DX study (12-bit in 16), written once per parameters."""
    name = f"first-image-{count}x{size}-dx{dx_size}"

    def write(folder: Path) -> None:
        series = {"study_uid": dicom_data.uid(), "series_uid": dicom_data.uid()}
        for i in range(count):
            ds = dicom_data.ct_slice(i, rows=size, columns=size, **series)
            ds.PixelData = anatomy(size, size, i, 24, 2200, 12).tobytes()
            (folder / f"ct{i:04d}.dcm").write_bytes(dicom_data.to_bytes(ds))
        dx = dicom_data.ct_slice(0, rows=dx_size, columns=dx_size, modality="DX")
        dx.PixelData = anatomy(dx_size, dx_size, 99, 300, 3800, 15).tobytes()
        dx.WindowCenter, dx.WindowWidth = 2000, 4000
        (folder / "dx.dcm").write_bytes(dicom_data.to_bytes(dx))

    folder = corpus._materialize(name, write)
    import pydicom

    ct_study = pydicom.dcmread(folder / "ct0000.dcm", stop_before_pixels=True).StudyInstanceUID
    dx_study = pydicom.dcmread(folder / "dx.dcm", stop_before_pixels=True).StudyInstanceUID
    return folder, ct_study, dx_study


def settle(page, quiet: float = 2.0, most: float = 30.0) -> None:
    """Wait until the page has asked for nothing new for ``quiet`` seconds. Playwright's
    "networkidle" (500 ms without traffic) came before OHIF's study list had loaded its last
    lazy chunks (89, 6495, 8478: 1.1 MB gzipped), so some runs' timed page downloaded them
    at 20 Mbit/s and others did not, on both servers."""
    asked = []

    def note(request):
        asked.append(request.url)

    page.on("request", note)
    deadline = time.monotonic() + most
    seen = -1
    while len(asked) != seen and time.monotonic() < deadline:
        seen = len(asked)
        page.wait_for_timeout(quiet * 1000)
    page.remove_listener("request", note)


def throttled_page(playwright, base: str, network, cookies: list[dict], trace: bool = False):
    profile, context, page = browser_profile(playwright, cookies)
    if trace:
        context.add_init_script(first_image_trace.INIT_JS)
    # OHIF's bundles into the profile's cache first, unthrottled: the same for every server,
    # and what a workstation that opened the viewer before has.
    page.goto(f"{base}/ohif/", wait_until="networkidle", timeout=120_000)
    settle(page)
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    if network:
        mbit, latency = network
        rate = mbit * 1_000_000 / 8
        cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": latency,
                "downloadThroughput": rate,
                "uploadThroughput": rate,
            },
        )
    received = {"bytes": 0, "urls": {}}

    def sent(event):
        received["urls"][event["requestId"]] = event["request"]["url"]

    def finished(event):
        url = received["urls"].get(event["requestId"], "")
        if "/dicom-web/" in url or "/wado" in url:
            received["bytes"] += event["encodedDataLength"]

    cdp.on("Network.requestWillBeSent", sent)
    cdp.on("Network.loadingFinished", finished)
    if trace:
        received["log"] = first_image_trace.NetworkLog(cdp)
    return context, page, received, profile


def one_run(
    playwright, base, ct_study, dx_study, network, cookies, count: int, wait: float, trace: str = ""
):
    """One fresh profile: the CT (first image, then every slice at full resolution, waiting
    at most ``wait`` seconds for those: a run that never gets there reports NaN and how
    many slices it had), then the DX. ``trace``: a file name (no suffix) under which
    ``first_image_trace`` writes the CT's requests and OHIF's timeline."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    context, page, received, profile = throttled_page(
        playwright, base, network, cookies, trace=bool(trace)
    )
    try:
        started = time.monotonic()
        page.goto(f"{base}/ohif/viewer?StudyInstanceUIDs={ct_study}", wait_until="commit")
        page.wait_for_function(FIRST_IMAGE_JS, polling=50, timeout=600_000)
        first = time.monotonic() - started
        try:
            page.wait_for_function(
                f"() => {{ const [n, t] = ({ALL_LOADED_JS})(); return t >= {count} && n >= t; }}",
                polling=100,
                timeout=wait * 1000,
            )
            whole = time.monotonic() - started
        except PlaywrightTimeout:
            loaded, total = page.evaluate(ALL_LOADED_JS)
            print(f"  not every slice after {wait:.0f} s: {loaded} of {total}", flush=True)
            whole = float("nan")
        if trace:
            rows = received["log"].since("/ohif/viewer")
            timeline = first_image_trace.page_timeline(page, rows[0]["origin_wall"])
            first_image_trace.save(Path(trace).parent, Path(trace).name, rows, timeline, first)
        ct_bytes = received["bytes"]
        received["bytes"] = 0
        started = time.monotonic()
        page.goto(f"{base}/ohif/viewer?StudyInstanceUIDs={dx_study}", wait_until="commit")
        page.wait_for_function(FIRST_IMAGE_JS, polling=50, timeout=600_000)
        dx = time.monotonic() - started
        return {"first_s": first, "all_s": whole, "dx_first_s": dx, "ct_bytes": ct_bytes}
    finally:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)


def measure(playwright, label, base, studies, networks, cookies, args, results):
    for network in networks:
        name = f"{network[0]:g} Mbit/s {network[1]:g} ms" if network else "unthrottled"
        rows = []
        for run in range(args.runs):
            trace = ""
            if args.trace:
                slug = "".join(c if c.isalnum() else "-" for c in f"{label} {name} {run}")
                trace = str(Path(args.trace) / slug)
            rows.append(
                one_run(playwright, base, *studies, network, cookies, args.count, args.wait, trace)
            )
        median = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
        results[(label, name)] = median
        print(
            f"{label:34} {name:22} first {median['first_s']:6.2f} s  all {median['all_s']:6.2f} s"
            f"  DX {median['dx_first_s']:6.2f} s  CT bytes {median['ct_bytes'] / 1e6:7.1f} MB",
            flush=True,
        )


def offer_study_list() -> None:
    """OHIF's own study list at /ohif/, as the proxy serves it for Orthanc: the warm-up page
    then fills the profile's cache with OHIF's bundles on both servers. (By default /ohif/
    leads to the archive's worklist, and ours paid OHIF's 5 MB of code, cold, in every timed
    run: 3.6 s of the throttled first image, 1.8 s of the unthrottled one.)"""
    from viewerconfig.models import ViewerSettings

    ViewerSettings.objects.filter(pk=ViewerSettings.load().pk).update(show_study_list=True)


def set_delivery(delivery: str) -> None:
    from viewerconfig.models import DataSource

    DataSource.objects.filter(is_default=True).update(htj2k_delivery=delivery)


def rendition_report(archive: Archive) -> None:
    from django.db.models import Sum

    from archive.models import Instance, Rendition

    seconds, status, _, out = archive.manage("build_renditions", "--no-progress", "--any-size")
    if status != 0:
        sys.exit(f"build_renditions failed:\n{out}")
    count = Rendition.objects.count()
    encode = Rendition.objects.aggregate(Sum("encode_seconds"))["encode_seconds__sum"] or 0
    original = Instance.objects.aggregate(Sum("file_size"))["file_size__sum"] or 0
    copies = Rendition.objects.aggregate(Sum("file_size"))["file_size__sum"] or 0
    print(
        f"renditions: {count} in {seconds:.1f} s by build_renditions ({count / seconds:.1f}"
        f" instances/s; encoding alone {encode:.1f} s, {count / max(encode, 1e-9):.1f}/s); "
        f"storage {original / 1e6:.1f} MB of originals + {copies / 1e6:.1f} MB of renditions"
        f" (+{100 * copies / max(original, 1):.0f}%)",
        flush=True,
    )


def parse_network(text: str) -> tuple[float, float] | None:
    if text == "none":
        return None
    mbit, _, latency = text.partition(":")
    return float(mbit), float(latency or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="CT slices (default 300)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--dx-size", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--network",
        action="append",
        help="MBIT:LATENCY_MS or none (unthrottled); default 20:40 and none",
    )
    parser.add_argument("--database-url", default="", help="PostgreSQL server (default SQLite)")
    parser.add_argument("--broker-url", default="", help="e.g. redis://127.0.0.1:6379/0")
    parser.add_argument("--skip-orthanc", action="store_true")
    parser.add_argument(
        "--deliveries",
        default="off,streaming,ranges",
        help="this archive's HTJ2K deliveries to time (comma-separated; default all three)",
    )
    parser.add_argument(
        "--wait", type=float, default=600, help="seconds to wait for every CT slice (600)"
    )
    parser.add_argument(
        "--trace",
        default="",
        help="folder for each run's request waterfall and OHIF timeline (first_image_trace)",
    )
    args = parser.parse_args()
    networks = [parse_network(n) for n in (args.network or ["20:40", "none"])]

    import os

    from playwright.sync_api import sync_playwright

    # The data-source switch between scenarios runs beside Playwright's event loop, which
    # Django takes for an async context; this process serves no requests.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

    folder, ct_study, dx_study = write_corpus(args.count, args.size, args.dx_size)
    files = corpus.files(folder)
    print(f"machine: {machine()}")
    print(f"corpus: {args.count} CT slices {args.size}², a DX {args.dx_size}²; {args.runs} runs")
    studies = (ct_study, dx_study)
    results: dict = {}
    with Archive(args.database_url, args.broker_url) as archive:
        archive.setup_django()
        archive.migrate()
        _, status, _, out = archive.manage("import_dicom", str(folder), "--no-progress")
        if status != 0:
            sys.exit(f"import_dicom failed:\n{out}")
        archive.start_worker()
        archive.wait_for_caches(600)
        rendition_report(archive)
        offer_study_list()
        session = archive.reader_session("bench-viewer")
        url = archive.start_web()
        with sync_playwright() as playwright, OhifProxy(url, serve_ohif=False) as proxy:
            cookies = [{"name": "sessionid", "value": session, "url": proxy.url}]
            for delivery, label in (
                ("off", "ours, stored syntax"),
                ("streaming", "ours, HTJ2K streamed"),
                ("ranges", "ours, HTJ2K byte ranges"),
            ):
                if delivery not in args.deliveries.split(","):
                    continue
                set_delivery(delivery)
                measure(playwright, label, proxy.url, studies, networks, cookies, args, results)
            set_delivery("off")
            if not args.skip_orthanc:
                with Orthanc() as orthanc:
                    orthanc.upload(files)
                    with OhifProxy(orthanc.url, serve_ohif=True) as other:
                        label = f"orthanc {orthanc.version()}"
                        measure(playwright, label, other.url, studies, networks, [], args, results)
    print(json.dumps({f"{k[0]} | {k[1]}": v for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
