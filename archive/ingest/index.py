"""Indexing the parsed files of one study: rows written, files placed, in one transaction.

The one indexing path. New instances (the usual case) are written in bulk: one lock of the
study, one query each for its series and instances, one insert, one update of each count.
Anything out of the ordinary (a SOP Instance UID already stored or sent twice, a series of
another study, a replacement) is settled row by row in the same transaction. A concurrent
writer that created the same study, series or instance first makes the whole transaction
start again, and then it sees that writer's rows.
"""

from collections import Counter
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .. import storage
from ..models import INSTANCE_FIELDS, SERIES_FIELDS, STUDY_FIELDS, Instance, Series, Study
from . import place
from .outcome import PROCESSING_FAILURE, IngestResult, Rejected, Status, failure_of
from .read import Parsed

ATTEMPTS = 3


def index_study(batch: list[Parsed]) -> list[IngestResult]:
    """Index files of one study; one result per file, in order. Commits unless called inside
    an outer transaction."""
    for attempt in range(ATTEMPTS):
        placement = None
        try:
            with transaction.atomic():
                work = _Work(batch)
                work.write_rows(careful=attempt > 0)
                if work.to_place:
                    placement = place.place(work.to_place)
            return work.results
        except place.PlaceFailed as exc:  # rows rolled back, no file placed
            return [work.failed(i, *failure_of(exc.error)) for i in range(len(batch))]
        except IntegrityError:
            if placement is not None:
                placement.undo()
            if attempt == ATTEMPTS - 1:
                raise
        except BaseException:
            if placement is not None:
                placement.undo()
            raise
    raise AssertionError("unreachable")


@dataclass
class _Work:
    batch: list[Parsed]
    results: list[IngestResult | None] = field(default_factory=list)
    to_place: list[tuple[storage.Spooled, str]] = field(default_factory=list)
    # Indexes into ``batch`` of the files that are placed: they fail if placing does.
    placing: set[int] = field(default_factory=set)

    def __post_init__(self):
        self.results = [None] * len(self.batch)

    def failed(self, i: int, reason: str, code: int) -> IngestResult:
        result = self.results[i]
        if i not in self.placing and result is not None:
            return result  # nothing of it was to be written: its result stands
        return IngestResult(Status.REJECTED, reason, code, **self.batch[i].uids())

    def write_rows(self, careful: bool = False) -> None:
        first = self.batch[0]
        if any(p.study_instance_uid != first.study_instance_uid for p in self.batch):
            raise ValueError("index_study takes the files of one study")
        # One writer per study at a time: counts and the instance checks stay consistent. A
        # study created here is ours alone until commit; a concurrent creator gets an
        # IntegrityError and starts again, then waits on this lock.
        study = (
            Study.objects.select_for_update()
            .filter(study_instance_uid=first.study_instance_uid)
            .first()
        )
        sops = [p.sop_instance_uid for p in self.batch]
        if study is None and not careful and len(set(sops)) == len(sops):
            self._write_new_study()
            return
        if study is None:
            study = Study.objects.create(
                **_pick(first.attrs, STUDY_FIELDS), patient_name_key=first.attrs["patient_name_key"]
            )
        self.study = study
        series = {
            row.series_instance_uid: row
            for row in Series.objects.filter(
                series_instance_uid__in={p.series_instance_uid for p in self.batch}
            )
        }
        existing = set(
            Instance.objects.filter(sop_instance_uid__in=sops).values_list(
                "sop_instance_uid", flat=True
            )
        )
        new_series, fresh, later = [], [], []
        for i, parsed in enumerate(self.batch):
            row = series.get(parsed.series_instance_uid)
            if row is None:
                row = Series.objects.create(study=study, **_pick(parsed.attrs, SERIES_FIELDS))
                series[parsed.series_instance_uid] = row
                new_series.append(row)
            elif row.study_id != study.pk:
                self.results[i] = Rejected(
                    f"series {row.series_instance_uid} already belongs to another study",
                    PROCESSING_FAILURE,
                    **parsed.uids(),
                ).result()
                continue
            if parsed.sop_instance_uid in existing:
                later.append((i, row))
            else:
                existing.add(parsed.sop_instance_uid)
                fresh.append((i, row))
        self._insert(fresh)
        generation = study.generation  # exact: the row is locked (SQLite: IMMEDIATE)
        if fresh or new_series:
            # Counts and generation in one statement; before the replacements below, which
            # recount the study from its rows.
            changes = _new_counts(study, Counter(row.pk for _, row in fresh), new_series)
            if fresh:
                Study.objects.filter(pk=study.pk).bump_generation(**changes)
                generation += 1
            else:
                Study.objects.filter(pk=study.pk).update(**changes, updated_at=timezone.now())
        moved_from: set[int] = set()
        replaced = False
        for i, row in later:
            replaced |= self._settle(i, row, moved_from)
        if replaced:
            Study.objects.filter(pk=study.pk).bump_generation()
            generation += 1
            for pk in moved_from:
                Study.objects.filter(pk=pk).bump_generation()
        self._stamp(generation)

    def _write_new_study(self) -> None:
        """A study the archive does not hold yet, in the fewest statements: the study and its
        series are inserted with their counts, the instances in one insert. Should another
        study hold one of its series or instances, an insert fails and the next attempt
        takes the careful way, which reports them."""
        first = self.batch[0]
        per_series = Counter(p.series_instance_uid for p in self.batch)
        firsts = {}
        for parsed in self.batch:
            firsts.setdefault(parsed.series_instance_uid, parsed)
        modalities = sorted({p.attrs["modality"] for p in firsts.values() if p.attrs["modality"]})
        self.study = Study.objects.create(
            **_pick(first.attrs, STUDY_FIELDS),
            patient_name_key=first.attrs["patient_name_key"],
            modalities_in_study="\\".join(modalities),
            number_of_study_related_series=len(per_series),
            number_of_study_related_instances=len(self.batch),
            generation=1,
        )
        created = Series.objects.bulk_create(
            Series(
                study=self.study,
                number_of_series_related_instances=per_series[uid],
                **_pick(parsed.attrs, SERIES_FIELDS),
            )
            for uid, parsed in firsts.items()
        )
        series = {row.series_instance_uid: row for row in created}
        self._insert([(i, series[p.series_instance_uid]) for i, p in enumerate(self.batch)])
        self._stamp(1)

    def _stamp(self, generation: int) -> None:
        """The study's generation after this change, on the results that changed it."""
        self.results = [
            _with(r, generation=generation) if r is not None and r.changed else r
            for r in self.results
        ]

    def _insert(self, fresh: list[tuple[int, Series]]) -> None:
        paths = [_relpath(self.batch[i].attrs) for i, _ in fresh]
        rows = Instance.objects.bulk_create(
            Instance(series=row, **_instance_attrs(self.batch[i], path))
            for (i, row), path in zip(fresh, paths, strict=True)
        )
        for (i, _), row, path in zip(fresh, rows, paths, strict=True):
            self._will_place(i, path)
            self.results[i] = self._result(i, Status.STORED, row.pk)

    def _settle(self, i: int, series: Series, moved_from: set[int]) -> bool:
        """An instance whose SOP Instance UID is stored (or came earlier in this batch):
        the same bytes, other bytes kept, or other bytes replacing the stored ones."""
        parsed = self.batch[i]
        existing = (
            Instance.objects.filter(sop_instance_uid=parsed.sop_instance_uid)
            .only("pk", "sha256", "series_id", "file_path")
            .get()
        )
        if existing.sha256 == parsed.spooled.sha256:
            self.results[i] = self._result(i, Status.ALREADY_STORED, existing.pk)
            return False
        if not settings.OVERWRITE_INSTANCES:
            self.results[i] = self._result(
                i,
                Status.KEPT_EXISTING,
                existing.pk,
                "an instance with this SOP Instance UID but different content is already"
                " stored; it was kept (OVERWRITE_INSTANCES is off)",
            )
            return False
        path = _relpath(parsed.attrs, replacing=parsed.spooled.sha256)
        old_series = Series.objects.get(pk=existing.series_id)
        old_path = existing.file_path
        for name, value in _instance_attrs(parsed, path).items():
            setattr(existing, name, value)
        existing.series = series
        existing.metadata = None
        existing.save()
        series.refresh_counts()
        moved = None
        if old_series.pk != series.pk:
            old_series.refresh_counts()
            if old_series.study_id != self.study.pk:
                old_study = Study.objects.select_for_update().get(pk=old_series.study_id)
                old_study.refresh_counts()
                moved_from.add(old_study.pk)
                moved = old_study.pk
        self.study.refresh_counts()
        self._will_place(i, path)
        self.results[i] = _with(
            self._result(i, Status.REPLACED, existing.pk),
            moved_from_study_pk=moved,
            superseded_path=old_path if old_path != path else "",
        )
        return True

    def _will_place(self, i: int, relpath: str) -> None:
        self.to_place.append((self.batch[i].spooled, relpath))
        self.placing.add(i)

    def _result(self, i: int, status: Status, pk: int, reason: str = "") -> IngestResult:
        return IngestResult(
            status, reason, instance_pk=pk, study_pk=self.study.pk, **self.batch[i].uids()
        )


