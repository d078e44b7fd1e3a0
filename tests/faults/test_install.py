"""The install a deployment makes (Dockerfile, README "Dependencies"): the product lock and
``pip install --no-deps .`` in a fresh virtual environment, without the test extras, then a
worker on a Redis broker of the test's own builds the caches of a study. A dependency declared
without the extra it needs (kombu's Redis transport needs ``packaging``, which only
``kombu[redis]`` brings) fails here, not in a hospital."""

import subprocess
import sys
import time

import pytest
from dicom_data import ct_series, to_bytes
from fault_support import ROOT, RedisServer, wait_until, worker

pytestmark = pytest.mark.faults

CHECK = """
from archive.models import Study
study = Study.objects.get()
print("STATE", study.cache_state, study.number_of_study_related_instances)
"""


def test_pip_install_then_a_worker_on_redis_builds(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    # Exactly as the Dockerfile installs: the product lock (made from pyproject.toml by
    # scripts/lock.sh), nothing else, then the project itself.
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
    for step in (["--require-hashes", "-r", str(ROOT / "requirements.lock")], [str(ROOT)]):
        install = subprocess.run([*pip, *step], capture_output=True, text=True, timeout=900)
        assert install.returncode == 0, install.stderr[-3000:]
    redis_folder = tmp_path / "redis"
    redis_folder.mkdir()
    redis = RedisServer(redis_folder)
    redis.start()
    files = tmp_path / "files"
    files.mkdir()
    for i, ds in enumerate(ct_series(2, rows=16, columns=16)):
        (files / f"{i}.dcm").write_bytes(to_bytes(ds))
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATA_DIR": str(tmp_path / "data"),
        "CELERY_BROKER_URL": redis.url(0),
        "CACHE_URL": redis.url(1),
        "CELERY_QUEUE": "install-test",
        "CACHE_BUILD_DELAY": "0",
        "WORKER_NICE": "0",
    }
    manage = [python, "manage.py"]
    service = None
    try:
        subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        service = worker(env, tmp_path / "worker.log", python)
        imported = subprocess.run(
            [*manage, "import_dicom", str(files)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert imported.returncode == 0, imported.stderr[-3000:]

        def ready():
            state = subprocess.run(
                [*manage, "shell", "-c", CHECK],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            return "STATE ready 2" in state.stdout

        started = time.monotonic()
        wait_until(ready, 60, f"the build\n{service.output()[-3000:]}", interval=1)
        assert time.monotonic() - started < 60
        assert "ModuleNotFoundError" not in service.output()
    finally:
        if service is not None:
            service.stop()
        redis.stop()
