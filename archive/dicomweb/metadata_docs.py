"""WADO-RS metadata documents with the DICOMweb root of the request filled in.

The caches hold each series' DICOM JSON gzipped, with ``caches.BASE_PLACEHOLDER`` where the
absolute DICOMweb root belongs. Substituting it means inflating and deflating the document
(tens of milliseconds for a 300-slice CT), so the result is kept in Django's cache per
(series, generation, root): the next request for the same series behind the same host costs
one cache read and no read of the stored document. Only fresh documents (built for the study's
current generation) are kept this way, so a study that gains or loses an instance gets a new
key at once. Knows nothing of HTTP beyond the root string it is given.
"""

import gzip
import hashlib
import json

from django.core.cache import cache

from archive import caches
from archive.models import Series

# Bounds how long a document re-extracted without a generation change (rebuild_caches
# --all, a new DICOM JSON format) may still be served in its previous form.
TIMEOUT = 600


def etag(series: list[Series], base: str) -> str | None:
    """A weak ETag for the document, when its series are fresh: it changes with the study's
    generation and the root, so a client revalidating gets 304 until the study changes."""
    if not _fresh(series):
        return None
    return f'W/"{_key(series, base).removeprefix("wado-metadata:")}"'


def series_document(series: list[Series], base: str) -> bytes:
    """One JSON array (gzipped) made of the given series' arrays, in order, ``base`` filled in.

    One series for series metadata; every series of the study for study metadata. Each
    ``Series`` must come with its study loaded (``select_related``).
    """
    key = _key(series, base) if _fresh(series) else None
    document = cache.get(key) if key else None
    if document is None:
        document = gzip.compress(
            _joined([caches.series_metadata(row) for row in series], base),
            compresslevel=5,
            mtime=0,
        )
        if key:
            cache.set(key, document, TIMEOUT)
    return document


def instance_document(metadata: dict, base: str) -> bytes:
    """One instance's DICOM JSON object, as the one-element array PS3.18 asks for."""
    text = json.dumps([metadata], ensure_ascii=False, separators=(",", ":")).encode()
    return text.replace(caches.BASE_PLACEHOLDER.encode(), _json_escaped(base))


def _fresh(series: list[Series]) -> bool:
    return all(
        row.metadata_generation is not None and row.metadata_generation == row.study.generation
        for row in series
    )


def _key(series: list[Series], base: str) -> str:
    digest = hashlib.blake2b(base.encode(), digest_size=20)
    for row in series:
        digest.update(f"|{row.pk}:{row.metadata_generation}".encode())
    return f"wado-metadata:{digest.hexdigest()}"


def _joined(gzipped: list[bytes], base: str) -> bytes:
    bodies = []
    for doc in gzipped:
        body = gzip.decompress(doc).strip()
        if body.startswith(b"[") and body.endswith(b"]"):
            body = body[1:-1].strip()
        if body:
            bodies.append(body)
    joined = b"[" + b",".join(bodies) + b"]"
    return joined.replace(caches.BASE_PLACEHOLDER.encode(), _json_escaped(base))


def _json_escaped(base: str) -> bytes:
    """The root as it may appear inside a JSON string (a host cannot hold quotes, but a
    forwarded header is client input)."""
    return json.dumps(base, ensure_ascii=False)[1:-1].encode()
