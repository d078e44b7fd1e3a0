"""Fixtures of the fault suite (``-m faults``): a whole deployment of real processes per test."""

import os
from dataclasses import dataclass, field

import pytest
from fault_support import RedisServer, Service, environment, web, worker


@dataclass
class Rig:
    """One deployment: Redis (broker and shared cache), gunicorn and a Celery worker."""

    redis: RedisServer
    env: dict
    logs: object
    url: str = ""
    web: Service | None = None
    worker: Service | None = None
    services: list = field(default_factory=list)

    def start_web(self, workers: int = 1):
        self.web, self.url = web(self.env, self.logs / "web.log", workers=workers)
        self.services.append(self.web)

    def start_worker(self):
        self.worker = worker(self.env, self.logs / "worker.log")
        self.services.append(self.worker)

    def output(self) -> str:
        return "\n".join(f"--- {s.name}\n{s.output()[-3000:]}" for s in self.services)


@pytest.fixture
def rig(database_url, tmp_path, settings):
    """Storage of its own (this process checks it too), a quick sweep and a short visibility
    timeout, so that recovery happens within a test's patience."""
    storage, data, logs = (tmp_path / name for name in ("dicom", "data", "logs"))
    for folder in (storage, data, logs, tmp_path / "redis"):
        folder.mkdir()
    settings.DICOM_STORAGE_DIR = storage
    settings.FILE_UPLOAD_TEMP_DIR = str(data / "tmp")
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    env = environment(
        database_url=database_url,
        storage=storage,
        data=data,
        redis=redis,
        CELERY_QUEUE=os.environ["CELERY_QUEUE"],
        CACHE_BUILD_DELAY=0,
        SWEEP_INTERVAL=2,
        SWEEP_PENDING_AFTER=3,
        SWEEP_SPOOL_AFTER=3,
        CELERY_VISIBILITY_TIMEOUT=8,
    )
    rig = Rig(redis, env, logs)
    yield rig
    for service in reversed(rig.services):
        service.stop()
    redis.stop()
