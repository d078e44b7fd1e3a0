"""What one study's files in a slice become: the rows to write, the files to place, a result
per file. Shared by both ways of indexing (``index`` for new studies, ``held`` for studies
the archive holds)."""

from collections import Counter
from dataclasses import dataclass, field, replace

from ohifsite.inserts import insert_rows

from .. import storage
from ..models import INSTANCE_FIELDS, SERIES_FIELDS, STUDY_FIELDS, Instance, Series, Study
from .outcome import IngestResult, Status
from .read import Parsed


@dataclass
class Work:
    """One study's files in a slice, and what became of them."""

    batch: list[Parsed]
    results: list[IngestResult | None] = field(default_factory=list)
    to_place: list[tuple[storage.Spooled, str]] = field(default_factory=list)
    # Indexes into ``batch`` of the files that are placed: they fail if placing does.
    placing: set[int] = field(default_factory=set)
    study: Study | None = None

    def __post_init__(self):
        self.results = [None] * len(self.batch)
        self.uid = self.batch[0].study_instance_uid
        if any(p.study_instance_uid != self.uid for p in self.batch):
            raise ValueError("a study's list holds the files of that study only")

    def sops_unique(self) -> bool:
        sops = [p.sop_instance_uid for p in self.batch]
        return len(set(sops)) == len(sops)

    def failed(self, i: int, reason: str, code: int) -> IngestResult:
        result = self.results[i]
        if i not in self.placing and result is not None:
            return result  # nothing of it was to be written: its result stands
        return IngestResult(Status.REJECTED, reason, code, **self.batch[i].uids())

    def new_study(self) -> Study:
        first = self.batch[0]
        per_series = self._firsts()
        modalities = {p.attrs["modality"] for p in per_series.values() if p.attrs["modality"]}
        return Study(
            **pick(first.attrs, STUDY_FIELDS),
            patient_name_key=first.attrs["patient_name_key"],
            modalities_in_study="\\".join(sorted(modalities)),
            number_of_study_related_series=len(per_series),
            number_of_study_related_instances=len(self.batch),
            generation=1,
        )

    def new_series(self) -> list[Series]:
        counts = Counter(p.series_instance_uid for p in self.batch)
        return [
            Series(
                study=self.study,
                number_of_series_related_instances=counts[uid],
                **pick(parsed.attrs, SERIES_FIELDS),
            )
            for uid, parsed in self._firsts().items()
        ]

    def _firsts(self) -> dict[str, Parsed]:
        firsts: dict[str, Parsed] = {}
        for parsed in self.batch:
            firsts.setdefault(parsed.series_instance_uid, parsed)
        return firsts

    def stamp(self, generation: int) -> None:
        """The study's generation after this change, on the results that changed it."""
        self.results = [
            with_(r, generation=generation) if r is not None and r.changed else r
            for r in self.results
        ]

    def will_place(self, i: int, relpath: str) -> None:
        self.to_place.append((self.batch[i].spooled, relpath))
        self.placing.add(i)

    def result(self, i: int, status: Status, pk: int, reason: str = "") -> IngestResult:
        return IngestResult(
            status,
            reason,
            instance_pk=pk,
            study_pk=self.study.pk,
            patient_id=self.study.patient_id or "",
            patient_name=self.study.patient_name or "",
            **self.batch[i].uids(),
        )


def insert(fresh: list[tuple[Work, int, Series]]) -> None:
    """New instance rows, in one insert, each file then due to be placed."""
    paths = [relpath(work.batch[i].attrs) for work, i, _ in fresh]
    pks = insert_rows(
        Instance,
        [
            {"series_id": series.pk, **instance_attrs(work.batch[i], path)}
            for (work, i, series), path in zip(fresh, paths, strict=True)
        ],
    )
    for (work, i, _), pk, path in zip(fresh, pks, paths, strict=True):
        work.will_place(i, path)
        work.results[i] = work.result(i, Status.STORED, pk)


def with_(result: IngestResult, **changes) -> IngestResult:
    return replace(result, **changes)


def relpath(attrs: dict, replacing: str | None = None) -> str:
    """A new instance's file path; a replacement gets a path of its own (the content's hash
    in the name), so the stored file stays until the replacing row commits."""
    path = storage.instance_relpath(
        attrs["study_instance_uid"], attrs["series_instance_uid"], attrs["sop_instance_uid"]
    )
    return path if replacing is None else f"{path[:-4]}.{replacing[:16]}.dcm"


def instance_attrs(parsed: Parsed, relpath: str) -> dict:
    attrs = parsed.attrs
    return {
        **pick(attrs, INSTANCE_FIELDS),
        "transfer_syntax_uid": attrs["transfer_syntax_uid"],
        "frame_offsets": attrs["frame_offsets"],
        "file_path": relpath,
        "file_size": parsed.spooled.size,
        "sha256": parsed.spooled.sha256,
    }


def pick(attrs: dict, table: dict) -> dict:
    return {name: attrs[name] for name in table.values()}
