"""WADO benchmark: frames of a 300-slice 512x512 CT with 1 and 6 concurrent clients (a browser
opens about 6), series metadata and WADO-URI of every instance, against this archive and
against Orthanc + its DICOMweb plugin, on the same generated series.

    .venv/bin/python bench/wado_frames.py
    .venv/bin/python bench/wado_frames.py --broker-url redis://127.0.0.1:6379/0 \
        --database-url postgres://postgres@127.0.0.1:5432/postgres

Frames are asked for exactly as OHIF does (``multipart/related; type=application/octet-stream;
transfer-syntax=*``), one frame per request. Every answer is checked: status, multipart media
type, and the frame's bytes equal to the pixel data of the file sent. Ours runs under gunicorn
(2 workers x 4 threads, as ./run.sh), logged in with a session cookie like the viewer.
Not part of the test suite.
"""

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import pydicom
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
from ingest import machine  # noqa: E402
from orthanc import Orthanc  # noqa: E402
from ours import ROOT, Archive, export_commit  # noqa: E402

OHIF_FRAMES = "multipart/related; type=application/octet-stream; transfer-syntax=*"


class Series:
    """The UIDs and expected pixel bytes of the generated series."""

    def __init__(self, files: list[Path]):
        self.files = files
        self.instances = []
        for path in files:
            ds = pydicom.dcmread(path)
            self.instances.append((ds.SOPInstanceUID, ds.PixelData))
        self.study = ds.StudyInstanceUID
        self.series = ds.SeriesInstanceUID

    def frame_url(self, root: str, sop: str) -> str:
        return f"{root}/studies/{self.study}/series/{self.series}/instances/{sop}/frames/1"


def payload_of(response: requests.Response) -> bytes:
    """The one part of a multipart/related answer (checked, not trusted)."""
    ctype = response.headers.get("Content-Type", "")
    if response.status_code != 200 or not ctype.startswith("multipart/related"):
        raise AssertionError(f"{response.status_code} {ctype}: {response.content[:200]!r}")
    boundary = ctype.split("boundary=", 1)[1].split(";")[0].strip('"')
    body = response.content
    start = body.index(b"\r\n\r\n") + 4
    end = body.rindex(f"\r\n--{boundary}--".encode())
    return body[start:end]


def run_clients(clients: int, jobs: list, session_factory, work) -> list[float]:
    """Run ``work(session, job)`` over ``jobs`` from ``clients`` threads; per-job seconds."""
    queue = iter(jobs)
    lock = threading.Lock()
    timings: list[float] = []
    errors: list[str] = []

    def client() -> None:
        session = session_factory()
        while True:
            with lock:
                job = next(queue, None)
            if job is None:
                return
            started = time.perf_counter()
            try:
                work(session, job)
            except AssertionError as exc:
                errors.append(str(exc))
            timings.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        sys.exit(f"{len(errors)} wrong answers, e.g. {errors[0]}")
    return timings


