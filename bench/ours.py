"""This archive, started fresh for a benchmark: its own data folder (and its own PostgreSQL
database and Celery queue when asked), ``manage.py`` commands, a Celery worker and gunicorn on
a free loopback port. Everything is removed afterwards.

The bench process itself is configured with the same environment (``django.setup()``), so it
can look at the index (cache states, counts) with the ORM.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from orthanc import free_port, peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
if not Path(PYTHON).exists():
    PYTHON = sys.executable
EXPORT_PREFIX = "bench-code-"


class Archive:
    def __init__(
        self, database_url: str = "", broker_url: str = "", keep: bool = False, code: Path = ROOT
    ):
        # ``code``: the checkout to run, e.g. an exported commit (bench --code) while the
        # working tree is being edited.
        self.code = Path(code).resolve()
        self.data_dir = Path(tempfile.mkdtemp(prefix="bench-ohifsite-"))
        self.keep = keep
        self.server_url = database_url
        self.database_url = _fresh_database(database_url) if database_url else ""
        self.env = {
            **os.environ,
            "DATA_DIR": str(self.data_dir),
            "CELERY_QUEUE": f"bench-{os.getpid()}",
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
        }
        for name in (
            "DATABASE_URL",
            "CELERY_BROKER_URL",
            "REDIS_URL",
            "DICOM_STORAGE_DIR",
            "CACHE_URL",
            "CACHE_KEY_PREFIX",
        ):
            self.env.pop(name, None)
        if self.database_url:
            self.env["DATABASE_URL"] = self.database_url
        if broker_url:
            self.env["CELERY_BROKER_URL"] = broker_url
        if broker_url.startswith("redis://"):
            # As in compose.yaml: the shared cache in the broker server's database 1.
            self.env["CACHE_URL"] = broker_url.rsplit("/", 1)[0] + "/1"
            self.env["CACHE_KEY_PREFIX"] = self.env["CELERY_QUEUE"]
        self.processes: dict[str, subprocess.Popen] = {}
        self.url = ""

    def setup_django(self) -> None:
        """Configure this process like the archive's, to read the index with the ORM."""
        os.environ.update(self.env)
        for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"):
            if name not in self.env:
                os.environ.pop(name, None)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ohifsite.settings")
        sys.path.insert(0, str(self.code))
        import django

        django.setup()

    def manage(self, *args: str, **extra_env: str) -> tuple[float, int, float, str]:
        """Run a manage.py command; returns (seconds, exit status, peak RSS MB, stdout)."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            started = time.monotonic()
            process = subprocess.Popen(
                [PYTHON, "manage.py", *args],
                cwd=self.code,
                env={**self.env, **extra_env},
                stdout=out,
                stderr=err,
            )
            # wait4 reports this child's own peak memory (RUSAGE_CHILDREN would be the
            # largest of every child so far).
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.monotonic() - started
            process.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(), err.read().decode()
        peak = usage.ru_maxrss / 1024
        if process.returncode not in (0, 1):
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{stderr[-3000:]}")
        if process.returncode == 1 and stderr:
            stdout += stderr[-3000:]
        return seconds, process.returncode, peak, stdout

    def migrate(self) -> None:
        _, status, _, out = self.manage("migrate", "--noinput", "-v", "0")
        if status != 0:
            raise RuntimeError(f"migrate failed:\n{out}")

    def start_worker(self, concurrency: int = 2) -> None:
        """Start a worker and return once it consumes (its "ready." line), so that what is
        timed next is the work, not the start-up."""
        self._start(
            "worker",
            [PYTHON, "-m", "celery", "-A", "ohifsite", "worker", "-Q", self.env["CELERY_QUEUE"]]
            + ["--concurrency", str(concurrency), "--without-gossip", "--without-mingle"]
            + ["-l", "INFO"],
        )
        log = self.log_path("worker")
        deadline = time.monotonic() + 60
        while b"ready." not in log.read_bytes():
            if self.processes["worker"].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"celery worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)

    def reader_session(self, username: str, role: str = "reader") -> str:
        """A session key for a new user with the reader role (or ``role``), made as a login
        would (the configured session engine and the first authentication backend)."""
        from importlib import import_module

        from django.conf import settings
        from django.contrib.auth.models import Group, User

        user = User.objects.create_user(username, password="unused-bench-password")
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        session = import_module(settings.SESSION_ENGINE).SessionStore()
        session["_auth_user_id"] = str(user.pk)
        session["_auth_user_backend"] = settings.AUTHENTICATION_BACKENDS[0]
        session["_auth_user_hash"] = user.get_session_auth_hash()
        session.create()
        return session.session_key

    def wait_for_caches(self, timeout: float) -> int:
        """Wait until every study's caches are built (or the worker died, or ``timeout``);
        returns how many studies are ready."""

        from archive.models import Study

        deadline = time.monotonic() + timeout
        while True:
            ready = Study.objects.in_cache_state("ready").count()
            if ready == Study.objects.count() or time.monotonic() > deadline:
                return ready
            if "worker" in self.processes and self.processes["worker"].poll() is not None:
                return ready
            time.sleep(0.25)

    def start_web(self, workers: int = 2, threads: int = 4) -> str:
        port = free_port()
        self._start(
            "web",
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "ohifsite.wsgi"]
            + ["--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
            + ["--threads", str(threads), "--timeout", "300", "--log-level", "warning"],
        )
        self.url = f"http://127.0.0.1:{port}"
        _wait_for_port(port, self.processes["web"], self.log_path("web"))
        return self.url

    def _start(self, name: str, command: list[str], env: dict | None = None) -> None:
        log = open(self.log_path(name), "wb")  # noqa: SIM115 kept open by the child
        self.processes[name] = subprocess.Popen(
            command, cwd=self.code, env={**self.env, **(env or {})}, stdout=log, stderr=log
        )

    def log_path(self, name: str) -> Path:
        return self.data_dir / f"{name}.log"

    def peak_rss_mb(self, name: str) -> float:
        process = self.processes.get(name)
        return peak_rss_mb(process.pid) if process else 0.0

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()
        if self.database_url:
            from django.db import connections

            connections.close_all()
            _drop_database(self.server_url, self.database_url)
        if not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        if self.code.name.startswith(EXPORT_PREFIX):  # made by export_commit for this run
            shutil.rmtree(self.code, ignore_errors=True)

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def export_commit(ref: str) -> Path:
    """A copy of the repository at ``ref`` (``git archive``), to benchmark committed code while
    others edit the working tree. node_modules (the OHIF build) is linked in, not copied."""
    folder = Path(tempfile.mkdtemp(prefix=EXPORT_PREFIX))
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    if (ROOT / "node_modules").exists():
        (folder / "node_modules").symlink_to(ROOT / "node_modules")
    return folder


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    import socket

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not listen within 60 s")


def _fresh_database(server_url: str) -> str:
    """A new, empty database on the PostgreSQL server of ``server_url``, named for this run."""
    import psycopg

    name = f"bench_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urllib.parse.urlsplit(server_url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def _drop_database(server_url: str, database_url: str) -> None:
    import psycopg

    name = urllib.parse.urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
