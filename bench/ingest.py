"""Ingest benchmark: this archive's ``import_dicom`` against Orthanc on the same generated corpus.

    .venv/bin/python bench/ingest.py                     # 2,000 CT 512x512, SQLite
    .venv/bin/python bench/ingest.py --count 200         # smaller corpus first
    .venv/bin/python bench/ingest.py --database-url postgres://postgres@127.0.0.1:5432/postgres \
        --broker-url redis://127.0.0.1:6379/0

Ours: a fresh data folder (and a fresh PostgreSQL database with --database-url), ``migrate``,
then ``import_dicom`` timed with no worker running (indexing only), then again (everything
already stored), then a real Celery worker is started and timed until every study's caches
are built. Orthanc (Debian's package, bench/orthanc.py) gets the same files through its REST
``POST /instances`` from N parallel clients, as its ImportDicomFiles script does. Every
figure is checked: all instances indexed on both sides. Not part of the test suite.
"""

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
from orthanc import Orthanc  # noqa: E402
from ours import ROOT, Archive, export_commit  # noqa: E402


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    import os

    ram = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return (
        f"{cpu}, {os.cpu_count()} cores, {ram:.1f} GiB RAM, {platform.system()}"
        f" {platform.release()}, Python {platform.python_version()}"
    )


def rate(count: int, size: int, seconds: float) -> str:
    return f"{count / seconds:7.1f} instances/s  {size / 1e6 / seconds:6.1f} MB/s"


def bench_ours(files: list[Path], size: int, args) -> dict:
    folder = files[0].parent.parent
    code = export_commit(args.commit) if args.commit else ROOT
    with Archive(args.database_url, args.broker_url, keep=args.keep, code=code) as archive:
        archive.setup_django()
        from archive.models import Instance, Study

        archive.migrate()
        command = ["import_dicom", str(folder), "--no-progress", "--workers", str(args.workers)]
        seconds, status, peak, out = archive.manage(*command)
        stored = Instance.objects.count()
        if status != 0 or stored != len(files):
            sys.exit(f"import_dicom indexed {stored} of {len(files)}:\n{out}")
        print(
            f"ours     import_dicom        {rate(len(files), size, seconds)}  "
            f"{seconds:6.1f} s  peak {peak:.0f} MB"
        )

        again, status, _, out = archive.manage(*command)
        if f"already stored: {len(files)}" not in out:
            sys.exit(f"second import_dicom did not find everything already stored:\n{out}")
        print(f"ours     re-import (stored)  {rate(len(files), size, again)}  {again:6.1f} s")

        studies = Study.objects.count()
        archive.start_worker(args.worker_concurrency)
        started = time.monotonic()
        ready = archive.wait_for_caches(args.cache_timeout)
        caches = time.monotonic() - started
        worker_peak = archive.peak_rss_mb("worker")
        if ready == studies:
            print(
                f"ours     caches ({studies} studies, worker concurrency "
                f"{args.worker_concurrency})  {caches:6.1f} s  "
                f"{len(files) / caches:7.1f} instances/s  worker peak {worker_peak:.0f} MB"
            )
        else:
            print(
                f"ours     caches NOT READY: {ready} of {studies} studies after {caches:.0f} s;"
                f" see {archive.log_path('worker')}"
            )
        return {"seconds": seconds, "again": again, "caches": caches if ready == studies else None}


def bench_orthanc(files: list[Path], size: int, args) -> dict:
    with Orthanc(sync_storage=not args.orthanc_no_sync, keep=args.keep) as orthanc:
        print(f"         ({orthanc.version()}, SyncStorageArea {not args.orthanc_no_sync})")
        seconds = orthanc.upload(files, args.orthanc_clients)
        count = orthanc.statistics()["CountInstances"]
        if count != len(files):
            sys.exit(f"Orthanc stored {count} of {len(files)}")
        print(
            f"orthanc  POST /instances x{args.orthanc_clients}  {rate(len(files), size, seconds)}"
            f"  {seconds:6.1f} s  peak {orthanc.peak_rss_mb():.0f} MB"
        )
        return {"seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="CT instances (default 2000)")
    parser.add_argument("--size", type=int, default=512, help="rows and columns (default 512)")
    parser.add_argument("--per-series", type=int, default=100, help="slices per series/study")
    parser.add_argument("--database-url", default="", help="PostgreSQL server (default SQLite)")
    parser.add_argument("--broker-url", default="", help="e.g. redis://127.0.0.1:6379/0")
    parser.add_argument("--workers", type=int, default=1, help="import_dicom --workers")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="celery worker procs")
    parser.add_argument("--cache-timeout", type=float, default=600)
    parser.add_argument("--orthanc-clients", type=int, default=4)
    parser.add_argument("--orthanc-no-sync", action="store_true", help="SyncStorageArea false")
    parser.add_argument("--skip-orthanc", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep both servers' folders")
    parser.add_argument("--commit", help="run this commit (git archive), not the working tree")
    args = parser.parse_args()

    print(f"machine: {machine()}; load {Path('/proc/loadavg').read_text().split()[0]}")
    folder = corpus.ct(args.count, args.size, args.per_series)
    files = corpus.files(folder)
    size = sum(p.stat().st_size for p in files)
    for path in files:  # read once, so neither side pays for a cold page cache
        path.read_bytes()
    database = "PostgreSQL" if args.database_url else "SQLite"
    broker = args.broker_url.split(":")[0] if args.broker_url else "filesystem"
    print(f"corpus: {len(files)} CT {args.size}x{args.size} ({size / 1e6:.0f} MB) in {folder}")
    print(f"ours: {database}, {broker} broker, import_dicom --workers {args.workers}")

    ours = bench_ours(files, size, args)
    if args.skip_orthanc:
        return
    theirs = bench_orthanc(files, size, args)
    print(
        f"ratio ours/orthanc (instances/s, higher is better): "
        f"{theirs['seconds'] / ours['seconds']:.2f}"
    )


if __name__ == "__main__":
    main()
