"""Which HTJ2K encoder makes the renditions: speed and size of lossless RPCL HTJ2K on small CT,
MR, CR/DX and US images, imagecodecs (OpenJPH inside its wheel) against the OpenJPH command
line tool (Debian's openjph-tools; the Python binding on PyPI, ``ojph``, does not build against
Debian's OpenJPH 0.9 and has no wheel), with JPEG 2000 (OpenJPEG, imagecodecs) for reference.

    .venv/bin/python bench/htj2k_encoders.py [--repeat 5]

Images are synthetic (smooth anatomy-like shapes plus noise at each modality's bit depth), so
sizes are indicative, not those of real studies. The command line tool pays for writing and
reading its files and starting a process; its figure is an upper bound of the library's.
"""

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import imagecodecs
import numpy as np


def images() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)

    def body(rows, columns, low, high, noise, dtype):
        y, x = np.mgrid[0:rows, 0:columns]
        r = np.hypot((y - rows / 2) / (rows / 2.3), (x - columns / 2) / (columns / 2.6))
        shape = np.where(r < 1, high - (high - low) * r**2, low)
        shape = shape + 0.1 * (high - low) * np.sin(x / 17.0) * np.cos(y / 23.0)
        noisy = shape + rng.normal(0, noise, (rows, columns))
        info = np.iinfo(dtype)
        return np.clip(noisy, info.min, info.max).astype(dtype)

    us = body(480, 640, 0, 200, 12, np.uint8)
    return {
        "CT 512x512 int16": body(512, 512, -1000, 1200, 20, np.int16),
        "MR 256x256 uint16 (12 bit)": body(256, 256, 0, 3000, 30, np.uint16),
        "CR/DX 2000x2500 uint16 (12 bit)": body(2500, 2000, 200, 3800, 15, np.uint16),
        "US 640x480 RGB uint8": np.stack([us, us, (us * 0.8).astype(np.uint8)], axis=-1),
    }


def timed(fn, repeat: int) -> tuple[float, bytes]:
    times, out = [], b""
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def ojph_cli(array: np.ndarray, folder: Path) -> bytes:
    """ojph_compress reads PGM/PPM (unsigned only): signed images are given offset, as the tool
    would need for a DICOM export."""
    if array.dtype.kind == "i":
        array = (array.astype(np.int32) - np.iinfo(array.dtype).min).astype(np.uint16)
    source = folder / ("in.ppm" if array.ndim == 3 else "in.pgm")
    magic = b"P6" if array.ndim == 3 else b"P5"
    peak = 255 if array.dtype == np.uint8 else 65535
    header = b"%s\n%d %d\n%d\n" % (magic, array.shape[1], array.shape[0], peak)
    source.write_bytes(header + array.astype(array.dtype.newbyteorder(">")).tobytes())
    target = folder / "out.j2c"
    subprocess.run(
        ["ojph_compress", "-i", str(source), "-o", str(target), "-prog_order", "RPCL"],
        check=True,
        capture_output=True,
    )
    return target.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cli = shutil.which("ojph_compress")
    print(f"imagecodecs {imagecodecs.__version__} ({imagecodecs.htj2k_version()})")
    print(f"{'image':34} {'raw KB':>8} {'encoder':28} {'ms':>8} {'KB':>8} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as folder:
        for name, array in images().items():
            raw = array.nbytes
            encoders = {
                "imagecodecs htj2k (OpenJPH)": lambda a=array: imagecodecs.htj2k_encode(
                    a, level=0, reversible=True
                ),
                "imagecodecs jpeg2k (OpenJPEG)": lambda a=array: imagecodecs.jpeg2k_encode(
                    a, level=0, reversible=True
                ),
            }
            if cli:
                encoders["ojph_compress CLI (OpenJPH)"] = lambda a=array: ojph_cli(a, Path(folder))
            for label, encode in encoders.items():
                seconds, out = timed(encode, args.repeat)
                print(
                    f"{name:34} {raw / 1024:8.0f} {label:28} {seconds * 1000:8.1f} "
                    f"{len(out) / 1024:8.0f} {raw / len(out):6.2f}"
                )
            decoded = imagecodecs.htj2k_decode(imagecodecs.htj2k_encode(array, level=0))
            assert np.array_equal(decoded, array), f"{name}: HTJ2K round trip is not lossless"


if __name__ == "__main__":
    main()
