"""HTTP byte ranges (RFC 9110 §14) on frames and bulk data.

Cornerstone's progressive loading asks for the first bytes of an HTJ2K frame with ``Range``,
shows the low-resolution image they decode to, then asks for the rest and appends it to what
it has. So a ranged answer must be a slice of the very bytes a full answer would carry:
frame answers name their multipart boundary after their ETag, not at random.

``parse`` is pure; ``partial`` turns a complete answer into 206 (one range: the slice with
``Content-Range``; several: ``multipart/byteranges``) or 416. A Range header that cannot be
parsed, in another unit, or guarded by an ``If-Range`` that does not match is ignored, as the
RFC asks: the client gets the whole answer.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from django.http import HttpResponse
from django.utils.http import parse_etags

from . import multipart

# More ranges than this in one request is not a viewer fetching a frame: answered whole, so a
# header of thousands of tiny ranges cannot make the server write thousands of parts.
MAX_RANGES = 32


class Unsatisfiable(ValueError):
    """No range of the header lies within the representation: 416."""


@dataclass(frozen=True)
class Span:
    start: int
    end: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, total: int) -> str:
        return f"bytes {self.start}-{self.end}/{total}"


def parse(header: str | None, total: int) -> list[Span] | None:
    """The spans a ``Range`` header asks of ``total`` bytes, in the order asked, overlapping
    ones merged; None when the header is absent, malformed or not in bytes (answer whole).
    Raises ``Unsatisfiable`` when the ranges are well formed but none lies within the bytes."""
    if not header:
        return None
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes" or not specs.strip():
        return None
    items = [item.strip() for item in specs.split(",") if item.strip()]
    if not items or len(items) > MAX_RANGES:
        return None
    spans = []
    for item in items:
        first, dash, last = item.partition("-")
        first, last = first.strip(), last.strip()
        if not dash or not (first.isdigit() or (not first and last.isdigit())):
            return None
        if last and not last.isdigit():
            return None
        if not first:  # suffix: the last N bytes
            if int(last) == 0:
                continue
            spans.append(Span(max(total - int(last), 0), total - 1))
            continue
        start = int(first)
        end = int(last) if last else total - 1
        if last and end < start:
            return None  # RFC 9110: a last position below the first is invalid, not empty
        if start < total:
            spans.append(Span(start, min(end, total - 1)))
    if not spans or total == 0:
        raise Unsatisfiable(f"no range within the {total} bytes")
    return _merged(spans)


def _merged(spans: list[Span]) -> list[Span]:
    """Overlapping or adjacent spans as one, so a part never repeats bytes of another."""
    if len(spans) == 1:
        return spans
    ordered = sorted(spans, key=lambda s: s.start)
    out = [ordered[0]]
    for span in ordered[1:]:
        if span.start <= out[-1].end + 1:
            out[-1] = Span(out[-1].start, max(out[-1].end, span.end))
        else:
            out.append(span)
    return out


def stable_boundary(etag: str) -> str:
    """A boundary that is the same for every answer with this ETag, so that ranges of two
    requests are slices of one body. Made of the ETag's hex digits: it cannot collide with a
    boundary the payloads contain by chance any more than a random one."""
    digits = "".join(c for c in etag if c in "0123456789abcdef")
    return f"ohifsite-{digits[:32]}"


def partial(request, response: HttpResponse, *, etag: str | None = None) -> HttpResponse:
    """``response`` (a complete 200 answer) cut to the ``Range`` the request asks, or as it is.

    ``Accept-Ranges: bytes`` is set either way. Streamed answers (a video's stream) are sent
    whole and say ``Accept-Ranges: none`` (the RFC allows ignoring Range)."""
    if getattr(response, "streaming", False):
        response["Accept-Ranges"] = "none"
        return response
    response["Accept-Ranges"] = "bytes"
    header = request.headers.get("Range")
    if not header or response.status_code != 200 or request.method not in ("GET", "HEAD"):
        return response
    if not _if_range_holds(request.headers.get("If-Range"), etag):
        return response
    body = response.content
    try:
        spans = parse(header, len(body))
    except Unsatisfiable as exc:
        return _unsatisfiable(response, len(body), str(exc))
    if spans is None:
        return response
    content_type = response["Content-Type"]
    if len(spans) == 1:
        span = spans[0]
        cut = HttpResponse(body[span.start : span.end + 1], status=206, content_type=content_type)
        cut["Content-Range"] = span.content_range(len(body))
    else:
        boundary = multipart.new_boundary()
        chunks = b"".join(_byteranges(body, spans, content_type, boundary))
        cut = HttpResponse(
            chunks, status=206, content_type=f"multipart/byteranges; boundary={boundary}"
        )
    cut["Content-Length"] = str(len(cut.content))
    _copy_headers(response, cut)
    return cut


def _byteranges(body: bytes, spans: list[Span], content_type: str, boundary: str) -> Iterator:
    """RFC 9110 §14.6: one part per span, each with its Content-Type and Content-Range."""
    for span in spans:
        yield (
            f"--{boundary}\r\nContent-Type: {content_type}\r\n"
            f"Content-Range: {span.content_range(len(body))}\r\n\r\n"
        ).encode()
        yield body[span.start : span.end + 1]
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def _unsatisfiable(response: HttpResponse, total: int, why: str) -> HttpResponse:
    answer = HttpResponse(
        f'{{"detail": "Range not satisfiable: {why}"}}'.encode(),
        status=416,
        content_type="application/json",
    )
    answer["Content-Range"] = f"bytes */{total}"
    _copy_headers(response, answer)
    return answer


def _if_range_holds(if_range: str | None, etag: str | None) -> bool:
    """If-Range needs a strong match (RFC 9110 §13.1.5): our ETags are weak, so any If-Range
    means the client's copy may differ and it gets the whole answer."""
    if not if_range:
        return True
    tags = parse_etags(if_range)
    return bool(etag) and not etag.startswith("W/") and etag in tags


def _copy_headers(source: HttpResponse, target: HttpResponse) -> None:
    for name in ("ETag", "Cache-Control", "Vary", "Accept-Ranges"):
        if source.has_header(name):
            target[name] = source[name]
