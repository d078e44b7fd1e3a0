"""./run.sh as a user runs it (embedded: SQLite, filesystem broker, a DATA_DIR of its own):
the Celery worker is restarted when it dies, and TERM to run.sh's pid stops every process it
started (web server, worker, DICOM listener), within seconds, and frees the ports."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
from processes import cmdline, descendants, free_port, port_free, still_alive, wait_for

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.worker,
    # run.sh always runs embedded, so the PostgreSQL pass of ./test.sh would repeat this.
    pytest.mark.skipif(
        bool(os.environ.get("DATABASE_URL")), reason="run.sh runs embedded: the SQLite pass"
    ),
]


NOT_EMBEDDED = {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "CACHE_URL", "DICOM_STORAGE_DIR"}


def workers(pid: int) -> list[int]:
    """The Celery worker's main process: a child of the supervisor (run.sh's pid)."""
    return [p for p in descendants(pid) if " celery " in cmdline(p) and _parent(p) == pid]


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except FileNotFoundError:
        return 0


def test_run_sh_restarts_its_worker_and_stops_everything_on_term(tmp_path):
    port, dicom_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in NOT_EMBEDDED}
    env.update(DATA_DIR=str(tmp_path / "data"), PORT=str(port), HOST="127.0.0.1",
               DICOM_PORT=str(dicom_port), DICOM_BIND="127.0.0.1")  # fmt: skip
    log = tmp_path / "run.log"
    with log.open("w") as out:
        run = subprocess.Popen(
            [str(ROOT / "run.sh")], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        ready = lambda n: log.read_text().count("celery@") >= n and "ready." in log.read_text()  # noqa: E731
        wait_for(lambda: ready(1) and not port_free(port), 180, "run.sh did not start")
        page = requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=10)
        assert "password" in page.text.lower()
        wait_for(lambda: not port_free(dicom_port), 60, "the DICOM listener did not start")

        [worker] = wait_for(lambda: workers(run.pid), 30, "no Celery worker under run.sh")
        killed = {worker: descendants(run.pid)[worker]}
        os.kill(worker, signal.SIGKILL)
        # A killed process is listed until it has died (it was, once, when looked for at once).
        wait_for(lambda: not still_alive(killed), 10, "the killed worker did not die")
        [again] = wait_for(lambda: workers(run.pid), 30, "the worker was not restarted")
        assert again != worker
        wait_for(lambda: log.read_text().count(" ready.") >= 2, 60, "the new worker not ready")

        tree = descendants(run.pid)
        began = time.monotonic()
        run.send_signal(signal.SIGTERM)
        run.wait(20)
        assert time.monotonic() - began < 15
        assert still_alive(tree) == []
        assert port_free(port) and port_free(dicom_port)
    finally:
        if run.poll() is None:
            for pid in descendants(run.pid):
                os.kill(pid, signal.SIGKILL)
            run.kill()
            run.wait()
