"""Zip archives of DICOM files, as the worklist upload and ``import_dicom`` read them: one rule
for what in a zip is not an instance, members read one by one as arrivals (never extracted
whole, never held in memory)."""

import zipfile
from pathlib import Path, PurePosixPath

from .arrival import Arrival

# Files a zip or a disc of DICOM often carries beside the instances; they are skipped with
# these words, not rejected.
NOT_INSTANCES = {
    "DICOMDIR": "a DICOMDIR (the index of a DICOM disc), not an instance",
    ".DS_STORE": "a macOS folder settings file",
    "THUMBS.DB": "a Windows thumbnail cache",
}
RESOURCE_FORK = "macOS resource fork, not a file of its own"


def not_an_instance(name: str) -> str | None:
    """Why a file of this name (a path in a zip or on disk) is skipped, or None."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.name.upper() in NOT_INSTANCES:
        return NOT_INSTANCES[path.name.upper()]
    if (path.parts and path.parts[0] == "__MACOSX") or path.name.startswith("._"):
        return RESOURCE_FORK
    return None


def is_zip(path: Path) -> bool:
    """A zip, not a DICOM file (whose 128-byte preamble could be anything, even "PK")."""
    with open(path, "rb") as f:
        head = f.read(132)
    return head[128:132] != b"DICM" and head[:4] == b"PK\x03\x04"


def members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [info for info in archive.infolist() if not info.is_dir()]


def arrival(opener, label: str, **options) -> Arrival:
    """A member as an arrival; ``opener`` opens it (``lambda: archive.open(info)``). A member
    that cannot be read (damaged, encrypted, an unknown compression) is rejected by the
    pipeline with the zip library's words."""
    return Arrival.from_opener(opener, label, **options)