def measure(name: str, root: str, wado: str, series: Series, session_factory, args) -> dict:
    results = {}

    def frame(session, job):
        sop, pixels = job
        got = payload_of(session.get(series.frame_url(root, sop), headers={"Accept": OHIF_FRAMES}))
        if got != pixels:
            raise AssertionError(f"frame of {sop}: {len(got)} bytes, not the stored pixels")

    run_clients(2, series.instances[:20], session_factory, frame)  # warm up both sides
    for clients in (1, 6):
        jobs = series.instances * args.rounds
        started = time.perf_counter()
        timings = run_clients(clients, jobs, session_factory, frame)
        elapsed = time.perf_counter() - started
        results[f"frames x{clients}"] = len(jobs) / elapsed
        print(
            f"{name:8} frames, {clients} client(s): {len(jobs) / elapsed:7.1f} frames/s  "
            f"median {statistics.median(timings) * 1000:6.1f} ms  "
            f"p95 {_p95(timings) * 1000:6.1f} ms"
        )

    metadata_url = f"{root}/studies/{series.study}/series/{series.series}/metadata"

    headers = {"Accept": "application/dicom+json", "Accept-Encoding": "gzip"}
    reference = session_factory().get(metadata_url, headers=headers)
    if reference.status_code != 200 or len(reference.json()) != len(series.instances):
        sys.exit(f"series metadata: {reference.status_code} {reference.text[:200]}")
    wire = _raw(session_factory().get(metadata_url, headers=headers, stream=True))

    def metadata(session, _):
        # Timed as the server answers (bytes on the wire, compressed when offered); each
        # answer must be identical to the one decoded and counted above.
        answer = session.get(metadata_url, headers=headers, stream=True)
        if answer.status_code != 200 or _raw(answer) != wire:
            raise AssertionError(f"series metadata: {answer.status_code}, other bytes")

    timings = run_clients(1, range(args.metadata_requests), session_factory, metadata)
    results["series metadata ms"] = statistics.median(timings) * 1000
    print(
        f"{name:8} series metadata ({len(series.instances)} instances): median "
        f"{statistics.median(timings) * 1000:6.1f} ms  p95 {_p95(timings) * 1000:6.1f} ms"
    )

    def wadouri(session, job):
        (sop, _), path = job
        # The slash is left unencoded: Orthanc 1.10 does not decode contentType (it answers
        # 400 to OHIF's "application%2Fdicom"); we accept both spellings.
        query = (
            f"requestType=WADO&studyUID={series.study}&seriesUID={series.series}"
            f"&objectUID={sop}&contentType=application/dicom"
        )
        answer = session.get(f"{wado}?{query}")
        if answer.status_code != 200 or answer.content != path.read_bytes():
            raise AssertionError(f"WADO-URI {sop}: {answer.status_code}")

    jobs = list(zip(series.instances, series.files, strict=True))
    started = time.perf_counter()
    timings = run_clients(1, jobs, session_factory, wadouri)
    elapsed = time.perf_counter() - started
    results["wado-uri /s"] = len(jobs) / elapsed
    print(
        f"{name:8} WADO-URI application/dicom: {len(jobs) / elapsed:7.1f} instances/s  "
        f"median {statistics.median(timings) * 1000:6.1f} ms"
    )
    return results


def bench_ours(series: Series, args) -> dict:
    code = export_commit(args.commit) if args.commit else ROOT
    with Archive(args.database_url, args.broker_url, keep=args.keep, code=code) as archive:
        archive.setup_django()
        archive.migrate()
        folder = series.files[0].parent
        _, status, _, out = archive.manage("import_dicom", str(folder), "--no-progress")
        if status != 0:
            sys.exit(f"import_dicom failed:\n{out}")
        archive.start_worker()
        if not archive.wait_for_caches(300):
            sys.exit("caches were not built within 5 minutes")
        session_key = archive.reader_session("bench-reader")
        url = archive.start_web(workers=args.web_workers, threads=args.web_threads)

        def session_factory():
            http = requests.Session()
            http.cookies.set("sessionid", session_key)
            return http

        return measure("ours", url + "/dicom-web", url + "/wado", series, session_factory, args)


def bench_orthanc(series: Series, args) -> dict:
    with Orthanc() as orthanc:
        print(f"         ({orthanc.version()})")
        http = requests.Session()
        for path in series.files:
            http.post(orthanc.url + "/instances", data=path.read_bytes()).raise_for_status()
        return measure("orthanc", orthanc.dicomweb, orthanc.wado, series, requests.Session, args)


def _raw(response: requests.Response) -> bytes:
    return response.raw.read(decode_content=False)


def _p95(values: list[float]) -> float:
    return sorted(values)[max(int(len(values) * 0.95) - 1, 0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="slices (default 300)")
    parser.add_argument("--size", type=int, default=512, help="rows and columns (default 512)")
    parser.add_argument("--rounds", type=int, default=2, help="times each frame is fetched")
    parser.add_argument("--metadata-requests", type=int, default=50)
    parser.add_argument("--database-url", default="", help="PostgreSQL server (default SQLite)")
    parser.add_argument("--broker-url", default="", help="e.g. redis://127.0.0.1:6379/0")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--commit", default="", help="benchmark this commit, not the tree")
    parser.add_argument("--keep", action="store_true", help="keep our data folder")
    parser.add_argument("--skip-orthanc", action="store_true")
    args = parser.parse_args()

    folder = corpus.ct(count=args.count, size=args.size, per_series=args.count)
    series = Series(corpus.files(folder))
    print(f"machine: {machine()}")
    print(f"corpus: {len(series.files)} CT slices {args.size}x{args.size}, one series")
    ours = bench_ours(series, args)
    if args.skip_orthanc:
        return
    theirs = bench_orthanc(series, args)
    print("\nratios (ours / orthanc; higher is better for rates, lower for times)")
    for key, value in ours.items():
        print(f"  {key:22} {value:9.1f} vs {theirs[key]:9.1f}   x{value / theirs[key]:.2f}")


if __name__ == "__main__":
    main()
