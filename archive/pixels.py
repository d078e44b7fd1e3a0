"""Pixel data for WADO: one frame decoded to native little-endian bytes, or rendered to 8 bits.

Decoding goes through pydicom's pixel handlers (pylibjpeg, pyjpegls, pylibjpeg-rle) and only
ever decodes the frame asked for, straight from the file; a deflated file (whose dataset is one
zlib stream) is inflated by parsing it whole first. Rendering applies the modality LUT
(rescale), a VOI window (the instance's own, or one given by the caller), MONOCHROME1
inversion and colour conversion, then Pillow encodes JPEG or PNG. Knows nothing of HTTP or
of the database.
"""

import functools
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image, ImageDraw, ImageFont
from pydicom.filereader import read_file_meta_info
from pydicom.pixels import (
    apply_color_lut,
    apply_modality_lut,
    get_decoder,
    pack_bits,
    pixel_array,
)

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"
WINDOW_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")


class PixelError(ValueError):
    """The frame cannot be decoded or rendered (no pixel data, no handler, corrupt data)."""


@dataclass(frozen=True)
class Window:
    """A VOI window, PS3.3 C.11.2.1.2: centre, width and function."""

    center: float
    width: float
    function: str = "LINEAR"

    @classmethod
    def parse(cls, text: str) -> "Window":
        """``center,width[,function]`` as in PS3.18 §8.3.5.1.4; raises ValueError when malformed."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) not in (2, 3):
            raise ValueError("window must be center,width[,function]")
        center, width = float(parts[0]), float(parts[1])
        function = parts[2].upper() if len(parts) == 3 else "LINEAR"
        if not (math.isfinite(center) and math.isfinite(width)) or width <= 0:
            raise ValueError("window width must be a positive number")
        if function not in WINDOW_FUNCTIONS:
            raise ValueError(f"window function must be one of {', '.join(WINDOW_FUNCTIONS)}")
        return cls(center, width, function)


@functools.lru_cache(maxsize=64)
def can_decode(transfer_syntax: str) -> bool:
    """Whether pixel data in this syntax can be decoded here (native ones, deflated included,
    always; compressed ones when their plugin is installed; video never)."""
    try:
        return get_decoder(transfer_syntax).is_available
    except NotImplementedError:
        return False


def decode_frame(path: Path, index: int) -> bytes:
    """Frame ``index`` (0-based) as Explicit VR Little Endian pixel bytes.

    Colour frames come out as RGB (YBR is converted, as pydicom does by default), so the
    decoded bytes of a JPEG baseline frame are interleaved RGB.
    """
    array, ds = _frame(path, index)
    if int(ds.get("BitsAllocated", 8)) == 1:
        return pack_bits(array.ravel())
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def decode_frames(path: Path, count: int) -> list[bytes]:
    return [decode_frame(path, i) for i in range(count)]


def decompressed_file(path: Path) -> bytes:
    """The Part-10 file re-encoded in Explicit VR Little Endian (pixel data decoded).

    Holds one instance in memory; callers do this one instance at a time.
    """
    try:
        ds = pydicom.dcmread(str(path))
        if ds.file_meta.TransferSyntaxUID.is_compressed and "PixelData" in ds:
            ds.decompress()
        else:
            ds.file_meta.TransferSyntaxUID = EXPLICIT_VR_LITTLE_ENDIAN
        buffer = io.BytesIO()
        ds.save_as(buffer, implicit_vr=False, little_endian=True, enforce_file_format=True)
    except (ValueError, AttributeError, NotImplementedError, RuntimeError, KeyError) as exc:
        raise PixelError(f"cannot decompress {path.name}: {exc}") from exc
    return buffer.getvalue()


def render_frame(path: Path, index: int, window: Window | None = None) -> np.ndarray:
    """Frame ``index`` as an 8-bit array: (rows, columns) grey or (rows, columns, 3) RGB."""
    array, ds = _frame(path, index)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "PALETTE COLOR":
        return _to_8_bits(apply_color_lut(array, ds), 16)
    if array.ndim == 3:
        return _to_8_bits(array, int(ds.get("BitsStored") or ds.get("BitsAllocated") or 8))
    values = apply_modality_lut(array, ds).astype(np.float64)
    out = apply_window(values, window or default_window(ds, values))
    if photometric == "MONOCHROME1":
        out = 255 - out
    return out


def default_window(ds: pydicom.Dataset, values: np.ndarray) -> Window:
    """The instance's first WindowCenter/WindowWidth, else the full range of the frame."""
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    function = str(ds.get("VOILUTFunction", "LINEAR")).upper()
    if center is not None and width is not None and width > 0:
        return Window(center, width, function if function in WINDOW_FUNCTIONS else "LINEAR")
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    return Window((low + high) / 2, max(high - low, 1.0), "LINEAR_EXACT")


