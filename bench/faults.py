"""Faults and recovery (issue 12): for each fault, how many requests answered 5xx while it
lasted, the time from the fault's end until every study is ready again and the consistency
check is clean, and how many acknowledged instances were lost (must be 0).

    .venv/bin/python bench/faults.py                       # PostgreSQL on 127.0.0.1:5432
    .venv/bin/python bench/faults.py --outage 10 --instances 50

The archive runs as compose runs it (gunicorn, one Celery worker, PostgreSQL, and Redis as
broker and shared cache), with a Redis of its own on a free port so it can be stopped, and the
sweep tightened (every 2 s, pending after 3 s, spool after 3 s; visibility timeout 10 s) so
that recovery is measured in seconds: with the defaults (300 s, 600 s, 900 s) it takes minutes.
A reader thread sends QIDO and metadata requests with an API token all along.
"""

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "faults")]

import requests  # noqa: E402
from dicom_data import ct_series, to_bytes  # noqa: E402
from fault_support import RedisServer, gunicorn_workers  # noqa: E402
from ours import Archive  # noqa: E402

BOUNDARY = "bench-faults"
STOW_TYPE = f'multipart/related; type="application/dicom"; boundary="{BOUNDARY}"'


def body(datasets) -> bytes:
    parts = [
        f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + to_bytes(ds) + b"\r\n"
        for ds in datasets
    ]
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


