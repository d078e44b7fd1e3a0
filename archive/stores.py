"""Where stored files' bytes are read, written and deleted: the folder DICOM_STORAGE_DIR or an
S3-compatible bucket (STORAGE_BACKEND). Everything is addressed by the file's key, its path
relative to the store (``Instance.file_path``, or a rendition's path beside it).

The folder is what one host shares between its processes; the bucket lets web and worker
hosts share nothing but the database, the broker and the bucket. Reads are shaped for the
bucket too: a frame is one ranged GET of the byte offsets recorded at ingest, a whole file a
stream, and a parse (caches, transcoding, rendering) one download to a local temporary file.
Failing to reach the bucket raises ``StorageUnavailable`` (an ``OSError``): web requests
answer 503, stores 0xA700. Knows nothing of DICOM, HTTP or Celery.
"""

import base64
import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from . import frames, storage

CHUNK = 1024 * 1024
Pieces = Iterable[tuple[int, int]]  # (offset, length) byte ranges, in order


class StorageUnavailable(OSError):
    """The bucket cannot be reached or refuses to serve (connection, timeout, 5xx, access)."""

    def __init__(self, detail: str):
        super().__init__(f"object storage unavailable: {detail}")
        self.strerror = f"object storage unavailable: {detail}"


class FolderStore:
    """Files under DICOM_STORAGE_DIR, placed by ``storage.place_many`` (atomic rename, fsync)."""

    name = "filesystem"

    def place_many(self, files: list[tuple[storage.Spooled, str]]) -> None:
        storage.place_many(files)

    def prepare(self, files: list[tuple[storage.Spooled, str]]) -> None:
        """Before the transaction that places them: their folders made, their bytes and the
        folders' entries on disk (``storage.prepare``)."""
        storage.prepare(files)

    def local_path(self, key: str) -> Path:
        return storage.root() / key

    def open(self, key: str) -> BinaryIO:
        return open(self.local_path(key), "rb")  # noqa: SIM115 the caller closes it

    def read_pieces(self, key: str, pieces: Pieces) -> bytes:
        return frames.read(self.local_path(key), pieces)

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        yield self.local_path(key)

    def size(self, key: str) -> int | None:
        try:
            return self.local_path(key).stat().st_size
        except FileNotFoundError:
            return None

    def sha256(self, key: str) -> str:
        return storage.hash_file(self.local_path(key)).sha256

    def stamp(self, key: str) -> tuple | None:
        """What changes when the file is replaced (inode, size, mtime); None when absent."""
        try:
            found = os.stat(self.local_path(key))
        except OSError:
            return None
        return (found.st_ino, found.st_size, found.st_mtime_ns)

    def delete(self, key: str) -> None:
        storage.delete(key)

    def delete_many(self, keys: list[str]) -> None:
        for key in keys:
            storage.delete(key)


class BucketStore:
    """Objects in S3_BUCKET under S3_PREFIX, through boto3 (one client per process)."""

    name = "s3"

    def __init__(self):
        self.bucket = settings.S3_BUCKET
        self.prefix = settings.S3_PREFIX
        self.client = _client()

    def object_key(self, key: str) -> str:
        return self.prefix + key

    def prepare(self, files: list[tuple[storage.Spooled, str]]) -> None:
        """Nothing to do before the transaction: uploads are verified as they are placed."""

    def place_many(self, files: list[tuple[storage.Spooled, str]]) -> None:
        """Upload every file, verified, or none: when one fails, those already up are deleted
        and the error raised. The spooled files are removed once all are up, as a rename
        would have done."""
        if not files:
            return
        results = list(_pool().map(lambda one: _attempt(self.upload, *one), files))
        failed = [exc for exc in results if exc is not None]
        if failed:
            done = [key for (_, key), exc in zip(files, results, strict=True) if exc is None]
            with contextlib.suppress(OSError):
                self.delete_many(done)
            raise failed[0]
        for spooled, _ in files:
            storage.discard(spooled.path)

    def upload(self, spooled: storage.Spooled, key: str) -> None:
        """One file, checked against the size and SHA-256 taken while it was spooled: a single
        PUT carries the SHA-256, which the service verifies before it keeps the object (a
        differing body is refused with BadDigest, so the object is exactly these bytes and
        needs no HEAD after it); a multipart upload (large files) is read back and hashed. A
        failed multipart upload is aborted, so no parts are left behind."""
        name = self.object_key(key)
        if spooled.size < settings.S3_MULTIPART_THRESHOLD:
            with _errors(key), open(spooled.path, "rb") as body:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=name,
                    Body=body,
                    ContentLength=spooled.size,
                    ChecksumSHA256=base64.b64encode(bytes.fromhex(spooled.sha256)).decode(),
                )
            return
        from boto3.s3.transfer import TransferConfig

        part = settings.S3_MULTIPART_THRESHOLD
        config = TransferConfig(multipart_threshold=part, multipart_chunksize=part)
        with _errors(key):
            self.client.upload_file(str(spooled.path), self.bucket, name, Config=config)
            stored = self.size(key)
        if stored != spooled.size:
            raise StorageUnavailable(f"{key}: {stored} bytes stored, {spooled.size} sent")
        if self.sha256(key) != spooled.sha256:
            with contextlib.suppress(OSError):
                self.delete(key)
            raise StorageUnavailable(f"{key}: SHA-256 of the stored object differs")

    def open(self, key: str) -> BinaryIO:
        """The object's body as a stream; the GET is made here, so a missing object or an
        unreachable bucket fails now, before a response starts."""
        with _errors(key):
            return self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"]

    def read_pieces(self, key: str, pieces: Pieces) -> bytes:
        """The pieces with one ranged GET spanning them (a frame's fragments are adjacent)."""
        pieces = list(pieces)
        start = min(offset for offset, _ in pieces)
        end = max(offset + length for offset, length in pieces)
        with _errors(key):
            answer = self.client.get_object(
                Bucket=self.bucket, Key=self.object_key(key), Range=f"bytes={start}-{end - 1}"
            )
            span = answer["Body"].read()
        return b"".join(span[offset - start : offset - start + length] for offset, length in pieces)

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """The object downloaded once (one GET) to a temporary file, removed afterwards."""
        folder = Path(settings.FILE_UPLOAD_TEMP_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, suffix=".dcm")
        try:
            with os.fdopen(fd, "wb") as out, self.open(key) as body, _errors(key):
                while chunk := body.read(CHUNK):
                    out.write(chunk)
            yield Path(name)
        finally:
            os.unlink(name)

    def sha256(self, key: str) -> str:
        digest = hashlib.sha256()
        with self.open(key) as body, _errors(key):
            while chunk := body.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def size(self, key: str) -> int | None:
        try:
            with _errors(key):
                return self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))[
                    "ContentLength"
                ]
        except FileNotFoundError:
            return None

    def stamp(self, key: str) -> None:
        """No cheap way to see a replaced object (a HEAD costs as much as the row lookup it
        would save): rows are looked up every time."""
        return None

    def delete(self, key: str) -> None:
        self.delete_many([key])

    def delete_many(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # the most one DeleteObjects request takes
            batch = keys[start : start + 1000]
            with _errors(batch[0]):
                answer = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": self.object_key(k)} for k in batch], "Quiet": True},
                )
            if errors := answer.get("Errors"):
                raise StorageUnavailable(f"{errors[0].get('Key')}: {errors[0].get('Message')}")


