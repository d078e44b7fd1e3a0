"""The one owner of temporary files: every byte an arrival brings is copied into the spool
(``storage.incoming_dir()``) by a ``Spool``, and whatever the ``Spool`` holds when it closes is
deleted. Placing a file moves it out of the spool, so what is left at the end is exactly what
was not stored, whatever happened in between (a rejection, an error, an interrupt).
"""

from .. import storage
from .arrival import Arrival
from .outcome import CANNOT_UNDERSTAND, NOT_DICOM, IngestResult, failure_of, rejected


class SourceUnreadable(Exception):
    """The arrival's own bytes could not be read (a damaged zip member, an unreadable file)."""


class Spool:
    def __init__(self):
        self._paths = []

    def __enter__(self) -> "Spool":
        return self

    def __exit__(self, *exc_info) -> None:
        for path in self._paths:
            storage.discard(path)
        self._paths.clear()

    def own(self, path) -> None:
        """Own a temporary file that is not an arrival itself (an uploaded zip)."""
        self._paths.append(path)

    def adopt(self, arrival: Arrival) -> None:
        """Own an arrival's file that is already in the spool, before anything can fail."""
        if arrival.spooled is not None:
            self._paths.append(arrival.spooled.path)

    def take(self, arrival: Arrival) -> storage.Spooled | IngestResult:
        """The arrival's bytes in a spooled file this spool owns, or why there are none."""
        if arrival.spooled is not None:
            return arrival.spooled
        if arrival.error is not None:
            return rejected(*failure_of(arrival.error))
        try:
            with _opened(arrival) as source:
                reader = _DicomHead(_Reader(source))
                if arrival.max_bytes is not None:
                    reader = storage.LimitedReader(reader, arrival.max_bytes)
                spooled = storage.spool(reader)
        except storage.TooLarge as exc:
            return rejected(f"larger than the upload limit of {human_size(exc.limit)}")
        except _NotDicom:
            return rejected(NOT_DICOM)
        except SourceUnreadable as exc:
            return rejected(f"cannot be read: {exc}", CANNOT_UNDERSTAND)
        except OSError as exc:
            return rejected(*failure_of(exc))
        self._paths.append(spooled.path)
        return spooled


class _opened:
    """``arrival.opener()`` with its failures (and only those) marked as the source's."""

    def __init__(self, arrival: Arrival):
        self._arrival = arrival
        self._context = None

    def __enter__(self):
        try:
            self._context = self._arrival.opener()
            return self._context.__enter__()
        except (storage.TooLarge, SourceUnreadable):
            raise
        except Exception as exc:
            raise SourceUnreadable(_describe(exc)) from exc

    def __exit__(self, *exc_info):
        return self._context.__exit__(*exc_info)


class _Reader:
    """A source whose read errors are the source's, not the spool's: a zip member whose
    inflation fails must not be reported as a full disk."""

    def __init__(self, source):
        self._source = source

    def read(self, size: int = -1) -> bytes:
        try:
            return self._source.read(size)
        except Exception as exc:
            raise SourceUnreadable(_describe(exc)) from exc


class _NotDicom(Exception):
    pass


class _DicomHead:
    """Stops at the first bytes of what is not a DICOM file (PS3.10: ``DICM`` after a 128-byte
    preamble), so a large non-DICOM member of a zip is not written whole only to be refused."""

    def __init__(self, source):
        self._source = source
        self._head = b""

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        if len(self._head) < 132:
            self._head += data[: 132 - len(self._head)]
            if len(self._head) == 132 and self._head[128:] != b"DICM":
                raise _NotDicom
        return data


def _describe(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"
