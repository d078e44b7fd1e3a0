"""multipart/related bodies as PS3.18 §8.6 uses them, on bytes only: no HTTP, no models."""

import secrets
from collections.abc import Iterable, Iterator
from email.message import Message
from typing import BinaryIO


def new_boundary() -> str:
    """A fresh random boundary per response; it cannot occur by chance in DICOM payloads."""
    return f"ohifsite-{secrets.token_hex(16)}"


def encode(parts: Iterable[tuple[str, Iterable[bytes]]], boundary: str) -> Iterator[bytes]:
    """Yield a multipart/related body: each part is (content type, chunks of its payload).

    Payloads are streamed chunk by chunk, so a study of any size is never held in memory.
    """
    delimiter = f"--{boundary}\r\n".encode()
    for content_type, chunks in parts:
        yield delimiter + f"Content-Type: {content_type}\r\n\r\n".encode()
        yield from chunks
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


# --- decoding ------------------------------------------------------------------------------

# Read the body a megabyte at a time: gunicorn reads ahead up to 1 MiB per recv() and copies
# what the application did not take yet back into its buffer on every read, so 256 KiB reads
# copied each byte several times over (STOW with four clients: 228-234 instances/s, against
# 268-295 with 1 MiB reads and 237-259 with 4 MiB).
CHUNK = 1024 * 1024
# Part headers are a few lines; anything longer is not a DICOMweb client talking.
MAX_HEADER_BYTES = 16 * 1024


class MalformedMultipart(ValueError):
    """The body is not a well-formed multipart message (RFC 2046 §5.1.1)."""


def boundary_of(content_type: str) -> str:
    """The ``boundary`` parameter of a Content-Type header, quoted or not.

    Raises ``MalformedMultipart`` when it is missing, empty or longer than RFC 2046's 70
    characters.
    """
    message = Message()
    message["Content-Type"] = content_type
    boundary = message.get_param("boundary")
    if isinstance(boundary, tuple):  # RFC 2231 encoded: (charset, language, value)
        boundary = boundary[2]
    if not boundary:
        raise MalformedMultipart("the Content-Type has no boundary parameter")
    if len(boundary) > 70:
        raise MalformedMultipart("the boundary is longer than 70 characters")
    return boundary


class Part:
    """One body part: its headers (names lower-cased) and a ``read()`` over its payload.

    The payload is read straight from the request stream, so it must be consumed (or skipped)
    before the next part is asked for; ``decode`` skips what was left unread.
    """

    def __init__(self, headers: dict[str, str], decoder: "_Decoder"):
        self.headers = headers
        self._decoder = decoder
        self._pending = b""
        self.finished = False

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of payload (all of it when negative); b"" at the end."""
        out = bytearray(self._pending)
        self._pending = b""
        while (size < 0 or len(out) < size) and not self.finished:
            chunk = self._decoder.body_chunk()
            if chunk is None:
                self.finished = True
            else:
                out += chunk
        if 0 <= size < len(out):
            self._pending = bytes(out[size:])
            del out[size:]
        return bytes(out)

    def skip(self) -> None:
        self._pending = b""
        while not self.finished:
            if self._decoder.body_chunk() is None:
                self.finished = True


def decode(source: BinaryIO, boundary: str, chunk_size: int = CHUNK) -> Iterator[Part]:
    """Yield the parts of a multipart body as they arrive, never holding a whole payload.

    The preamble before the first delimiter and the epilogue after the close delimiter are
    ignored, as RFC 2046 requires. Raises ``MalformedMultipart`` for a body without any
    delimiter, a part whose headers do not end in a blank line, or a body that ends before
    the close delimiter (a truncated part).
    """
    decoder = _Decoder(source, f"--{boundary}".encode(), chunk_size)
    decoder.skip_preamble()
    while decoder.next_part_follows():
        part = Part(decoder.part_headers(), decoder)
        yield part
        part.skip()


class _Decoder:
    """The state of one body being read: a small look-ahead buffer over the source."""

    def __init__(self, source: BinaryIO, delimiter: bytes, chunk_size: int):
        self.source = source
        self.delimiter = delimiter
        # Inside a payload the delimiter is always preceded by CRLF (RFC 2046).
        self.marker = b"\r\n" + delimiter
        self.chunk_size = chunk_size
        # A CRLF in front lets a delimiter on the very first line match the marker.
        self.buffer = bytearray(b"\r\n")
        self.eof = False
        self.in_body = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.source.read(self.chunk_size)
        if not chunk:
            self.eof = True
            return False
        self.buffer += chunk
        return True

    def skip_preamble(self) -> None:
        while (at := self.buffer.find(self.marker)) < 0:
            # Keep a tail that may be the start of a marker split across two reads.
            del self.buffer[: max(0, len(self.buffer) - len(self.marker) + 1)]
            if not self._fill():
                raise MalformedMultipart("the body contains no boundary delimiter")
        del self.buffer[: at + len(self.marker)]

    def next_part_follows(self) -> bool:
        """After a delimiter: ``--`` closes the body; otherwise padding and CRLF open a part."""
        while True:
            if self.buffer.startswith(b"--"):
                return False
            line_end = self.buffer.find(b"\r\n")
            if line_end >= 0:
                padding = bytes(self.buffer[:line_end])
                if padding.strip(b" \t"):
                    raise MalformedMultipart("unexpected characters after a boundary delimiter")
                del self.buffer[: line_end + 2]
                return True
            if len(self.buffer) > 1024:
                raise MalformedMultipart("a boundary delimiter is not followed by CRLF")
            if not self._fill():
                raise MalformedMultipart("the body ends after a delimiter (truncated)")

    def part_headers(self) -> dict[str, str]:
        while True:
            if self.buffer.startswith(b"\r\n"):  # a part without headers
                end, block = 2, b""
                break
            at = self.buffer.find(b"\r\n\r\n")
            if at >= 0:
                end, block = at + 4, bytes(self.buffer[:at])
                break
            if len(self.buffer) > MAX_HEADER_BYTES:
                raise MalformedMultipart("part headers are too long or not ended by CRLFCRLF")
            if not self._fill():
                if not self.buffer:
                    raise MalformedMultipart("the body ends after a delimiter (truncated)")
                raise MalformedMultipart("part headers are not ended by a blank line (CRLFCRLF)")
        del self.buffer[:end]
        self.in_body = True
        return _parse_headers(block)

    def body_chunk(self) -> bytes | None:
        """The next piece of the current payload, or None once its delimiter was consumed."""
        if not self.in_body:
            return None
        while True:
            at = self.buffer.find(self.marker)
            if at >= 0:
                chunk = bytes(self.buffer[:at])
                del self.buffer[: at + len(self.marker)]
                self.in_body = False
                return chunk
            # Everything but a possible partial marker at the end is payload.
            safe = len(self.buffer) - len(self.marker) + 1
            if safe > 0:
                chunk = bytes(self.buffer[:safe])
                del self.buffer[:safe]
                return chunk
            if not self._fill():
                raise MalformedMultipart("the body ends inside a part (truncated)")


def _parse_headers(block: bytes) -> dict[str, str]:
    headers = {}
    if not block:
        return headers
    for line in block.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon or not name.strip():
            raise MalformedMultipart(f"malformed part header line: {line[:80]!r}")
        headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return headers
