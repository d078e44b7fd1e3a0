"""Files uploaded from the worklist page: a DICOM file, or a zip archive of them, into the one
ingest pipeline (``archive.ingest.receive``; a zip's members through ``archive.ingest.zips``,
a slice at a time). Every file gets an outcome in words. Knows nothing of HTTP.
"""

import zipfile
from dataclasses import asdict, dataclass

from archive import storage
from archive.ingest import Arrival, IngestResult, Origin, Spool, Status, batches, receive, zips
from archive.ingest.spool import human_size

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


def receive_upload(
    spooled: storage.Spooled, name: str, limit: int, origin: Origin | None = None
) -> list[Outcome]:
    """Ingest one uploaded file, which belongs to this call: it is gone when this returns."""
    origin = origin or Origin(door="web")
    with Spool() as owner:
        owner.own(spooled.path)
        if not zips.is_zip(spooled.path):
            [result] = receive([Arrival.from_spooled(spooled, name, origin=origin)])
            return [Outcome.of(name, result)]
        try:
            return _receive_zip(spooled, name, limit, origin)
        except zipfile.BadZipFile as exc:
            return [Outcome(name, str(Status.REJECTED), f"the zip archive is damaged: {exc}")]


def _receive_zip(spooled: storage.Spooled, name: str, limit: int, origin: Origin):
    outcomes = []
    with zipfile.ZipFile(spooled.path) as archive:
        members = zips.members(archive)
        if not members:
            return [Outcome(name, str(Status.REJECTED), "the zip archive holds no files")]
        for batch in batches(members, lambda member: member.file_size):
            arrivals = {}
            for member in batch:
                label = f"{name}/{member.filename}"
                if (why := zips.not_an_instance(member.filename)) is not None:
                    outcomes.append(Outcome(label, SKIPPED, why))
                    continue
                arrivals[len(outcomes)] = Arrival.from_opener(
                    _opener(archive, member), label, max_bytes=limit, origin=origin
                )
                outcomes.append(None)
            results = receive(arrivals.values())
            for (at, arrival), result in zip(arrivals.items(), results, strict=True):
                outcomes[at] = Outcome.of(arrival.label, result)
    return outcomes


def _opener(archive: zipfile.ZipFile, member: zipfile.ZipInfo):
    return lambda: archive.open(member)


__all__ = ["Outcome", "SKIPPED", "human_size", "receive_upload"]
