"""What a door hands to the pipeline: one file, where it came from, and what it must satisfy.

A constraint a door puts on its files (STOW-RS's study in the URL, a size limit) is data on the
arrival, checked by the pipeline, so no door calls back into the middle of ingest.
"""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .. import storage


@dataclass(frozen=True)
class Origin:
    """Who or what delivered a file: the door (``web`` upload, ``dicomweb`` STOW-RS,
    ``dimse`` C-STORE, ``import`` command), the signed-in user, the calling AE title."""

    door: str = ""
    user_id: int | None = None
    calling_ae: str = ""


@dataclass(frozen=True)
class Arrival:
    """One file offered to ``receive``. Build it with a ``from_*`` constructor."""

    # Opens the bytes (a context manager giving a binary stream); errors it raises, or that
    # reading raises, mean the file could not be read and reject the arrival.
    opener: Callable[[], contextlib.AbstractContextManager[BinaryIO]] | None = None
    label: str = ""
    # The study the instance must belong to (STOW-RS ``POST /studies/{study}``); another
    # study's instance is rejected with 0xA900 and not stored.
    expected_study_uid: str | None = None
    origin: Origin = field(default_factory=Origin)
    # Refuse more bytes than this, counted while reading (a zip member may claim a size).
    max_bytes: int | None = None
    # A file already in the spool (STOW-RS parts are spooled while the body streams in);
    # ``receive`` owns it from the moment it is called.
    spooled: storage.Spooled | None = None
    # The door could not even write the file (a full disk while a request body streamed in):
    # it is reported as the pipeline reports any error writing the archive's files.
    error: OSError | None = None

    @classmethod
    def from_path(cls, path: Path | str, label: str | None = None, **options) -> "Arrival":
        """A file on disk, copied: the original stays where it is."""
        return cls(lambda: open(path, "rb"), str(path) if label is None else label, **options)

    @classmethod
    def from_stream(cls, source: BinaryIO, label: str = "", **options) -> "Arrival":
        """A stream read once by ``receive`` (an upload, a zip member, a DIMSE dataset)."""
        return cls(lambda: contextlib.nullcontext(source), label, **options)

    @classmethod
    def from_opener(cls, opener, label: str = "", **options) -> "Arrival":
        return cls(opener, label, **options)

    @classmethod
    def from_error(cls, error: OSError, label: str = "", **options) -> "Arrival":
        return cls(None, label, error=error, **options)

    @classmethod
    def from_spooled(cls, spooled: storage.Spooled, label: str = "", **options) -> "Arrival":
        return cls(None, label, spooled=spooled, **options)
