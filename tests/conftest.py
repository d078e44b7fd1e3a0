"""Shared fixtures: real database (SQLite or PostgreSQL, from DATABASE_URL), real broker and
real Celery worker process, storage in a temporary folder. Nothing here is mocked."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# The real OpenID Connect provider process (tests/oidc/), for the access tests.
from oidc.provider import oidc_provider, oidc_settings  # noqa: E402, F401

# The real S3-compatible server (tests/seaweed/), for the object storage tests.
from seaweed.server import s3_requests, s3_server, s3_storage  # noqa: E402, F401

ROOT = Path(__file__).resolve().parent.parent
QUEUE = f"test-{uuid.uuid4().hex[:12]}"


def pytest_configure(config):
    # Every test run has its own queue, so two runs on one Redis never take each other's tasks.
    from ohifsite.celery import app

    app.conf.task_default_queue = QUEUE
    # Child processes (workers, manage.py commands) inherit it; test modules read it from
    # here too, since `from conftest import` may find another directory's conftest.py.
    os.environ["CELERY_QUEUE"] = QUEUE


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """A test database of its own per run: on PostgreSQL a name with the pid, on SQLite a
    file (not memory) so that a worker process can open the same database."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    db.setdefault("TEST", {})
    if db["ENGINE"].endswith("sqlite3"):
        db["TEST"]["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")
    else:
        db["TEST"]["NAME"] = f"test_ohifsite_{os.getpid()}"
        # The live server answers each request on its own thread; with persistent connections
        # those threads leave sessions open and the test database cannot be dropped.
        db["CONN_MAX_AGE"] = 0


@pytest.fixture(scope="session", autouse=True)
def storage_dir(tmp_path_factory):
    from django.conf import settings

    path = tmp_path_factory.mktemp("dicom")
    settings.DICOM_STORAGE_DIR = path
    return path


@pytest.fixture(scope="session", autouse=True)
def storage_backend(request):
    """TEST_STORAGE_BACKEND=s3: the whole session stores to SeaweedFS (test.sh's third pass);
    processes started by the tests inherit it through the environment."""
    if os.environ.get("TEST_STORAGE_BACKEND", "filesystem") != "s3":
        return "filesystem"
    from django.conf import settings

    server = request.getfixturevalue("s3_server")
    environment = server.environment(prefix=f"session-{uuid.uuid4().hex[:12]}/")
    os.environ.update(environment)
    for name, value in environment.items():
        if name.startswith(("S3_", "STORAGE_")):
            setattr(settings, name, int(value) if name == "S3_TIMEOUT" else value)
    return "s3"


@pytest.fixture(scope="session", autouse=True)
def fast_password_hasher():
    """PBKDF2 takes about a second per check on two cores, and HTTP Basic checks the password
    on every request; tests hash with MD5 (the production hashers still verify)."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]


@pytest.fixture(autouse=True)
def fresh_cache():
    """Every test starts with empty caches, as with an empty database: the user, session and
    instance entries of a rolled-back test would otherwise outlive their rows. With a shared
    Redis cache (CACHE_URL) only this run's keys go; clearing would empty the whole database."""
    from django.conf import settings
    from django.core.cache import cache

    from accounts import accesslog, sessionusers
    from archive.dicomweb import lookup

    accesslog._recent.clear()
    sessionusers.clear()
    lookup._recent_rows.clear()
    if not settings.SHARED_CACHE:
        cache.clear()
        return
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=cache.make_key("*"), count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def database_url(django_db_setup, django_db_blocker):
    from django.db import connection

    with django_db_blocker.unblock():
        params = connection.settings_dict
    if params["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{params['NAME']}"
    user = params.get("USER") or "postgres"
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{params['NAME']}"


@pytest.fixture(scope="session")
def celery_worker(database_url, storage_dir, storage_backend, tmp_path_factory):
    """A real `celery worker` process on the configured broker (Redis or the embedded
    filesystem broker), reading the test database and storage."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DICOM_STORAGE_DIR": str(storage_dir),
        "CACHE_BUILD_DELAY": "0",
        # HTJ2K renditions after each cache build (tests/archive/test_renditions_worker.py);
        # images under RENDITION_MIN_BYTES, most tests' images, are skipped.
        "RENDITIONS": "true",
    }
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "ohifsite",
                "worker",
                "-Q",
                QUEUE,
                "-P",
                "solo",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while b"ready." not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"celery worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    yield process
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_for(predicate, timeout=60.0, interval=0.2, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


@pytest.fixture(name="wait_for")
def wait_for_fixture():
    """``wait_for`` for test modules: ``from conftest import ...`` is unreliable, because the
    other conftest.py files under tests/ also import as ``conftest``."""
    return wait_for


@pytest.fixture
def full_disk(request, tmp_path, settings):
    """The archive's storage (DICOM_STORAGE_DIR, and the spool inside it) on a real filesystem
    that fills up: a tmpfs of 128 KiB, too small for one CT slice of 512 x 512, or the size a
    test gives with ``@pytest.mark.parametrize("full_disk", ["3m"], indirect=True)``. Every
    write past it fails with ENOSPC, as on a full disk. Needs root (test.sh runs as root);
    skips where mounting is not allowed. A process the test starts stores there only when
    given the folder as its DICOM_STORAGE_DIR."""
    size = getattr(request, "param", "128k")
    folder = tmp_path / "full"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    settings.DICOM_STORAGE_DIR = folder
    try:
        yield folder
    finally:
        # Lazily: a server process a test started may still have files open there.
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def dicomweb_session(live_server, admin_user):
    """A requests session for third-party clients (dicomweb-client) against the live server,
    authenticated as an administrator with HTTP Basic (pytest-django's admin_user)."""
    import requests

    session = requests.Session()
    session.auth = (admin_user.username, "password")
    return session


@pytest.fixture
def dicomweb_url(live_server):
    return f"{live_server.url}/dicom-web"


@pytest.fixture
def reader_client(client, django_user_model, settings):
    """A test client for a user with only the reader role, authenticated by HTTP Basic (as
    DICOMweb clients are); a fast password hasher keeps per-request authentication cheap."""
    import base64

    from django.contrib.auth.models import Group

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = django_user_model.objects.create_user("wado-reader", password="reader-secret")
    user.groups.add(Group.objects.get_or_create(name="reader")[0])
    token = base64.b64encode(b"wado-reader:reader-secret").decode()
    client.defaults["HTTP_AUTHORIZATION"] = f"Basic {token}"
    return client
