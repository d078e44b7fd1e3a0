"""Two web servers and a worker as separate hosts would run them: each with its own empty
DATA_DIR, sharing nothing but PostgreSQL, Redis and the bucket. An upload through web A is
read back through web B (metadata from caches the worker built, frames, WADO-URI), byte for
byte, and no host's folder holds a DICOM file afterwards."""

import io
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pydicom
import pytest
import requests
from dicom_data import ct_series, multiframe, to_bytes
from django.conf import settings
from django.contrib.auth.hashers import make_password
from test_stow import REFERENCED, body, items

from archive.models import CacheState, Study

ROOT = Path(__file__).resolve().parents[2]
DICOM = 'multipart/related; type="application/dicom"; boundary="stow-test-boundary"'

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.worker,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres")
        or not settings.CELERY_BROKER_URL.startswith("redis"),
        reason="hosts share PostgreSQL and Redis (the embedded SQLite and broker are folders)",
    ),
    pytest.mark.skipif(
        os.environ.get("TEST_STORAGE_BACKEND") == "s3", reason="runs in the first pass already"
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Host:
    """One process in a folder of its own, configured only through the environment."""

    def __init__(self, name: str, command: list[str], environment: dict, folder: Path):
        self.name = name
        self.data_dir = folder / name
        self.data_dir.mkdir()
        self.log = folder / f"{name}.log"
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DICOM_STORAGE_DIR", "STORAGE_", "S3_"))
        }
        env.update(environment, DATA_DIR=str(self.data_dir))
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_for(self, ready, what: str) -> None:
        deadline = time.monotonic() + 60
        while not ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{self.name}: {what} not seen:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def dicom_files(self) -> list[Path]:
        return [
            path
            for path in self.data_dir.rglob("*")
            if path.is_file() and path.read_bytes()[128:132] == b"DICM"
        ]


def web(name: str, environment: dict, folder: Path) -> tuple[Host, str]:
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "ohifsite.wsgi", "-b", f"127.0.0.1:{port}"]
    host = Host(name, command + ["--workers", "2", "--threads", "4"], environment, folder)

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    host.wait_for(listening, "listening")
    return host, f"http://127.0.0.1:{port}"


@pytest.mark.django_db(transaction=True)
def test_upload_through_one_web_host_read_through_another(
    s3_server, database_url, admin_user, tmp_path, wait_for
):
    admin_user.password = make_password("password", hasher="pbkdf2_sha256")  # as the hosts check
    admin_user.save()
    queue = f"hosts-{uuid.uuid4().hex[:10]}"
    shared = {
        **s3_server.environment(prefix=f"hosts-{uuid.uuid4().hex[:10]}/"),
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE": queue,
        "SECRET_KEY": "several-hosts-test-secret-key-" + uuid.uuid4().hex,
        "CACHE_BUILD_DELAY": "0",
        "WORKER_NICE": "0",
    }
    worker = Host(
        "worker",
        [sys.executable, "-m", "celery", "-A", "ohifsite", "worker", "-Q", queue, "-P", "solo"]
        + ["--without-gossip", "--without-mingle", "-l", "INFO"],
        shared,
        tmp_path,
    )
    hosts = [worker]
    try:
        worker.wait_for(lambda: b"ready." in worker.log.read_bytes(), "worker ready")
        a, url_a = web("web-a", shared, tmp_path)
        hosts.append(a)
        b, url_b = web("web-b", shared, tmp_path)
        hosts.append(b)
        session = requests.Session()
        session.auth = (admin_user.username, "password")

        datasets = [*ct_series(3, rows=64, columns=64), multiframe(4)]
        for ds in datasets[3:]:
            ds.StudyInstanceUID = datasets[0].StudyInstanceUID
        sent = {ds.SOPInstanceUID: to_bytes(ds) for ds in datasets}
        stored = session.post(
            f"{url_a}/dicom-web/studies",
            data=body(list(sent.values())),
            headers={"Content-Type": DICOM},
            timeout=60,
        )
        assert stored.status_code == 200, stored.text
        assert len(items(stored.json(), REFERENCED)) == len(datasets)

        study_uid = datasets[0].StudyInstanceUID
        wait_for(
            lambda: (
                Study.objects.filter(study_instance_uid=study_uid)
                .in_cache_state(CacheState.READY)
                .exists()
            ),
            message="the worker's cache build",
        )
        metadata = session.get(
            f"{url_b}/dicom-web/studies/{study_uid}/metadata",
            headers={"Accept": "application/dicom+json"},
            timeout=30,
        )
        assert metadata.status_code == 200
        assert {item["00080018"]["Value"][0] for item in metadata.json()} == set(sent)

        frames = multiframe_frames(sent[datasets[3].SOPInstanceUID])
        for number, expected in enumerate(frames, start=1):
            answer = session.get(
                f"{url_b}/dicom-web/studies/{study_uid}/series/{datasets[3].SeriesInstanceUID}"
                f"/instances/{datasets[3].SOPInstanceUID}/frames/{number}",
                headers={"Accept": "multipart/related; type=application/octet-stream"},
                timeout=30,
            )
            assert answer.status_code == 200
            assert expected in answer.content  # the one part's payload, byte for byte
        for ds in datasets:
            answer = session.get(
                f"{url_b}/wado",
                params={
                    "requestType": "WADO",
                    "studyUID": study_uid,
                    "seriesUID": ds.SeriesInstanceUID,
                    "objectUID": ds.SOPInstanceUID,
                    "contentType": "application/dicom",
                },
                timeout=30,
            )
            assert answer.content == sent[ds.SOPInstanceUID]
    finally:
        for host in hosts:
            host.stop()
    for host in hosts:
        assert host.dicom_files() == [], f"{host.name} kept DICOM files in its own folder"


def multiframe_frames(data: bytes) -> list[bytes]:
    ds = pydicom.dcmread(io.BytesIO(data))
    size = len(ds.PixelData) // int(ds.NumberOfFrames)
    return [ds.PixelData[i * size : (i + 1) * size] for i in range(int(ds.NumberOfFrames))]
