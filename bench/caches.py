"""Cache benchmark: how fast the metadata caches are built, and what serving series metadata
from them costs, against Orthanc's DICOMweb plugin on the same generated corpus.

    .venv/bin/python bench/caches.py                         # 1,000 CT 512x512, 4 series
    .venv/bin/python bench/caches.py --count 200 --per-series 100
    .venv/bin/python bench/caches.py --database-url postgres://postgres@127.0.0.1:5432/postgres

Ours: a fresh archive, ``import_dicom`` with PRELOAD off (nothing built), then
``rebuild_caches`` timed in one process (every file parsed once: instance DICOM JSON, series
documents, OHIF documents), then ``rebuild_caches --all`` (everything again). Then gunicorn
serves ``GET .../series/{uid}/metadata``: from the stored document, after the study changed
(series document rebuilt from the stored instance JSON) and with nothing extracted (every file
of the series parsed: the first request with PRELOAD off). Orthanc gets the same files, and
the same request twice (the first computes its series cache, the second reads it). Every
answer is checked to hold one object per instance. Not part of the test suite.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
from orthanc import Orthanc  # noqa: E402
from ours import Archive  # noqa: E402

ACCEPT = {"Accept": "application/dicom+json", "Accept-Encoding": "gzip"}


def timed_get(session: requests.Session, url: str, expected: int) -> float:
    started = time.monotonic()
    response = session.get(url, headers=ACCEPT, timeout=600)
    seconds = time.monotonic() - started
    response.raise_for_status()
    if len(response.json()) != expected:
        sys.exit(f"{url}: {len(response.json())} objects, expected {expected}")
    return seconds


def median_get(session, url, expected, times=5) -> float:
    return statistics.median(timed_get(session, url, expected) for _ in range(times))


def bench_ours(files: list[Path], args) -> tuple[str, int]:
    folder = files[0].parent.parent
    with Archive(args.database_url, keep=args.keep) as archive:
        archive.setup_django()
        from django.contrib.auth.models import User

        from archive.models import Instance, Series, Study

        archive.migrate()
        _, status, _, out = archive.manage(
            "import_dicom", str(folder), "--no-progress", PRELOAD="false"
        )
        if status != 0 or Instance.objects.count() != len(files):
            sys.exit(f"import_dicom failed:\n{out}")
        for label, extra in (("rebuild_caches", ()), ("rebuild_caches --all", ("--all",))):
            seconds, status, peak, out = archive.manage("rebuild_caches", *extra)
            if status != 0 or Study.objects.stale().exists():
                sys.exit(f"{label} failed:\n{out}")
            print(
                f"ours     {label:22}  {len(files) / seconds:7.1f} instances/s  "
                f"{seconds:6.1f} s  peak {peak:.0f} MB"
            )

        User.objects.create_superuser("bench", password="bench-password")
        base = archive.start_web() + "/dicom-web"
        session = requests.Session()
        session.auth = ("bench", "bench-password")
        series = Series.objects.select_related("study").order_by("pk").first()
        count = series.number_of_series_related_instances
        url = (
            f"{base}/studies/{series.study.study_instance_uid}/series/"
            f"{series.series_instance_uid}/metadata"
        )
        cached = median_get(session, url, count)
        Study.objects.filter(pk=series.study_id).bump_generation()
        rebuilt = timed_get(session, url, count)
        Study.objects.filter(pk=series.study_id).bump_generation()
        Instance.objects.filter(series=series).update(metadata=None)
        parsed = timed_get(session, url, count)
        print(
            f"ours     series metadata ({count} instances): stored {cached * 1000:.0f} ms, "
            f"study changed {rebuilt * 1000:.0f} ms, nothing extracted {parsed * 1000:.0f} ms"
        )
        return url.split("/dicom-web/", 1)[1], count


def bench_orthanc(files: list[Path], path: str, count: int) -> None:
    with Orthanc() as orthanc:
        session = requests.Session()
        for file in files:
            session.post(orthanc.url + "/instances", data=file.read_bytes()).raise_for_status()
        url = f"{orthanc.dicomweb}/{path}"
        first = timed_get(session, url, count)
        again = median_get(session, url, count)
        print(f"         ({orthanc.version()})")
        print(
            f"orthanc  series metadata ({count} instances): first {first * 1000:.0f} ms, "
            f"then {again * 1000:.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="CT instances (default 1000)")
    parser.add_argument("--size", type=int, default=512, help="rows and columns (default 512)")
    parser.add_argument("--per-series", type=int, default=250, help="slices per series/study")
    parser.add_argument("--database-url", default="", help="PostgreSQL server (default SQLite)")
    parser.add_argument("--skip-orthanc", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep our data folder")
    args = parser.parse_args()

    files = corpus.files(corpus.ct(args.count, args.size, args.per_series))
    print(f"corpus: {len(files)} CT {args.size}x{args.size}, {args.per_series} per series")
    path, count = bench_ours(files, args)
    if not args.skip_orthanc:
        bench_orthanc(files, path, count)


if __name__ == "__main__":
    main()
