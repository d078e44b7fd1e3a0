"""Real processes for the fault tests: a Redis of the test's own (on a free port, stopped and
started again at will), a gunicorn web server and a Celery worker on it, reading the test
database and a storage folder of the test's own. Nothing is mocked."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, message: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


class RedisServer:
    """redis-server on 127.0.0.1 and a free port, its data (append-only file) in ``folder``
    so that what was queued survives a stop and start, as compose runs it."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.process = None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self):
        redis_server = shutil.which("redis-server")
        assert redis_server, "redis-server is needed (test.sh installs it)"
        self.process = subprocess.Popen(
            [
                redis_server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--protected-mode",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.answers, 10, "redis-server to answer")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


class Service:
    """A child process with its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict, log: Path):
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.process = None

    def start(self):
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self):
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)

    def kill(self):
        """kill -9 of the process and every child it made."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(5)


def environment(*, database_url, storage: Path, data: Path, redis: RedisServer, **extra) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data),
        "DICOM_STORAGE_DIR": str(storage),
        "CELERY_BROKER_URL": redis.url(0),
        "CACHE_URL": redis.url(1),
        "CACHE_KEY_PREFIX": "faults",
        "SECRET_KEY": "fault-tests",
        "ALLOWED_HOSTS": "127.0.0.1",
        "WORKER_NICE": "0",
        "DATABASE_CONN_MAX_AGE": "0",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


def web(env: dict, log: Path, *, workers: int = 1) -> tuple[Service, str]:
    port = free_port()
    service = Service(
        "web",
        [
            str(BIN / "gunicorn"),
            "ohifsite.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            "4",
            "--timeout",
            "120",
        ],
        env,
        log,
    )
    service.start()
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(f"{url}/livez", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(up, 60, f"gunicorn to answer:\n{log.read_text()[-2000:] if log.exists() else ''}")
    return service, url


def worker_argv(python: str, queue: str) -> list[str]:
    return [python, "-m", "celery", "-A", "ohifsite", "worker", "-Q", queue, "--concurrency", "1",
            "--without-gossip", "--without-mingle", "-l", "INFO"]  # fmt: skip


def worker(env: dict, log: Path, python: str = sys.executable) -> Service:
    service = Service("worker", worker_argv(python, env["CELERY_QUEUE"]), env, log)
    service.start()
    wait_until(lambda: "ready." in service.output() or not service.alive(), 120, "worker ready")
    assert service.alive(), service.output()[-3000:]
    return service


def gunicorn_workers(master_pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(master_pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(pid) for pid in out.split()]