def _with(result: IngestResult, **changes) -> IngestResult:
    return replace(result, **changes)


def _new_counts(study: Study, per_series: Counter, new_series: list[Series]) -> dict:
    """Keep the derived counts exact with increments on the locked study row, instead of
    recounting a study that may hold thousands of instances: the series' counts are updated
    here, the study's changes returned. ``per_series``: new instances by series primary key;
    ``new_series``: the series created for them."""
    for series_pk, count in per_series.items():
        Series.objects.filter(pk=series_pk).update(
            number_of_series_related_instances=F("number_of_series_related_instances") + count
        )
    changes = {
        "number_of_study_related_instances": F("number_of_study_related_instances")
        + per_series.total(),
    }
    if new_series:
        changes["number_of_study_related_series"] = F("number_of_study_related_series") + len(
            new_series
        )
        modalities = set(filter(None, study.modalities_in_study.split("\\")))
        added = modalities | {row.modality for row in new_series if row.modality}
        if added != modalities:
            changes["modalities_in_study"] = "\\".join(sorted(added))
    return changes


def _relpath(attrs: dict, replacing: str | None = None) -> str:
    """A new instance's file path; a replacement gets a path of its own (the content's hash
    in the name), so the stored file stays until the replacing row commits."""
    path = storage.instance_relpath(
        attrs["study_instance_uid"], attrs["series_instance_uid"], attrs["sop_instance_uid"]
    )
    return path if replacing is None else f"{path[:-4]}.{replacing[:16]}.dcm"


def _instance_attrs(parsed: Parsed, relpath: str) -> dict:
    attrs = parsed.attrs
    return {
        **_pick(attrs, INSTANCE_FIELDS),
        "transfer_syntax_uid": attrs["transfer_syntax_uid"],
        "frame_offsets": attrs["frame_offsets"],
        "file_path": relpath,
        "file_size": parsed.spooled.size,
        "sha256": parsed.spooled.sha256,
    }


def _pick(attrs: dict, table: dict) -> dict:
    return {name: attrs[name] for name in table.values()}
