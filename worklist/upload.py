"""Files uploaded from the worklist page: a DICOM file, or a zip archive of them, into the one
ingest path (``archive.intake``: a file through ``receive_spooled``, a zip's members 32 at a
time through ``receive_many``).

A zip is expanded member by member, each spooled to its own file, so neither the archive nor
a member is ever held in memory. Every file gets an outcome in words. Knows nothing of HTTP.
"""

import zipfile
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath

from archive import intake, storage
from archive.ingest import IngestResult, Status

# Files a zip of DICOM often carries beside the instances; they are named, not rejected.
NOT_INSTANCES = {
    "DICOMDIR": "a DICOMDIR (the index of a DICOM disc), not an instance",
    ".DS_STORE": "a macOS folder settings file",
    "THUMBS.DB": "a Windows thumbnail cache",
}
SKIPPED = "skipped"

_WORDS = {
    Status.STORED: "",
    Status.ALREADY_STORED: "the archive already holds this instance, byte for byte",
    Status.REPLACED: "replaced the stored instance with the same SOP Instance UID",
    Status.KEPT_EXISTING: (
        "the archive holds other content under this SOP Instance UID; the stored one was kept"
    ),
}


@dataclass(frozen=True)
class Outcome:
    name: str
    status: str
    reason: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    sop_instance_uid: str = ""

    @classmethod
    def of(cls, name: str, result: IngestResult) -> "Outcome":
        return cls(
            name=name,
            status=str(result.status),
            reason=result.reason or _WORDS.get(result.status, ""),
            study_instance_uid=result.study_instance_uid,
            series_instance_uid=result.series_instance_uid,
            sop_instance_uid=result.sop_instance_uid,
        )

    def as_dict(self) -> dict:
        return asdict(self)


def receive_upload(spooled: storage.Spooled, name: str, limit: int) -> list[Outcome]:
    """Ingest one uploaded file (ownership of the spooled file passes here)."""
    try:
        if _is_zip(spooled):
            return list(_receive_zip(spooled, name, limit))
    except zipfile.BadZipFile as exc:
        storage.discard(spooled.path)
        return [Outcome(name, str(Status.REJECTED), f"the zip archive is damaged: {exc}")]
    return [Outcome.of(name, intake.receive_spooled(spooled))]


def _is_zip(spooled: storage.Spooled) -> bool:
    """A zip, not a DICOM file (whose 128-byte preamble could be anything, even "PK")."""
    with open(spooled.path, "rb") as f:
        head = f.read(132)
    return head[128:132] != b"DICM" and head[:4] == b"PK\x03\x04"


def _receive_zip(spooled: storage.Spooled, name: str, limit: int):
    try:
        with zipfile.ZipFile(spooled.path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if not members:
                yield Outcome(name, str(Status.REJECTED), "the zip archive holds no files")
            size = intake.BATCH_FILES
            for first in range(0, len(members), size):
                read = [
                    _read_member(archive, member, f"{name}/{member.filename}", limit)
                    for member in members[first : first + size]
                ]
                yield from _stored(read)
    finally:
        storage.discard(spooled.path)


def _stored(read: list) -> list[Outcome]:
    """Outcomes of members read from the zip (``(label, spooled)``) or refused while reading
    (an ``Outcome``), in their order."""
    files = [entry for entry in read if not isinstance(entry, Outcome)]
    results = iter(intake.receive_many([spooled for _, spooled in files]))
    return [
        entry if isinstance(entry, Outcome) else Outcome.of(entry[0], next(results))
        for entry in read
    ]


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, label: str, limit: int):
    basename = PurePosixPath(member.filename).name
    if basename.upper() in NOT_INSTANCES:
        return Outcome(label, SKIPPED, NOT_INSTANCES[basename.upper()])
    if member.filename.startswith("__MACOSX/") or basename.startswith("._"):
        return Outcome(label, SKIPPED, "macOS resource fork, not a file of its own")
    if member.flag_bits & 0x1:
        return Outcome(label, str(Status.REJECTED), "encrypted zip members cannot be read")
    if member.file_size > limit:
        return Outcome(label, str(Status.REJECTED), too_large(limit))
    try:
        with archive.open(member) as source:
            member_spooled = storage.spool(storage.LimitedReader(source, limit))
    except storage.TooLarge:
        return Outcome(label, str(Status.REJECTED), too_large(limit))
    except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError) as exc:
        return Outcome(label, str(Status.REJECTED), f"cannot be read from the zip: {exc}")
    return label, member_spooled


def too_large(limit: int) -> str:
    return f"larger than the upload limit of {human_size(limit)}"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"
