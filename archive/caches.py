"""The metadata caches a request serves without touching DICOM files. Knows nothing of HTTP
or Celery (``tasks.build_caches`` calls ``build``; views call the readers).

Three levels, each built from the one below:

* ``Instance.metadata``: the instance's full DICOM JSON (``dicomjson``), one parse per file;
  cleared by ingest when the file is replaced.
* ``Series.metadata_json``: gzip of the WADO-RS series metadata (a JSON array of the instances'
  DICOM JSON, ordered by InstanceNumber), valid for ``Series.metadata_generation``.
* ``Study.ohif_json``: gzip of OHIF's DICOM JSON document (``ohifjson``), valid when
  ``Study.cache_generation`` equals ``Study.generation``.

Freshness is the study's ``generation``, which ingest and deletion bump whenever the study
gains or loses instances: a document built for another generation is stale and is never
served. It is coarse (a new instance anywhere in the study makes every series document stale)
but cheap, because rebuilding a series document only concatenates per-instance JSON already in
the database. Readers (``series_metadata``, ``study_ohif_json``) build what is missing or stale
on the spot and keep it, whether or not PRELOAD made a worker build it earlier.

Documents hold placeholders instead of the site's address, replaced per request (``expand``),
so they stay right behind proxies and sub-paths: ``BASE_PLACEHOLDER`` for the DICOMweb root in
BulkDataURIs, ``WADOURI_PLACEHOLDER`` for the WADO-URI endpoint in OHIF's instance urls.
"""

import gzip
import json
import logging
from enum import StrEnum

from django.db import connection, transaction
from django.db.models import F, Q

from ohifsite.prepared import prepared_statements

from . import dicomjson, ohifjson, stores
from .models import SERIES_FIELDS, STUDY_FIELDS, Instance, Series, Study

log = logging.getLogger(__name__)

BASE_PLACEHOLDER = "$DICOMWEB_BASE$"
WADOURI_PLACEHOLDER = "$WADOURI_BASE$"
# Instances parsed between two database writes while extracting.
EXTRACT_BATCH = 100


class Outcome(StrEnum):
    BUILT = "built"
    SUPERSEDED = "superseded"
    DELETED = "deleted"
    FAILED = "failed"


def build(study_id: int, generation: int, *, reextract: bool = False) -> str:
    """Build every cache of a study for ``generation``; idempotent, safe to run twice at once.

    Per-instance extraction always runs (it is never wasted); the documents are only stored if
    the study is still at ``generation``, otherwise a newer build owns them ("superseded").
    A study deleted meanwhile ends quietly ("deleted"). A failure is recorded on the study
    (``cache_error``, shown in the admin) and reported, not raised, except OSError, which is
    raised after recording so that Celery retries it. ``reextract`` parses every file again,
    for a change of the DICOM JSON format.
    """
    with prepared_statements():
        return _build(study_id, generation, reextract)


def _build(study_id: int, generation: int, reextract: bool) -> str:
    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        return Outcome.DELETED
    try:
        # Builds queued by consecutive uploads run side by side on two worker processes:
        # alternate directions so that they share the parsing instead of repeating it.
        instances = Instance.objects.filter(series__study_id=study_id)
        extract(instances, everything=reextract, backwards=generation % 2 == 1)
        current = _generation(study_id)
        if current is None:
            return Outcome.DELETED
        if current != generation:
            return Outcome.SUPERSEDED
        _, stored = _build_documents(study, generation, extracted=True)
        if stored:
            return Outcome.BUILT
        return Outcome.DELETED if _generation(study_id) is None else Outcome.SUPERSEDED
    except Exception as exc:
        log.exception("cache build failed for study %s", study.study_instance_uid)
        Study.objects.filter(pk=study_id).update(cache_error=f"{type(exc).__name__}: {exc}"[:2000])
        if isinstance(exc, OSError):
            raise
        return f"{Outcome.FAILED}: {exc}"