def apply_window(values: np.ndarray, window: Window) -> np.ndarray:
    """Map values to 0..255 with PS3.3 C.11.2.1.2's formulas for the three functions."""
    c, w = window.center, window.width
    if window.function == "SIGMOID":
        out = 255.0 / (1.0 + np.exp(-4.0 * (values - c) / w))
    elif window.function == "LINEAR_EXACT":
        out = ((values - c) / w + 0.5) * 255.0
    else:
        w = max(w, 1.0)
        out = ((values - (c - 0.5)) / max(w - 1.0, 1.0) + 0.5) * 255.0
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def encode_image(array: np.ndarray, image_format: str, quality: int = 90) -> bytes:
    """JPEG or PNG bytes of an 8-bit grey or RGB array."""
    buffer = io.BytesIO()
    image = Image.fromarray(array)
    if image_format == "jpeg":
        image.save(buffer, "JPEG", quality=quality)
    else:
        image.save(buffer, "PNG", compress_level=3)
    return buffer.getvalue()


def icon(label: str, width: int, height: int) -> np.ndarray:
    """A placeholder for what has no image to show (a film, a PDF, a report): ``label`` in a
    framed tile, in OHIF's colours, at most ``width`` x ``height``."""
    side = max(min(width, height), 16)
    image = Image.new("RGB", (side, side), (9, 12, 41))
    draw = ImageDraw.Draw(image)
    inset = max(side // 12, 1)
    draw.rounded_rectangle(
        (inset, inset, side - 1 - inset, side - 1 - inset),
        radius=max(side // 8, 2),
        outline=(90, 204, 230),
        width=max(side // 32, 1),
    )
    size = max(side // max(len(label), 3), 6)
    font = ImageFont.load_default(size=size)
    draw.text((side / 2, side / 2), label, fill=(90, 204, 230), font=font, anchor="mm")
    return np.asarray(image)


def fit(array: np.ndarray, width: int | None, height: int | None) -> np.ndarray:
    """Scale down (never up) to fit in width x height, keeping the aspect ratio."""
    if not width and not height:
        return array
    image = Image.fromarray(array)
    image.thumbnail((width or image.width, height or image.height), Image.Resampling.LANCZOS)
    return np.asarray(image)


def _frame(path: Path, index: int) -> tuple[np.ndarray, pydicom.Dataset]:
    try:
        if read_file_meta_info(path).TransferSyntaxUID == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
            # pixel_array reads a path without parsing its dataset, but a deflated dataset is
            # one zlib stream: only a full parse reaches its pixel data.
            ds = pydicom.dcmread(path)
            return pixel_array(ds, index=index), ds
        ds = pydicom.Dataset()
        return pixel_array(str(path), index=index, ds_out=ds), ds
    except (ValueError, AttributeError, NotImplementedError, RuntimeError, KeyError) as exc:
        raise PixelError(f"cannot decode frame {index + 1}: {exc}") from exc


def _to_8_bits(array: np.ndarray, bits: int) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    shift = max(bits - 8, 0)
    return np.clip(array.astype(np.int64) >> shift, 0, 255).astype(np.uint8)


def _first(value) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        value = value[0] if len(value) else None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Rendered:
    """An 8-bit frame ready to encode, with the JPEG quality asked for."""

    array: np.ndarray
    quality: int = 90
