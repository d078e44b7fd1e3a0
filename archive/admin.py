"""Read-only admin of the index, with search, filters and each study's cache state.

Nothing can be added or edited here; the only change is deletion of a study or a series (the
archive admin role), which goes through ``deletion`` so files and caches go with the rows, and
whose confirmation page counts what goes instead of listing every instance. Access follows the
project's roles (``accounts.roles``) rather than per-model permissions.
"""

from django.contrib import admin, messages
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.urls import reverse
from django.utils.html import format_html

from accounts import roles

from . import deletion, display, tasks
from .models import CacheState, Instance, Series, Study


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False  # no second COUNT(*) over a large table per page
    list_per_page = 50

    def has_module_permission(self, request):
        return roles.has_role(request.user, roles.READER)

    def has_view_permission(self, request, obj=None):
        return roles.has_role(request.user, roles.READER)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return roles.has_role(request.user, roles.ADMIN)


class CacheStateFilter(admin.SimpleListFilter):
    title = "cache state"
    parameter_name = "cache"

    def lookups(self, request, model_admin):
        return CacheState.choices

    def queryset(self, request, queryset):
        return queryset.in_cache_state(self.value()) if self.value() else queryset


class ModalityFilter(admin.SimpleListFilter):
    title = "modality"
    parameter_name = "modality"

    def lookups(self, request, model_admin):
        modalities = Series.objects.exclude(modality="").values_list("modality", flat=True)
        return [(m, m) for m in modalities.distinct().order_by("modality")]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        if queryset.model is Study:
            return queryset.filter(series__modality=self.value()).distinct()
        return queryset.filter(modality=self.value())


class SeriesInline(admin.TabularInline):
    model = Series
    fields = readonly_fields = (
        "series_number",
        "modality",
        "series_description",
        "number_of_series_related_instances",
        "series_instance_uid",
    )
    extra = 0
    can_delete = False
    show_change_link = True

    def has_view_permission(self, request, obj=None):
        return roles.has_role(request.user, roles.READER)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Study)
class StudyAdmin(ReadOnlyAdmin):
    list_display = (
        "patient",
        "patient_id",
        "date",
        "accession_number",
        "study_description",
        "modalities",
        "series_count",
        "instance_count",
        "cache",
    )
    list_filter = (ModalityFilter, CacheStateFilter)
    search_fields = (
        "patient_name",
        "patient_id",
        "accession_number",
        "=study_instance_uid",
        "=series__series_instance_uid",
    )
    readonly_fields = ("cache", "cache_error")
    inlines = (SeriesInline,)
    ordering = ("-study_date", "-study_time", "-pk")
    actions = ("rebuild_caches",)

    @admin.display(description="patient name", ordering="patient_name_key")
    def patient(self, study):
        return display.person_name(study.patient_name) or "(no name)"

    @admin.display(description="study date", ordering="study_date")
    def date(self, study):
        time = display.dicom_time(study.study_time)
        return f"{display.dicom_date(study.study_date)} {time}".strip()

    @admin.display(description="series", ordering="number_of_study_related_series")
    def series_count(self, study):
        return study.number_of_study_related_series

    @admin.display(description="instances", ordering="number_of_study_related_instances")
    def instance_count(self, study):
        return study.number_of_study_related_instances

    @admin.display(description="modalities", ordering="modalities_in_study")
    def modalities(self, study):
        return study.modalities_in_study.replace("\\", ", ")

    @admin.display(description="cache")
    def cache(self, study):
        state = study.cache_state
        if state == CacheState.FAILED:
            return format_html('<span title="{}">failed</span>', study.cache_error)
        return state

    def get_deleted_objects(self, objs, request):
        studies = list(objs)
        series = sum(s.number_of_study_related_series for s in studies)
        instances = sum(s.number_of_study_related_instances for s in studies)
        summary = [
            f"{display.person_name(s.patient_name) or '(no name)'} "
            f"{display.dicom_date(s.study_date)} {s.study_description}: "
            f"{s.number_of_study_related_series} series, "
            f"{s.number_of_study_related_instances} instances"
            for s in studies
        ]
        counts = {"studies": len(studies), "series": series, "instances": instances}
        return summary, counts, set(), []

    def delete_model(self, request, obj):
        deletion.delete_study(obj)

    def delete_queryset(self, request, queryset):
        for study in queryset:
            deletion.delete_study(study)

    @admin.action(description="Rebuild caches of selected studies", permissions=["delete"])
    def rebuild_caches(self, request, queryset):
        for study in queryset:
            tasks.enqueue_cache_build(study.pk, reextract=True)
        self.message_user(request, f"Queued {queryset.count()} cache builds.", messages.SUCCESS)


@admin.register(Series)
class SeriesAdmin(ReadOnlyAdmin):
    list_display = (
        "series_instance_uid",
        "study_link",
        "series_number",
        "modality",
        "series_description",
        "number_of_series_related_instances",
        "tags",
    )
    readonly_fields = ("tags",)
    list_filter = (ModalityFilter,)
    list_select_related = ("study",)
    search_fields = (
        "=series_instance_uid",
        "=study__study_instance_uid",
        "study__patient_name",
        "study__patient_id",
        "study__accession_number",
    )
    ordering = ("-pk",)

    @admin.display(description="DICOM tags")
    def tags(self, series):
        url = reverse(
            "worklist:instance_tags",
            args=[series.study.study_instance_uid, series.series_instance_uid],
        )
        return format_html('<a href="{}">tags of its instances</a>', url)

    @admin.display(description="study")
    def study_link(self, series):
        url = reverse("admin:archive_study_change", args=[series.study_id])
        name = display.person_name(series.study.patient_name) or series.study
        return format_html('<a href="{}">{}</a>', url, name)

    def get_deleted_objects(self, objs, request):
        series = list(objs)
        instances = sum(s.number_of_series_related_instances for s in series)
        summary = [
            f"{s.modality} {s.series_number} {s.series_description}: "
            f"{s.number_of_series_related_instances} instances"
            for s in series
        ]
        return summary, {"series": len(series), "instances": instances}, set(), []

    def delete_model(self, request, obj):
        deletion.delete_series(obj)

    def delete_queryset(self, request, queryset):
        for series in queryset:
            deletion.delete_series(series)


@admin.register(Instance)
class InstanceAdmin(ReadOnlyAdmin):
    list_display = (
        "sop_instance_uid",
        "series",
        "instance_number",
        "sop_class_uid",
        "transfer_syntax_uid",
        "rows",
        "columns",
        "number_of_frames",
        "file_size",
        "metadata_cached",
        "tags",
    )
    search_fields = (
        "=sop_instance_uid",
        "=series__series_instance_uid",
        "=series__study__study_instance_uid",
    )
    readonly_fields = ("metadata_cached", "tags")
    list_select_related = ("series__study",)
    ordering = ("-pk",)

    @admin.display(description="DICOM tags")
    def tags(self, instance):
        series = instance.series
        url = reverse(
            "worklist:instance_tags",
            args=[series.study.study_instance_uid, series.series_instance_uid],
        )
        return format_html('<a href="{}?sop={}">read its tags</a>', url, instance.sop_instance_uid)

    @admin.display(description="metadata", boolean=True)
    def metadata_cached(self, instance):
        return instance.has_metadata

    def get_queryset(self, request):
        has_metadata = ExpressionWrapper(Q(metadata__isnull=False), output_field=BooleanField())
        queryset = super().get_queryset(request).defer("metadata", "frame_offsets")
        return queryset.annotate(has_metadata=has_metadata)

    def has_delete_permission(self, request, obj=None):
        return False  # instances go with their series or study
