"""Where each frame's bytes lie inside a stored file, found once at ingest.

WADO-RS frame requests then read those byte ranges directly, without parsing the file. A
frame is a list of (offset, length) pieces: one for native pixel data, one or more
fragments for encapsulated (compressed) pixel data. ``locate`` returns None where the layout
cannot be worked out cheaply; readers then fall back to pydicom. Knows nothing of HTTP.
"""

import struct
from collections.abc import Callable
from pathlib import Path

import pydicom

PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)  # PixelData, FloatPixelData, DoubleFloat...
ITEM = 0xFFFEE000
SEQUENCE_DELIMITER = 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
DEFLATED = "1.2.840.10008.1.2.1.99"

Frames = list[list[tuple[int, int]]]


class FramesError(ValueError):
    pass


def locate(
    path: Path, dataset: pydicom.Dataset, number: Callable[[str], int | None] | None = None
) -> Frames | None:
    """``number(keyword)``: the attribute as an int, None when absent or not one number, and
    raising what pydicom raises converting it (by default through pydicom's value)."""
    number = number or (lambda keyword: _int(dataset.get(keyword)))
    elem = next((dataset._dict[t] for t in PIXEL_TAGS if t in dataset._dict), None)
    if elem is None:
        return None
    tell = getattr(elem, "value_tell", None)
    length = getattr(elem, "length", None)
    if tell is None or length is None:
        return None
    if str(getattr(dataset.file_meta, "TransferSyntaxUID", "")) == DEFLATED:
        return None  # offsets point into the inflated stream, not the file
    nframes = number("NumberOfFrames") or 1
    if length != UNDEFINED:
        return _native(dataset, number, tell, length, nframes)
    with open(path, "rb") as f:
        little = _little_endian(dataset)
        bot, fragments = _items(f, tell, little)
    return _group(fragments, bot, nframes, f"{path}")


def read(path: Path, pieces: list) -> bytes:
    with open(path, "rb") as f:
        parts = []
        for offset, length in pieces:
            f.seek(offset)
            parts.append(f.read(length))
    return b"".join(parts)


def _native(dataset, number, tell: int, length: int, nframes: int) -> Frames | None:
    rows = number("Rows")
    columns = number("Columns")
    samples = number("SamplesPerPixel") or 1
    bits = number("BitsAllocated")
    if not rows or not columns or not bits or bits % 8:
        return None  # 1-bit pixels pack across frame boundaries; leave those to pydicom
    frame_length = rows * columns * samples * bits // 8
    if samples == 3 and str(dataset.get("PhotometricInterpretation", "")) == "YBR_FULL_422":
        frame_length = frame_length * 2 // 3  # two chroma samples shared by two pixels
    if frame_length * nframes > length:
        raise FramesError(
            f"pixel data is {length} bytes, but {nframes} frame(s) of {rows}x{columns}"
            f"x{samples} at {bits} bits need {frame_length * nframes}"
        )
    return [[(tell + i * frame_length, frame_length)] for i in range(nframes)]


def _items(f, tell: int, little: bool) -> tuple[list[int], list[tuple[int, int]]]:
    """Read the item headers of encapsulated pixel data: the offset table and the fragments."""
    fmt = "<HHL" if little else ">HHL"
    size = _size(f)
    f.seek(tell)
    items = []
    while True:
        header = f.read(8)
        if len(header) < 8:
            raise FramesError("pixel data ends before its sequence delimiter")
        group, element, length = struct.unpack(fmt, header)
        tag = group << 16 | element
        if tag == SEQUENCE_DELIMITER:
            break
        if tag != ITEM or length == UNDEFINED:
            raise FramesError(f"unexpected tag {tag:08X} inside encapsulated pixel data")
        start = f.tell()
        f.seek(length, 1)
        if f.tell() > size:
            raise FramesError("pixel data fragment runs past the end of the file")
        items.append((start, length))
    if not items:
        raise FramesError("encapsulated pixel data has no basic offset table item")
    (bot_start, bot_length), fragments = items[0], items[1:]
    f.seek(bot_start)
    raw = f.read(bot_length)
    bot = list(struct.unpack(("<" if little else ">") + "L" * (bot_length // 4), raw))
    return bot, fragments


def _group(fragments, bot: list[int], nframes: int, name: str) -> Frames | None:
    if not fragments:
        raise FramesError("encapsulated pixel data has no fragments")
    if nframes == 1:
        return [list(fragments)]
    if len(fragments) == nframes:
        return [[fragment] for fragment in fragments]
    if len(bot) == nframes:
        # BOT offsets count from the first fragment's item tag (8 bytes before its value).
        first = fragments[0][0] - 8
        frames: Frames = [[] for _ in range(nframes)]
        starts = [first + offset for offset in bot]
        for fragment in fragments:
            index = max(i for i, s in enumerate(starts) if s <= fragment[0] - 8)
            frames[index].append(fragment)
        return frames if all(frames) else None
    return None


def _little_endian(dataset) -> bool:
    ts = str(getattr(dataset.file_meta, "TransferSyntaxUID", ""))
    return ts != "1.2.840.10008.1.2.2"


def _size(f) -> int:
    here = f.tell()
    f.seek(0, 2)
    size = f.tell()
    f.seek(here)
    return size


def _int(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