def series_metadata(series: Series) -> bytes:
    """gzip of the series' WADO-RS metadata (JSON array, BulkDataURIs with BASE_PLACEHOLDER)."""
    generation = _generation(series.study_id)
    row = Series.objects.filter(pk=series.pk).values_list("metadata_json", "metadata_generation")
    row = row.first()
    if generation is None or row is None:
        raise Series.DoesNotExist(f"series {series.series_instance_uid} was deleted")
    document, built_for = row
    if document is not None and built_for == generation:
        return bytes(document)
    document, _ = _series_documents(series, generation)
    return document


def instance_metadata(instance: Instance) -> dict:
    """The instance's DICOM JSON (BulkDataURIs with BASE_PLACEHOLDER), extracted if missing."""
    row = Instance.objects.filter(pk=instance.pk)
    # A second pass only if the file was replaced while the first one parsed it.
    for _ in range(2):
        metadata = row.values_list("metadata", flat=True).first()
        if metadata is not None:
            return metadata
        if not row.exists():
            break
        extract(row)
    metadata = row.values_list("metadata", flat=True).first()
    if metadata is None:
        raise Instance.DoesNotExist(f"instance {instance.sop_instance_uid} is gone or replaced")
    return metadata


def study_ohif_json(study: Study) -> bytes:
    """gzip of OHIF's DICOM JSON document for the study (urls with WADOURI_PLACEHOLDER, and
    BASE_PLACEHOLDER in those of documents and videos)."""
    row = Study.objects.filter(pk=study.pk).values_list(
        "generation", "cache_generation", "ohif_json"
    )
    row = row.first()
    if row is None:
        raise Study.DoesNotExist(f"study {study.study_instance_uid} was deleted")
    generation, built_for, document = row
    if document is not None and built_for == generation:
        return bytes(document)
    document, _ = _build_documents(study, generation)
    return document


def expand(document: bytes, values: dict[str, str]) -> bytes:
    """A stored (gzip) document as JSON bytes with each placeholder replaced by its value."""
    text = gzip.decompress(document)
    for placeholder, value in values.items():
        text = text.replace(placeholder.encode(), json.dumps(value)[1:-1].encode())
    return text


def extract(instances, *, everything: bool = False, backwards: bool = False) -> int:
    """Store the DICOM JSON of those ``instances`` (a queryset) that lack it, or of all of
    them with ``everything``; returns how many were written. One parse per file, in batches.

    A row is only written if its file is still the one parsed (same sha256), so an instance
    replaced meanwhile keeps ``metadata`` empty for the next build. Instances deleted meanwhile
    are skipped. Each batch is chosen among the rows still lacking metadata, so two builds of
    one study going opposite ways (``backwards``) meet in the middle instead of parsing every
    file twice.
    """
    if not everything:
        instances = instances.filter(metadata__isnull=True)
    rows = instances.order_by("-pk" if backwards else "pk").values_list(
        "pk",
        "sha256",
        "file_path",
        "sop_instance_uid",
        "series__series_instance_uid",
        "series__study__study_instance_uid",
    )
    written, last = 0, None
    while True:
        after = {} if last is None else {"pk__lt" if backwards else "pk__gt": last}
        batch = list(rows.filter(**after)[:EXTRACT_BATCH])
        if not batch:
            return written
        last = batch[-1][0]
        parsed = [(pk, sha, _parse(pk, path, st, se, sop)) for pk, sha, path, sop, se, st in batch]
        with transaction.atomic():
            written += _store(parsed)
        if len(batch) < EXTRACT_BATCH:
            # None was left past this one when it was chosen: a row added since is another
            # generation's, whose build extracts it.
            return written


