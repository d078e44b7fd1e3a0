"""DRF parsers for the bodies STOW-RS clients send, one media type per class.

A parser turns the request stream into spooled files in ``storage.incoming_dir()``, written as
the bytes arrive (a 2 GB upload never sits in memory), and knows nothing of models or ingest.
The whole body is read before anything is stored: a malformed or oversized body leaves
nothing behind.
"""

from dataclasses import dataclass
from email.message import Message

from django.conf import settings
from rest_framework.exceptions import APIException, ParseError, UnsupportedMediaType
from rest_framework.parsers import BaseParser

from .. import storage
from . import multipart

DICOM = "application/dicom"


def _over_limit(exc: storage.TooLarge) -> str:
    return f"the body is larger than the limit of {exc.limit} bytes (STOW_MAX_BYTES)"


class RequestTooLarge(APIException):
    status_code = 413
    default_detail = "the request body is larger than STOW_MAX_BYTES"
    default_code = "request_too_large"


@dataclass(frozen=True)
class SpooledPart:
    """A part written to the spool, or the error that kept it from being written (a full
    disk): the store answers for that part, and the rest of the request is still read."""

    content_type: str
    spooled: storage.Spooled | None
    error: OSError | None = None


class SpooledParts(list):
    """The parts of one request, in order. Whoever ingests a part takes ownership of its
    file; ``discard()`` removes whatever is left."""

    def discard(self) -> None:
        for part in self:
            if part.spooled is not None:
                storage.discard(part.spooled.path)


class MultipartRelatedParser(BaseParser):
    """``multipart/related; type="application/dicom"`` (PS3.18 §8.6.1.2), boundary quoted or
    not; other parameters (``transfer-syntax``, ``start``) are ignored. A missing ``type`` is
    tolerated; any other root type is refused with 415."""

    media_type = "multipart/related"

    def parse(self, stream, media_type=None, parser_context=None):
        root_type = _param(media_type, "type")
        if root_type and root_type.lower() != DICOM:
            raise UnsupportedMediaType(
                media_type, detail=f'only type="{DICOM}" is accepted, not type="{root_type}"'
            )
        try:
            boundary = multipart.boundary_of(media_type)
        except multipart.MalformedMultipart as exc:
            raise ParseError(f"malformed multipart/related request: {exc}") from None
        source = _limited(stream, parser_context)
        parts = SpooledParts()
        try:
            for part in multipart.decode(source, boundary):
                if len(parts) >= settings.STOW_MAX_PARTS:
                    raise RequestTooLarge(
                        f"more than {settings.STOW_MAX_PARTS} parts in one request "
                        "(STOW_MAX_PARTS): send the instances in several requests"
                    )
                parts.append(_spool_part(part.content_type, part))
        except multipart.MalformedMultipart as exc:
            parts.discard()
            raise ParseError(f"malformed multipart/related body: {exc}") from None
        except storage.TooLarge as exc:
            parts.discard()
            raise RequestTooLarge(_over_limit(exc)) from None
        except BaseException:
            parts.discard()
            raise
        if not parts:
            raise ParseError("the multipart/related body has no parts")
        return parts


class DicomParser(BaseParser):
    """A bare ``application/dicom`` body: one instance without multipart framing (accepted
    by several archives; convenient for ``curl --data-binary @file.dcm``)."""

    media_type = DICOM

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return SpooledParts([_spool_part(DICOM, _limited(stream, parser_context))])
        except storage.TooLarge as exc:
            raise RequestTooLarge(_over_limit(exc)) from None


def _spool_part(content_type: str, source) -> SpooledPart:
    """Spool one part; should the archive's disk refuse it, the part's bytes are still read
    to its end, so the request can be answered part by part."""
    try:
        return SpooledPart(content_type, storage.spool(_WithPreamble(source)))
    except OSError as exc:
        while source.read(storage.CHUNK):
            pass
        return SpooledPart(content_type, None, exc)


def chunked_body(request):
    """The request's body stream when it came chunked (no Content-Length) through a server
    that decodes chunking and says so with ``wsgi.input_terminated`` (gunicorn, mod_wsgi);
    None otherwise. Django reads only Content-Length bytes, so without this a chunked STOW
    (dicomweb-client sends bodies over 1 MB that way) would look empty."""
    meta = request.META
    if meta.get("CONTENT_LENGTH") or not meta.get("wsgi.input_terminated"):
        return None
    if "chunked" not in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    return meta["wsgi.input"]


def _param(content_type: str, name: str) -> str:
    message = Message()
    message["Content-Type"] = content_type or ""
    value = message.get_param(name)
    if isinstance(value, tuple):
        value = value[2]
    return value or ""


def _limited(stream, parser_context):
    """Refuse a body over STOW_MAX_BYTES: by its Content-Length before reading a byte, and
    by counting while reading, for clients that announce less than they send."""
    limit = settings.STOW_MAX_BYTES
    meta = parser_context["request"].META if parser_context else {}
    try:
        announced = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ParseError("Content-Length is not a number") from None
    if announced > limit:
        raise RequestTooLarge(f"the body has {announced} bytes; the limit is {limit}")
    return storage.LimitedReader(stream, limit)


class _WithPreamble:
    """A payload as a DICOM file (PS3.10): the 128-byte preamble and ``DICM`` are added when a
    client sent the file meta group without them, as dicomweb-client does with pydicom 3
    (``dcmwrite`` of a dataset read from no file). Anything else passes through unchanged."""

    def __init__(self, source):
        self.source = source
        head = b""
        while len(head) < 132 and (chunk := source.read(132 - len(head))):
            head += chunk
        if head[128:132] != b"DICM" and head.startswith(b"\x02\x00") and len(head) > 8:
            head = bytes(128) + b"DICM" + head
        self.head = head

    def read(self, size: int = -1) -> bytes:
        if self.head:
            if 0 <= size < len(self.head):
                out, self.head = self.head[:size], self.head[size:]
                return out
            out, self.head = self.head, b""
            rest = self.source.read(-1 if size < 0 else size - len(out))
            return out + rest
        return self.source.read(size)
