"""The index: one row per study, series and instance, holding what QIDO-RS matches and returns.

Field names are the DICOM keywords in snake_case; ``STUDY_FIELDS``, ``SERIES_FIELDS`` and
``INSTANCE_FIELDS`` are the one table from keyword to field, used by ingest and by queries.
Dates and times are kept as DICOM strings (DA ``YYYYMMDD``, TM ``HHMMSS.FFFFFF``): they sort and
compare as text, which is what range matching needs, and they round-trip exactly.
"""

from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone


class CacheState(models.TextChoices):
    PENDING = "pending", "pending"
    READY = "ready", "ready"
    FAILED = "failed", "failed"


class StudyQuerySet(models.QuerySet):
    """Cache state and generation, in one place for ingest, deletion, the caches, the admin
    and the worklist."""

    def bump_generation(self, **changes) -> None:
        """Mark the caches of these studies stale, with ``changes`` in the same statement (the
        database does the increment, so no update is lost). A caller holding the study's row
        lock knows the new generation without reading it back."""
        self.update(generation=F("generation") + 1, updated_at=timezone.now(), **changes)

    def in_cache_state(self, state: str) -> "StudyQuerySet":
        """Studies whose ``cache_state`` is ``state`` (plain comparisons, cheap to filter)."""
        if state == CacheState.READY:
            return self.filter(_FRESH)
        if state == CacheState.FAILED:
            return self.stale().exclude(cache_error="")
        if state == CacheState.PENDING:
            return self.stale().filter(cache_error="")
        return self.none()

    def stale(self) -> "StudyQuerySet":
        """Studies whose caches are not built for their current generation."""
        return self.filter(Q(cache_generation__isnull=True) | ~_FRESH)

    def with_state_rank(self) -> "StudyQuerySet":
        """``state_rank``: the cache state as a number the database can sort on
        (``CACHE_STATE_RANK``)."""
        return self.annotate(
            state_rank=Case(
                When(_FRESH, then=Value(CACHE_STATE_RANK["ready"])),
                When(~Q(cache_error=""), then=Value(CACHE_STATE_RANK["failed"])),
                default=Value(CACHE_STATE_RANK["pending"]),
                output_field=models.IntegerField(),
            )
        )


_FRESH = Q(cache_generation=F("generation"))

# The order of cache states when sorting a list by them: what needs attention first.
CACHE_STATE_RANK = {"failed": 0, "pending": 1, "ready": 2}


class Study(models.Model):
    study_instance_uid = models.CharField(max_length=64, unique=True)
    study_date = models.CharField(max_length=8, blank=True, db_index=True)
    study_time = models.CharField(max_length=16, blank=True)
    accession_number = models.CharField(max_length=16, blank=True, db_index=True)
    study_id = models.CharField(max_length=16, blank=True)
    study_description = models.CharField(max_length=64, blank=True)
    referring_physician_name = models.CharField(max_length=324, blank=True)
    patient_name = models.CharField(max_length=324, blank=True)
    # PatientName upper-cased, for case-insensitive and prefix matching on an index.
    patient_name_key = models.CharField(max_length=324, blank=True, db_index=True)
    patient_id = models.CharField(max_length=64, blank=True, db_index=True)
    patient_birth_date = models.CharField(max_length=8, blank=True)
    patient_sex = models.CharField(max_length=16, blank=True)
    patient_age = models.CharField(max_length=4, blank=True)
    patient_size = models.CharField(max_length=16, blank=True)
    patient_weight = models.CharField(max_length=16, blank=True)
    specific_character_set = models.CharField(max_length=64, blank=True)
    # Derived from the series rows; kept up to date by ingest and deletion.
    modalities_in_study = models.CharField(max_length=128, blank=True, db_index=True)
    number_of_study_related_series = models.PositiveIntegerField(default=0)
    number_of_study_related_instances = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Caches: ``generation`` counts changes to the study's set of instances;
    # ``cache_generation`` is the generation the caches were built from.
    generation = models.PositiveIntegerField(default=0)
    cache_generation = models.PositiveIntegerField(null=True, blank=True)
    cache_error = models.TextField(blank=True)
    ohif_json = models.BinaryField(null=True, blank=True, editable=False)

    objects = StudyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "studies"
        indexes = [
            models.Index(fields=["patient_id", "study_date"]),
            # QIDO-RS study order (newest first), read backwards or forwards by index.
            models.Index(fields=["-study_date", "-study_time", "-id"], name="study_newest_first"),
            models.Index(
                fields=["patient_name_key"],
                name="study_pname_prefix",
                opclasses=["varchar_pattern_ops"],
            ),
            models.Index(
                fields=["patient_id"], name="study_pid_prefix", opclasses=["varchar_pattern_ops"]
            ),
            # Other QIDO-RS keys that can be selective; wildcard searches on text use the
            # pg_trgm indexes of migration 0003 (PostgreSQL).
            models.Index(fields=["patient_birth_date"], name="study_birth_date"),
            models.Index(fields=["study_id"], name="study_study_id"),
            models.Index(fields=["study_description"], name="study_description_idx"),
        ]

    def __str__(self):
        return self.study_instance_uid

    @property
    def cache_state(self) -> str:
        if self.cache_error and self.cache_generation != self.generation:
            return CacheState.FAILED
        if self.cache_generation == self.generation:
            return CacheState.READY
        return CacheState.PENDING

    def refresh_counts(self):
        """Recompute the derived study attributes from the series rows.

        Called with the study row locked (ingest, deletion), so concurrent writers cannot
        interleave between the count and the update.
        """
        series = self.series_set.all()
        modalities = sorted({m for m in series.values_list("modality", flat=True) if m})
        self.modalities_in_study = "\\".join(modalities)
        self.number_of_study_related_series = series.count()
        self.number_of_study_related_instances = Instance.objects.filter(series__study=self).count()
        self.save(
            update_fields=[
                "modalities_in_study",
                "number_of_study_related_series",
                "number_of_study_related_instances",
                "updated_at",
            ]
        )

    def bump_generation(self):
        """Mark the caches stale; the database does the increment so no update is lost."""
        Study.objects.filter(pk=self.pk).bump_generation()
        self.refresh_from_db(fields=["generation", "updated_at"])


