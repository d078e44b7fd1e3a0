"""Lossless HTJ2K renditions: a second copy of an image instance, made after ingest, whose
frames a viewer can show from their first bytes.

Each frame is encoded reversibly (5/3 wavelet, no loss) with resolution-first progression
(RPCL, transfer syntax 1.2.840.10008.1.2.4.202): the codestream holds the lowest resolution
first, so any prefix decodes to a smaller image, which is what Cornerstone's progressive
loading shows while the rest arrives. The copy is a Part-10 file beside the original
(``<sop>.htj2k``), written through ``stores`` like any stored file (folder or bucket); the
original is never touched. ``Rendition`` records it with its frame offsets and the SHA-256
of the original it was made from, so a replaced original is never answered from the copy of
the old one.

Encoder: imagecodecs' HTJ2K (OpenJPH), chosen by ``bench/htj2k_encoders.py`` (README,
"HTJ2K renditions"). Knows nothing of HTTP or Celery.
"""

import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import imagecodecs
import numpy as np
import pydicom
from django.conf import settings
from django.db import transaction
from pydicom.encaps import encapsulate
from pydicom.pixels import iter_pixels, pixel_array

from . import frames, storage, stores
from .models import Instance, Rendition

log = logging.getLogger(__name__)

HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201"
HTJ2K_LOSSLESS_RPCL = "1.2.840.10008.1.2.4.202"
HTJ2K = "1.2.840.10008.1.2.4.203"
# A lossless RPCL codestream is also a valid codestream of the other two syntaxes.
SYNTAXES = (HTJ2K_LOSSLESS_RPCL, HTJ2K_LOSSLESS, HTJ2K)
SUFFIX = ".htj2k"
# What the encoder is given is what the decoder returns: grey levels, RGB, palette indices.
# YBR colour (JPEG baseline) would come back from pydicom as RGB under a YBR label.
PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2", "RGB", "PALETTE COLOR")
RPCL = 2  # progression order byte of the COD marker (ISO 15444-1 Table A.16)


class RenditionError(ValueError):
    """The instance cannot be encoded (no decoder for its pixels, pixels unsuitable)."""


@dataclass(frozen=True)
class Encoded:
    data: bytes  # the Part-10 file
    seconds: float


def relpath_for(instance_relpath: str) -> str:
    """Beside the original, named so that nothing takes it for an original (.dcm)."""
    return instance_relpath.removesuffix(".dcm") + SUFFIX


def skip_reason(row: Instance, modality: str, *, threshold: bool = True) -> str | None:
    """Why ``row`` gets no rendition, or None when it should have one."""
    if reason := unencodable(row):
        return reason
    wanted = settings.RENDITION_MODALITIES
    if wanted and modality.upper() not in wanted:
        return f"modality {modality} not in RENDITION_MODALITIES"
    size = row.rows * row.columns * (row.samples_per_pixel or 1) * row.bits_allocated // 8
    if threshold and size * (row.number_of_frames or 1) < settings.RENDITION_MIN_BYTES:
        return "smaller than RENDITION_MIN_BYTES"
    return None


def unencodable(row: Instance) -> str | None:
    """Why ``row``'s pixels cannot be sent in HTJ2K at all, or None when they can."""
    if not row.rows or not row.columns:
        return "no pixel data"
    if row.transfer_syntax_uid in SYNTAXES:
        return "stored in HTJ2K already"
    if row.transfer_syntax_uid.startswith("1.2.840.10008.1.2.4.10"):
        return "a video"
    if row.bits_allocated not in (8, 16):
        return f"{row.bits_allocated}-bit pixels"
    if (row.photometric_interpretation or "").upper() not in PHOTOMETRICS:
        return f"{row.photometric_interpretation} pixels"
    return None


def encode_frame(array: np.ndarray) -> bytes:
    """One frame (rows x columns, or rows x columns x 3) as a lossless RPCL HTJ2K codestream."""
    try:
        codestream = imagecodecs.htj2k_encode(np.ascontiguousarray(array), level=0, reversible=True)
    except (imagecodecs.Htj2kError, ValueError, TypeError) as exc:
        raise RenditionError(f"HTJ2K encoder: {exc}") from exc
    if progression(codestream) != RPCL:
        raise RenditionError("the HTJ2K encoder did not write RPCL progression")
    return codestream