class Bench:
    def __init__(self, archive: Archive, redis: RedisServer, key: str, instances: int):
        self.archive, self.redis, self.instances = archive, redis, instances
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"
        self.acknowledged: set[str] = set()
        self.statuses: list[int] = []
        self._reading = threading.Event()

    def stow(self, datasets, **kw) -> requests.Response:
        response = self.session.post(
            f"{self.archive.url}/dicom-web/studies",
            data=body(datasets),
            headers={"Content-Type": STOW_TYPE, "Accept": "application/dicom+json"},
            timeout=120,
            **kw,
        )
        if response.status_code in (200, 202):
            for item in response.json().get("00081199", {}).get("Value", []):
                self.acknowledged.add(item["00081155"]["Value"][0])
        return response

    def _read_loop(self):
        while self._reading.is_set():
            for path in ("/dicom-web/studies?limit=5", "/healthz"):
                try:
                    status = self.session.get(f"{self.archive.url}{path}", timeout=10).status_code
                except requests.RequestException:
                    status = 599  # no answer at all
                self.statuses.append(status)
            time.sleep(0.1)

    def during(self, fault):
        """Run ``fault()`` with the reader going; returns (requests, 5xx answers)."""
        self.statuses = []
        self._reading.set()
        reader = threading.Thread(target=self._read_loop)
        reader.start()
        try:
            fault()
        finally:
            self._reading.clear()
            reader.join()
        return len(self.statuses), sum(status >= 500 for status in self.statuses)

    def recovery(self, timeout: float = 300) -> float:
        """Seconds until every study is ready, the check is clean and the spool empty."""
        from archive import consistency
        from archive.models import Instance, Study

        started = time.monotonic()
        while time.monotonic() - started < timeout:
            studies = list(Study.objects.all())
            if all(study.cache_state == "ready" for study in studies):
                report = consistency.check()
                if report.clean and report.spool_leftovers == 0:
                    return time.monotonic() - started
            time.sleep(0.25)
        stored = set(Instance.objects.values_list("sop_instance_uid", flat=True))
        raise RuntimeError(f"no recovery in {timeout}s ({len(stored)} instances)")

    def lost(self) -> int:
        from archive.models import Instance

        stored = set(Instance.objects.values_list("sop_instance_uid", flat=True))
        return len(self.acknowledged - stored)

    # --- the faults --------------------------------------------------------------------

    def redis_outage(self, seconds: float):
        def fault():
            self.redis.stop()
            self.stow(ct_series(self.instances, rows=64, columns=64))
            time.sleep(max(0.0, seconds))
            self.redis.start()

        return self.during(fault)

    def worker_killed(self):
        def fault():
            log = self.archive.log_path("worker")
            mark = len(log.read_bytes())
            self.stow(ct_series(self.instances, rows=64, columns=64))
            deadline = time.monotonic() + 30
            while b"received" not in log.read_bytes()[mark:] and time.monotonic() < deadline:
                time.sleep(0.05)
            worker = self.archive.processes.pop("worker")
            for pid in gunicorn_workers(worker.pid) + [worker.pid]:  # pool children first
                os.kill(pid, signal.SIGKILL)
            worker.wait()
            self.archive.start_worker(concurrency=1)  # as compose's restart policy does

        return self.during(fault)

    def web_worker_killed_mid_stow(self):
        payload = body(ct_series(self.instances, rows=64, columns=64))
        half = threading.Event()

        def chunks():
            yield payload[: len(payload) // 2]
            half.set()
            time.sleep(2)
            yield payload[len(payload) // 2 :]

        def send():
            with contextlib.suppress(requests.RequestException):  # the connection drops
                self.session.post(
                    f"{self.archive.url}/dicom-web/studies",
                    data=chunks(),
                    headers={"Content-Type": STOW_TYPE},
                    timeout=60,
                )

        def fault():
            client = threading.Thread(target=send)
            client.start()
            half.wait(30)
            time.sleep(0.5)
            for pid in gunicorn_workers(self.archive.processes["web"].pid):
                os.kill(pid, signal.SIGKILL)
            client.join(60)

        return self.during(fault)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds Redis stays down")
    parser.add_argument("--instances", type=int, default=20, help="instances per STOW")
    args = parser.parse_args()

    redis = RedisServer(Path(tempfile.mkdtemp(prefix="bench-faults-redis-")))
    redis.start()
    archive = Archive(args.database_url, broker_url=redis.url(0))
    archive.env.update(
        SWEEP_INTERVAL="2",
        SWEEP_PENDING_AFTER="3",
        SWEEP_SPOOL_AFTER="3",
        CELERY_VISIBILITY_TIMEOUT="10",
        CACHE_BUILD_DELAY="0",
        WORKER_NICE="0",
    )
    try:
        archive.migrate()
        archive.setup_django()
        from django.contrib.auth.models import Group, User

        from accounts.models import ApiToken

        user = User.objects.create(username="bench-faults", is_staff=True, is_superuser=True)
        user.groups.add(Group.objects.get_or_create(name="admin")[0])
        token = ApiToken(user=user, name="bench", role="admin")
        key = token.new_key()
        token.save()
        archive.start_worker(concurrency=1)
        archive.start_web(workers=2)
        bench = Bench(archive, redis, key, args.instances)
        assert bench.stow(ct_series(args.instances, rows=64, columns=64)).status_code == 200
        bench.recovery()

        rows = []
        for name, run in (
            (f"Redis (broker and cache) stopped {args.outage:g} s, STOW during it",
             lambda: bench.redis_outage(args.outage)),
            ("worker kill -9 mid-build, then restarted", bench.worker_killed),
            ("gunicorn worker kill -9 mid-STOW", bench.web_worker_killed_mid_stow),
        ):  # fmt: skip
            requests_sent, errors = run()
            seconds = bench.recovery()
            rows.append((name, requests_sent, errors, seconds, bench.lost()))
            print(f"{name}: {requests_sent} requests, {errors} 5xx, recovered in {seconds:.1f} s")
        print("\n| fault | requests during it | 5xx | recovery (s) | instances lost |")
        print("|---|---|---|---|---|")
        for name, requests_sent, errors, seconds, lost in rows:
            print(f"| {name} | {requests_sent} | {errors} | {seconds:.1f} | {lost} |")
    finally:
        archive.stop()
        redis.stop()


if __name__ == "__main__":
    main()