class CopyMismatch(Exception):
    """The bytes read or written are not those the index names (size and SHA-256)."""


def copy_verified(source, target, key: str, size: int, sha256: str) -> bool:
    """Copy one file from ``source`` to ``target`` unless the target holds exactly these bytes
    already; returns whether it copied. The copy is hashed on the way and the target read back
    and hashed, so what ends there is what the index says (else ``CopyMismatch``)."""
    if target.size(key) == size and target.sha256(key) == sha256:
        return False
    with source.open(key) as body:
        spooled = storage.spool(body)
    try:
        if (spooled.size, spooled.sha256) != (size, sha256):
            raise CopyMismatch(f"{key}: the {source.name} copy differs from the index")
        target.place_many([(spooled, key)])
    finally:
        storage.discard(spooled.path)
    if target.size(key) != size or target.sha256(key) != sha256:
        raise CopyMismatch(f"{key}: the {target.name} copy differs from the index")
    return True


def current() -> FolderStore | BucketStore:
    """The store STORAGE_BACKEND names (read each time: tests switch it)."""
    return BucketStore() if settings.STORAGE_BACKEND == "s3" else FolderStore()


def _attempt(function, *args) -> BaseException | None:
    try:
        function(*args)
    except OSError as exc:
        return exc
    return None


@contextlib.contextmanager
def _errors(key: str):
    """botocore's exceptions as the ones a filesystem raises: FileNotFoundError for a missing
    object, StorageUnavailable for everything that says the bucket cannot serve."""
    from botocore.exceptions import BotoCoreError, ClientError
    from urllib3.exceptions import HTTPError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if error.get("Code") in ("NoSuchKey", "404", "NotFound") or status == 404:
            raise FileNotFoundError(f"no object {key}") from exc
        detail = f"{error.get('Code', status)}: {error.get('Message', '')}"
        raise StorageUnavailable(detail) from exc
    except (BotoCoreError, HTTPError) as exc:
        raise StorageUnavailable(str(exc)) from exc


_clients: dict[tuple, object] = {}
_pools: dict[int, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def _client():
    """One boto3 client per process and configuration (clients are thread-safe; a forked
    child makes its own, as a client's connections cannot be shared across a fork)."""
    import boto3
    from botocore.config import Config

    endpoint = settings.S3_ENDPOINT_URL or None
    key = (os.getpid(), endpoint, settings.S3_REGION, settings.S3_TIMEOUT)
    with _lock:
        if key not in _clients:
            config = Config(
                region_name=settings.S3_REGION,
                connect_timeout=min(settings.S3_TIMEOUT, 3),
                read_timeout=settings.S3_TIMEOUT,
                retries={"max_attempts": 2, "mode": "standard"},
                max_pool_connections=32,
                s3={
                    # Path-style addressing for a service of one's own (MinIO, SeaweedFS,
                    # Ceph): its host name is not a wildcard DNS zone as AWS's is.
                    "addressing_style": "path" if endpoint else "auto",
                    # No second SHA-256 of every body for the signature (botocore's default
                    # on an http:// endpoint): a PUT carries its signed x-amz-checksum-sha256,
                    # which the service checks against the body, and parts their checksums.
                    # (Measured: about 0.5 ms of CPU less for each 0.5 MB CT slice.)
                    "payload_signing_enabled": False,
                },
            )
            _clients[key] = boto3.session.Session().client(
                "s3", endpoint_url=endpoint, config=config
            )
        return _clients[key]


def _pool() -> ThreadPoolExecutor:
    pid = os.getpid()
    with _lock:
        if pid not in _pools:
            _pools[pid] = ThreadPoolExecutor(max_workers=8, thread_name_prefix="s3-upload")
        return _pools[pid]
