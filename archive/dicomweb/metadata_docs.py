"""WADO-RS metadata documents with the DICOMweb root of the request filled in.

The caches hold each series' DICOM JSON gzipped, with ``caches.BASE_PLACEHOLDER`` where the
absolute DICOMweb root belongs. Substituting it means inflating and deflating the document
(tens of milliseconds for a 300-slice CT), so the result is kept in Django's cache per
(document, root): the next request for the same series behind the same host is one cache read.
The key hashes the gzip bytes themselves, so a rebuilt cache can never be served stale.
Knows nothing of HTTP beyond the root string it is given.
"""

import gzip
import hashlib
import json

from django.core.cache import cache

# A day: entries are keyed by content, so expiry only bounds memory, never correctness.
TIMEOUT = 24 * 3600


def placeholder() -> bytes:
    from archive import caches

    return caches.BASE_PLACEHOLDER.encode()


def series_document(gzipped: list[bytes], base: str) -> bytes:
    """One JSON array (gzipped) made of the given series arrays, in order, with ``base`` in.

    One series for series metadata; every series of the study for study metadata.
    """
    digest = hashlib.blake2b(base.encode(), digest_size=20)
    for doc in gzipped:
        digest.update(len(doc).to_bytes(8, "big"))
        digest.update(doc)
    key = f"wado-metadata:{digest.hexdigest()}"
    document = cache.get(key)
    if document is None:
        document = gzip.compress(_joined(gzipped, base), compresslevel=5, mtime=0)
        cache.set(key, document, TIMEOUT)
    return document


def instance_document(metadata: dict, base: str) -> bytes:
    """One instance's DICOM JSON object, as the one-element array PS3.18 asks for."""
    text = json.dumps([metadata], ensure_ascii=False, separators=(",", ":")).encode()
    return text.replace(placeholder(), _json_escaped(base))


def _joined(gzipped: list[bytes], base: str) -> bytes:
    bodies = []
    for doc in gzipped:
        body = gzip.decompress(doc).strip()
        if body.startswith(b"[") and body.endswith(b"]"):
            body = body[1:-1].strip()
        if body:
            bodies.append(body)
    return (b"[" + b",".join(bodies) + b"]").replace(placeholder(), _json_escaped(base))


def _json_escaped(base: str) -> bytes:
    """The root as it may appear inside a JSON string (a host cannot hold quotes, but a
    forwarded header is client input)."""
    return json.dumps(base, ensure_ascii=False)[1:-1].encode()
