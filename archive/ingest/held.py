"""Indexing files into a study the archive holds (locked by the caller), or one created the
careful way after a conflict: new instances in one insert, counts by increments on the
locked row; a SOP Instance UID already stored or sent twice, a series of another study, a
replacement, settled row by row."""

from collections import Counter

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from ..models import SERIES_FIELDS, STUDY_FIELDS, Instance, Series, Study
from .outcome import PROCESSING_FAILURE, Rejected, Status
from .rows import Work, insert, instance_attrs, pick, relpath, with_


def index_into(work: Work, study: Study | None) -> None:
    """Into a study the archive holds (``study``, locked), or one created here the
    careful way."""
    first = work.batch[0]
    sops = [p.sop_instance_uid for p in work.batch]
    created = study is None
    if created:
        study = Study.objects.create(
            **pick(first.attrs, STUDY_FIELDS), patient_name_key=first.attrs["patient_name_key"]
        )
    work.study = study
    series = {
        row.series_instance_uid: row
        for row in Series.objects.filter(
            series_instance_uid__in={p.series_instance_uid for p in work.batch}
        )
    }
    existing = set(
        Instance.objects.filter(sop_instance_uid__in=sops).values_list(
            "sop_instance_uid", flat=True
        )
    )
    new_series, fresh, later = [], [], []
    for i, parsed in enumerate(work.batch):
        row = series.get(parsed.series_instance_uid)
        if row is None:
            row = Series.objects.create(study=study, **pick(parsed.attrs, SERIES_FIELDS))
            series[parsed.series_instance_uid] = row
            new_series.append(row)
        elif row.study_id != study.pk:
            work.results[i] = Rejected(
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
    if created and not fresh and not later:
        study.delete()  # every file refused: no empty study is left behind
        return
    insert([(work, i, row) for i, row in fresh])
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
        replaced |= _settle(work, i, row, moved_from)
    if replaced:
        Study.objects.filter(pk=study.pk).bump_generation()
        generation += 1
        for pk in moved_from:
            Study.objects.filter(pk=pk).bump_generation()
    work.stamp(generation)


def _settle(work: Work, i: int, series: Series, moved_from: set[int]) -> bool:
    """An instance whose SOP Instance UID is stored (or came earlier in this batch):
    the same bytes, other bytes kept, or other bytes replacing the stored ones."""
    parsed = work.batch[i]
    existing = (
        Instance.objects.filter(sop_instance_uid=parsed.sop_instance_uid)
        .only("pk", "sha256", "series_id", "file_path")
        .get()
    )
    if existing.sha256 == parsed.spooled.sha256:
        work.results[i] = work.result(i, Status.ALREADY_STORED, existing.pk)
        return False
    if not settings.OVERWRITE_INSTANCES:
        work.results[i] = work.result(
            i,
            Status.KEPT_EXISTING,
            existing.pk,
            "an instance with this SOP Instance UID but different content is already"
            " stored; it was kept (OVERWRITE_INSTANCES is off)",
        )
        return False
    path = relpath(parsed.attrs, replacing=parsed.spooled.sha256)
    old_series = Series.objects.get(pk=existing.series_id)
    old_path = existing.file_path
    for name, value in instance_attrs(parsed, path).items():
        setattr(existing, name, value)
    existing.series = series
    existing.metadata = None
    existing.save()
    series.refresh_counts()
    moved = None
    if old_series.pk != series.pk:
        old_series.refresh_counts()
        if old_series.study_id != work.study.pk:
            old_study = Study.objects.select_for_update().get(pk=old_series.study_id)
            old_study.refresh_counts()
            moved_from.add(old_study.pk)
            moved = old_study.pk
    work.study.refresh_counts()
    work.will_place(i, path)
    work.results[i] = with_(
        work.result(i, Status.REPLACED, existing.pk),
        moved_from_study_pk=moved,
        superseded_path=old_path if old_path != path else "",
    )
    return True


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