class Series(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE)
    series_instance_uid = models.CharField(max_length=64, unique=True)
    modality = models.CharField(max_length=16, blank=True, db_index=True)
    series_number = models.IntegerField(null=True, blank=True)
    series_description = models.CharField(max_length=64, blank=True)
    series_date = models.CharField(max_length=8, blank=True)
    series_time = models.CharField(max_length=16, blank=True)
    body_part_examined = models.CharField(max_length=16, blank=True)
    protocol_name = models.CharField(max_length=64, blank=True)
    performed_procedure_step_start_date = models.CharField(max_length=8, blank=True)
    performed_procedure_step_start_time = models.CharField(max_length=16, blank=True)
    number_of_series_related_instances = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # WADO-RS series metadata: gzip of a DICOM JSON array whose BulkDataURIs start with
    # ``BULKDATA_BASE_PLACEHOLDER``, replaced by the request's base URL when served.
    metadata_json = models.BinaryField(null=True, blank=True, editable=False)
    metadata_generation = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "series"
        indexes = [
            models.Index(fields=["study", "series_number"]),
            # ModalitiesInStudy matching: EXISTS (series of this study with one of the modalities)
            models.Index(fields=["study", "modality"], name="series_study_modality"),
            # Searches for series across studies: QIDO-RS order, and SeriesDate matching.
            models.Index(fields=["series_number", "id"], name="series_qido_order"),
            models.Index(fields=["series_date"], name="series_date_idx"),
        ]

    def __str__(self):
        return self.series_instance_uid

    def refresh_counts(self):
        self.number_of_series_related_instances = self.instance_set.count()
        self.save(update_fields=["number_of_series_related_instances"])


class Instance(models.Model):
    series = models.ForeignKey(Series, on_delete=models.CASCADE)
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    sop_class_uid = models.CharField(max_length=64, blank=True, db_index=True)
    instance_number = models.IntegerField(null=True, blank=True)
    transfer_syntax_uid = models.CharField(max_length=64)
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    number_of_frames = models.PositiveIntegerField(null=True, blank=True)
    bits_allocated = models.PositiveSmallIntegerField(null=True, blank=True)
    samples_per_pixel = models.PositiveSmallIntegerField(null=True, blank=True)
    photometric_interpretation = models.CharField(max_length=16, blank=True)
    content_date = models.CharField(max_length=8, blank=True)
    content_time = models.CharField(max_length=16, blank=True)
    # With content_date/time and instance_number: what OHIF 3.14 orders the versions of an SR,
    # SEG or RTSTRUCT saved "to current" (into their own series) by, from instance searches.
    instance_creation_date = models.CharField(max_length=8, blank=True)
    instance_creation_time = models.CharField(max_length=16, blank=True)
    structure_set_date = models.CharField(max_length=8, blank=True)
    # Relative to settings.DICOM_STORAGE_DIR; built from validated UIDs only.
    file_path = models.CharField(max_length=255)
    file_size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    # Where each frame's bytes lie in the file, so a frame is served without parsing the file:
    # one list of [offset, length] pieces per frame (several pieces for a fragmented frame).
    frame_offsets = models.JSONField(null=True, blank=True, editable=False)
    # Full DICOM JSON of the instance (PS3.18 Annex F) with BulkDataURIs, built by a worker.
    metadata = models.JSONField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["series", "instance_number"]),
            # Searches for instances across series (QIDO-RS order).
            models.Index(fields=["instance_number", "id"], name="instance_qido_order"),
            # A file whose bytes are already stored is recognised before it is parsed.
            models.Index(fields=["sha256"], name="instance_sha256"),
        ]

    def __str__(self):
        return self.sop_instance_uid

    @property
    def absolute_path(self):
        """The file on this host with the filesystem backend (tests, tools); reads in the
        product go through ``stores.current()``, which also knows the bucket."""
        from django.conf import settings

        return settings.DICOM_STORAGE_DIR / self.file_path


