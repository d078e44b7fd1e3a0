"""multipart/related bodies as PS3.18 §8.6 uses them, on bytes only: no HTTP, no models."""

import secrets
from collections.abc import Iterable, Iterator


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
