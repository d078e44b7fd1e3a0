"""How few bytes a lossless codec could send for ``first_image.py``'s synthetic CT: the ideal code
length of its noise given the known smooth shape, per slice, beside what HTJ2K (the
renditions' encoder), JPEG-LS and JPEG 2000 (imagecodecs) write for the same slices.

    .venv/bin/python bench/noise_bound.py [--size 512] [--slices 0,100,200,299]

A slice is ``floor(clip(shape + N(0, 12²), 0, 4095))`` (``first_image.anatomy``): given the
shape, each pixel is an independent discretised Gaussian, so no lossless coder can average
fewer bits than the entropy of that distribution, summed over the pixels. Real coders do not
know the shape and pay a little more.
"""

import argparse
import math
import sys
from pathlib import Path

import imagecodecs
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from first_image import anatomy  # noqa: E402

NOISE = 12.0
LOW, HIGH = 24, 2200

# The standard normal CDF, tabulated (numpy has no erf; interpolation error below 1e-9).
_Z = np.linspace(-12, 12, 480_001)
_CDF = np.array([0.5 * math.erfc(-z / math.sqrt(2)) for z in _Z])


def ndtr(z: np.ndarray) -> np.ndarray:
    return np.interp(z, _Z, _CDF)


def shape(size: int, seed: int) -> np.ndarray:
    """``anatomy``'s noiseless part (its noise drawn with sigma 0)."""
    y, x = np.mgrid[0:size, 0:size]
    r = np.hypot((y - size / 2) / (size / 2.3), (x - size / 2) / (size / 2.6))
    mean = np.where(r < 1, HIGH - (HIGH - LOW) * r**2, LOW)
    return mean + 0.1 * (HIGH - LOW) * np.sin(x / 17.0 + seed) * np.cos(y / 23.0)


def ideal_bits(mean: np.ndarray, sigma: float = NOISE) -> float:
    """Sum over pixels of the entropy (bits) of floor(clip(mean + N(0, sigma²), 0, 4095))."""
    offsets = np.arange(-8 * int(sigma) - 1, 8 * int(sigma) + 2)
    total = 0.0
    for row in mean:
        base = np.floor(row)[:, None] + offsets[None, :]  # candidate values k
        upper = ndtr((base + 1 - row[:, None]) / sigma)
        # Everything below 1 is 0 after clip and floor: k = 0 takes the whole lower tail.
        lower = np.where(base <= 0, 0.0, ndtr((base - row[:, None]) / sigma))
        p = np.where(base < 0, 0.0, upper - lower)
        p = p[p > 0]
        total += float(-(p * np.log2(p)).sum())
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--slices", default="0,100,200,299")
    args = parser.parse_args()
    pixels = args.size * args.size
    print(f"{'slice':>5} {'ideal':>10} {'HTJ2K':>10} {'JPEG-LS':>10} {'JPEG 2000':>10}  bits/pixel")
    sums = np.zeros(4)
    seeds = [int(s) for s in args.slices.split(",")]
    for seed in seeds:
        image = anatomy(args.size, args.size, seed, LOW, HIGH, NOISE)
        sizes = np.array(
            [
                ideal_bits(shape(args.size, seed)) / 8,
                len(imagecodecs.htj2k_encode(image, level=0, reversible=True)),
                len(imagecodecs.jpegls_encode(image, level=0)),
                len(imagecodecs.jpeg2k_encode(image, level=0, reversible=True)),
            ]
        )
        sums += sizes
        row = " ".join(f"{s / 1e3:7.1f} kB" for s in sizes)
        print(f"{seed:5} {row}  " + " / ".join(f"{8 * s / pixels:.2f}" for s in sizes))
    mean = sums / len(seeds)
    print("mean  " + " ".join(f"{s / 1e3:7.1f} kB" for s in mean))
    print("ratio to ideal: " + ", ".join(f"{s / mean[0]:.3f}" for s in mean))


if __name__ == "__main__":
    main()