class Rendition(models.Model):
    """A lossless HTJ2K copy of an instance (``archive.renditions``): a Part-10 file beside the
    original, whose frames are served to viewers that ask for HTJ2K. Valid only while its
    ``source_sha256`` is the instance's: a replaced original is never answered from the copy
    of the old one."""

    # No database cascade: deleting a study's instances stays one statement
    # (``archive.deletion`` removes their renditions itself, rows and files).
    instance = models.OneToOneField(
        Instance, on_delete=models.DO_NOTHING, db_constraint=False, related_name="rendition"
    )
    transfer_syntax_uid = models.CharField(max_length=64)
    # Relative to settings.DICOM_STORAGE_DIR, beside the original.
    file_path = models.CharField(max_length=255)
    file_size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    source_sha256 = models.CharField(max_length=64)
    # As Instance.frame_offsets: one list of [offset, length] pieces per frame.
    frame_offsets = models.JSONField(editable=False)
    encode_seconds = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"HTJ2K of {self.instance_id}"

    @property
    def absolute_path(self):
        from django.conf import settings

        return settings.DICOM_STORAGE_DIR / self.file_path


# Keyword -> model field, per level. Ingest copies these from each dataset; queries translate
# QIDO-RS keys through them. Attributes here are also what QIDO-RS returns from the index.
STUDY_FIELDS = {
    "StudyInstanceUID": "study_instance_uid",
    "StudyDate": "study_date",
    "StudyTime": "study_time",
    "AccessionNumber": "accession_number",
    "StudyID": "study_id",
    "StudyDescription": "study_description",
    "ReferringPhysicianName": "referring_physician_name",
    "PatientName": "patient_name",
    "PatientID": "patient_id",
    "PatientBirthDate": "patient_birth_date",
    "PatientSex": "patient_sex",
    "PatientAge": "patient_age",
    "PatientSize": "patient_size",
    "PatientWeight": "patient_weight",
    "SpecificCharacterSet": "specific_character_set",
}
STUDY_DERIVED_FIELDS = {
    "ModalitiesInStudy": "modalities_in_study",
    "NumberOfStudyRelatedSeries": "number_of_study_related_series",
    "NumberOfStudyRelatedInstances": "number_of_study_related_instances",
}
SERIES_FIELDS = {
    "SeriesInstanceUID": "series_instance_uid",
    "Modality": "modality",
    "SeriesNumber": "series_number",
    "SeriesDescription": "series_description",
    "SeriesDate": "series_date",
    "SeriesTime": "series_time",
    "BodyPartExamined": "body_part_examined",
    "ProtocolName": "protocol_name",
    "PerformedProcedureStepStartDate": "performed_procedure_step_start_date",
    "PerformedProcedureStepStartTime": "performed_procedure_step_start_time",
}
SERIES_DERIVED_FIELDS = {
    "NumberOfSeriesRelatedInstances": "number_of_series_related_instances",
}
INSTANCE_FIELDS = {
    "SOPInstanceUID": "sop_instance_uid",
    "SOPClassUID": "sop_class_uid",
    "InstanceNumber": "instance_number",
    "Rows": "rows",
    "Columns": "columns",
    "NumberOfFrames": "number_of_frames",
    "BitsAllocated": "bits_allocated",
    "SamplesPerPixel": "samples_per_pixel",
    "PhotometricInterpretation": "photometric_interpretation",
    "ContentDate": "content_date",
    "ContentTime": "content_time",
    "InstanceCreationDate": "instance_creation_date",
    "InstanceCreationTime": "instance_creation_time",
    "StructureSetDate": "structure_set_date",
}
