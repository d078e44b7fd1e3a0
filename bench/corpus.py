"""Generated corpora for the benchmarks (pydicom + numpy, through tests/dicom_data.py).

Each corpus is written once into a folder named after its parameters, with a ``.complete``
marker beside it, and reused by later runs. Nothing is downloaded.

    python bench/corpus.py ct --count 2000 --size 512      # prints the folder
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import dicom_data  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "ohifsite-bench"
LAST_NAMES = ["Smith", "Jones", "Garcia", "Muller", "Rossi", "Dubois", "Nowak", "Kim", "Silva"]
LAST_NAMES += ["Tanaka", "Olsen", "Novak", "Horvat", "Ivanov", "Haddad", "Cohen", "Singh"]
FIRST_NAMES = ["Anna", "Ben", "Chloe", "David", "Eva", "Felix", "Greta", "Hugo", "Ines", "Jan"]
MODALITIES = ["CT", "MR", "PT", "CR", "US", "DX", "MG", "NM"]
# Tiny studies go 200 to a folder, so that a benchmark can load the first folder (about 200
# studies) and the rest later.
TINY_PER_FOLDER = 200


def _materialize(name: str, write) -> Path:
    """The corpus folder, written by ``write(folder)`` unless a complete copy is there."""
    folder = CACHE / name
    complete = CACHE / f"{name}.complete"
    if complete.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    write(folder)
    complete.touch()
    return folder


def files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.dcm"))


def in_groups(files: list[Path], size: int) -> list[list[Path]]:
    """``files`` in consecutive groups of ``size``: STOW requests of one series each when
    ``size`` is the ``per_series`` that ``ct`` was given."""
    return [files[i : i + size] for i in range(0, len(files), size)]


def ct(count: int = 2000, size: int = 512, per_series: int = 100) -> Path:
    """``count`` CT slices of size x size 16-bit, ``per_series`` slices to a series, one series
    to a study."""

    def write(folder: Path) -> None:
        series = None
        for i in range(count):
            if i % per_series == 0:
                n = i // per_series
                study = study_attributes(n)
                series = {"study_uid": dicom_data.uid(), "series_uid": dicom_data.uid(), **study}
            ds = dicom_data.ct_slice(i % per_series, rows=size, columns=size, seed=i, **series)
            path = folder / f"study{i // per_series:04d}" / f"{i % per_series:04d}.dcm"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(dicom_data.to_bytes(ds))

    return _materialize(f"ct-{count}x{size}-{per_series}", write)


def tiny_studies(count: int, size: int = 8) -> Path:
    """``count`` studies of one tiny instance each, for QIDO at scale (Orthanc can only index
    real instances). Study i has ``study_attributes(i)`` and modality ``tiny_modality(i)``."""

    def write(folder: Path) -> None:
        pixels = np.zeros((size, size), dtype=np.uint16)
        for i in range(count):
            attrs = study_attributes(i)
            ds = dicom_data._base("1.2.840.10008.5.1.4.1.1.7", modality=tiny_modality(i), **attrs)
            dicom_data._pixels(ds, pixels)
            sub = folder / f"{i // TINY_PER_FOLDER:03d}"
            sub.mkdir(exist_ok=True)
            (sub / f"{i:06d}.dcm").write_bytes(dicom_data.to_bytes(ds))

    return _materialize(f"tiny-{count}x{size}", write)


def tiny_modality(n: int) -> str:
    return MODALITIES[n % len(MODALITIES)]


def study_attributes(n: int) -> dict:
    """Patient and study attributes for the n-th generated study: about three studies per
    patient, dates spread over ten years."""
    patient = n // 3
    last = LAST_NAMES[patient % len(LAST_NAMES)]
    first = FIRST_NAMES[(patient // len(LAST_NAMES)) % len(FIRST_NAMES)]
    year = 2015 + n % 10
    month = 1 + (n // 10) % 12
    day = 1 + (n // 120) % 28
    return {
        "patient_name": f"{last}^{first}{patient}",
        "patient_id": f"P{patient:07d}",
        "study_date": f"{year}{month:02d}{day:02d}",
        "accession": f"A{n:08d}",
        "description": f"Generated study {n}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["ct", "tiny"])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--per-series", type=int, default=100)
    args = parser.parse_args()
    if args.kind == "ct":
        print(ct(args.count, args.size or 512, args.per_series))
    else:
        print(tiny_studies(args.count, args.size or 8))


if __name__ == "__main__":
    main()