def _store(parsed: list[tuple[int, str, dict | None]]) -> int:
    """Write a batch's metadata in two statements rather than one a row, and return how many
    rows were written. The rows are locked first, in ascending order whichever way the batch
    was chosen: a build going the other way over the same rows (the other worker process, or a
    viewer building on demand) then waits for this one instead of deadlocking with it. Only the
    rows whose file is still the one parsed (same sha256, which cannot change while locked) are
    written. SQLite ignores the row locks; its transactions take the database's write lock at
    the start (``transaction_mode`` IMMEDIATE).

    The UPDATE is written by hand, one CASE over the primary key: Django's ``Case(When(...))``
    of the same statement cost more than the UPDATEs it replaced. The values are encoded by
    the field itself, as ``update()`` encodes them."""
    wanted = {pk: (sha, metadata) for pk, sha, metadata in parsed if metadata is not None}
    if not wanted:
        return 0
    locked = Instance.objects.select_for_update().filter(pk__in=wanted).order_by("pk")
    same = [pk for pk, sha in locked.values_list("pk", "sha256") if sha == wanted[pk][0]]
    if not same:
        return 0
    field, key = Instance._meta.get_field("metadata"), Instance._meta.pk.column
    quote = connection.ops.quote_name
    table, column, key = quote(Instance._meta.db_table), quote(field.column), quote(key)
    cases = " ".join(["WHEN %s THEN %s"] * len(same))
    listed = ", ".join(["%s"] * len(same))
    sql = f"UPDATE {table} SET {column} = CASE {key} {cases} END WHERE {key} IN ({listed})"
    params = []
    for pk in same:
        params += (pk, field.get_db_prep_value(wanted[pk][1], connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *same])
        return cursor.rowcount


def bulk_uri_prefix(study_uid: str, series_uid: str, sop_uid: str) -> str:
    return f"{BASE_PLACEHOLDER}/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/bulk/"


def _parse(pk: int, relpath: str, study_uid: str, series_uid: str, sop_uid: str) -> dict | None:
    """One read of the stored file (one GET from a bucket), parsed once."""
    prefix = bulk_uri_prefix(study_uid, series_uid, sop_uid)
    try:
        with stores.current().local_copy(relpath) as file:
            dataset = dicomjson.read(file)
            return dicomjson.to_json(dataset, lambda path: prefix + dicomjson.bulk_path(path))
    except OSError:
        if not Instance.objects.filter(pk=pk).exists():
            return None  # deleted while we worked: nothing to do
        raise


def _build_documents(study: Study, generation: int, extracted: bool = False) -> tuple[bytes, bool]:
    """Series documents and the OHIF document for ``generation``; returns the OHIF document
    and whether it was stored (only if the study is still at ``generation``). ``extracted``:
    the caller extracted the study's instances just now (``build``), so a series need not look
    again: an instance replaced since has no metadata, but its replacement made ``generation``
    stale, and a stale document is never served."""
    series_docs = [
        _series_documents(series, generation, extracted)[1]
        for series in Series.objects.filter(study_id=study.pk)
    ]
    attrs = {keyword: getattr(study, field) for keyword, field in STUDY_FIELDS.items()}
    document = _gzip_json(ohifjson.document(attrs, series_docs))
    stored = Study.objects.filter(pk=study.pk, generation=generation).update(
        ohif_json=document, cache_generation=generation, cache_error=""
    )
    return document, stored == 1


def _series_documents(
    series: Series, generation: int, extracted: bool = False
) -> tuple[bytes, dict]:
    """The WADO-RS metadata document (stored, unless a newer one is there) and the OHIF
    series entry of one series, from its instances' DICOM JSON (extracted if missing)."""
    instances = Instance.objects.filter(series_id=series.pk)
    if not extracted:
        extract(instances)
    ordered = instances.order_by(F("instance_number").asc(nulls_last=True), "pk")
    metadata = [m for m in ordered.values_list("metadata", flat=True) if m is not None]
    document = _gzip_json(metadata)
    Series.objects.filter(pk=series.pk).filter(
        Q(metadata_generation__isnull=True) | Q(metadata_generation__lte=generation)
    ).update(metadata_json=document, metadata_generation=generation)
    attrs = {keyword: getattr(series, field) for keyword, field in SERIES_FIELDS.items()}
    return document, ohifjson.series(attrs, metadata, WADOURI_PLACEHOLDER)


def _generation(study_id: int) -> int | None:
    return Study.objects.filter(pk=study_id).values_list("generation", flat=True).first()


def _gzip_json(value) -> bytes:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return gzip.compress(text.encode(), compresslevel=6, mtime=0)