def encode_stored_frame(path: Path, index: int) -> bytes:
    """Frame ``index`` (0-based) of a stored file encoded on the fly, for a client that asks
    for HTJ2K before the rendition is made."""
    try:
        array = pixel_array(path, index=index)
    except (ValueError, AttributeError, NotImplementedError, RuntimeError, KeyError) as exc:
        raise RenditionError(f"cannot decode frame {index + 1} of {path.name}: {exc}") from exc
    return encode_frame(array)


def progression(codestream: bytes) -> int | None:
    """The progression order of a codestream's COD marker (0 LRCP ... 2 RPCL ...)."""
    at = codestream.find(b"\xff\x52")
    return codestream[at + 5] if at >= 0 and len(codestream) > at + 5 else None


def encode_file(path: Path) -> Encoded:
    """The instance at ``path`` as a Part-10 file in HTJ2K Lossless RPCL, one frame at a time."""
    start = time.perf_counter()
    try:
        dataset = pydicom.dcmread(path)
        codestreams = [encode_frame(array) for array in iter_pixels(path)]
    except RenditionError:
        raise
    except (ValueError, AttributeError, NotImplementedError, RuntimeError, KeyError) as exc:
        raise RenditionError(f"cannot encode {path.name}: {exc}") from exc
    dataset.PixelData = encapsulate(codestreams, has_bot=True)
    dataset["PixelData"].VR = "OB"
    dataset["PixelData"].is_undefined_length = True
    dataset.file_meta.TransferSyntaxUID = HTJ2K_LOSSLESS_RPCL
    if (dataset.get("SamplesPerPixel") or 1) > 1:
        dataset.PlanarConfiguration = 0  # pydicom hands the encoder interleaved samples
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return Encoded(buffer.getvalue(), time.perf_counter() - start)


def current(row: Instance) -> Rendition | None:
    """The rendition made from the file ``row`` now has, if any."""
    return Rendition.objects.filter(instance_id=row.pk, source_sha256=row.sha256).first()


def build(row: Instance, *, force: bool = False) -> str:
    """Make (or with ``force`` remake) the rendition of one instance; returns what happened.
    Idempotent: a rendition of the current file is kept. An instance replaced or deleted
    while it was encoded gets no row (its file is overwritten by the next build)."""
    if not force and current(row) is not None:
        return "kept"
    store = stores.current()
    with store.local_copy(row.file_path) as original:
        encoded = encode_file(original)
    relpath = relpath_for(row.file_path)
    spooled = storage.spool(io.BytesIO(encoded.data))
    try:
        offsets = frames.locate(spooled.path, pydicom.dcmread(spooled.path, defer_size=1024))
        if not offsets:
            raise RenditionError(f"{relpath}: frames of the rendition not found")
        store.place_many([(spooled, relpath)])
    finally:
        storage.discard(spooled.path)  # placed: gone already
    with transaction.atomic():
        if not Instance.objects.filter(pk=row.pk, sha256=row.sha256).exists():
            return "superseded"
        Rendition.objects.update_or_create(
            instance_id=row.pk,
            defaults={
                "transfer_syntax_uid": HTJ2K_LOSSLESS_RPCL,
                "file_path": relpath,
                "file_size": spooled.size,
                "sha256": spooled.sha256,
                "source_sha256": row.sha256,
                "frame_offsets": offsets,
                "encode_seconds": encoded.seconds,
            },
        )
    return "built"


def build_many(instances, *, force: bool = False, threshold: bool = True, progress=None) -> dict:
    """Renditions for every eligible instance of the queryset ``instances``; counts what
    happened ("built", "kept", "skipped", "failed", "superseded"). A failure is logged and
    counted, never raised: one odd instance does not stop a study."""
    counts: dict[str, int] = {}
    rows = instances.select_related("series").order_by("pk")
    for row in rows.iterator(chunk_size=200):
        outcome = "skipped"
        if skip_reason(row, row.series.modality, threshold=threshold) is None:
            try:
                outcome = build(row, force=force)
            except (RenditionError, OSError) as exc:
                log.warning("no HTJ2K rendition for %s: %s", row.sop_instance_uid, exc)
                outcome = "failed"
        counts[outcome] = counts.get(outcome, 0) + 1
        if progress is not None:
            progress(outcome)
    return counts


def build_study(study_id: int) -> str:
    counts = build_many(Instance.objects.filter(series__study_id=study_id))
    return ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "no instances"
