"""Remote AEs (with "C-ECHO now") and the sends to them, in the Django admin."""

from django.contrib import admin, messages
from django.db import transaction

from . import peers, sending
from .models import RemoteAE, SendItem, SendJob


@admin.register(RemoteAE)
class RemoteAEAdmin(admin.ModelAdmin):
    list_display = ("ae_title", "host", "port", "description", "may_store", "may_query",
                    "may_retrieve", "is_destination", "last_echo", "last_echo_at")  # fmt: skip
    search_fields = ("ae_title", "host", "description")
    readonly_fields = ("last_echo", "last_echo_at")
    actions = ["echo_now"]
    fieldsets = (
        (None, {"fields": ("ae_title", "host", "port", "description")}),
        ("May", {"fields": ("may_store", "may_query", "may_retrieve", "is_destination")}),
        ("Last C-ECHO", {"fields": ("last_echo", "last_echo_at")}),
    )

    @admin.action(description="C-ECHO now")
    def echo_now(self, request, queryset):
        for remote in queryset:
            outcome = peers.echo(remote)
            remote.record_echo(outcome)
            level = messages.SUCCESS if outcome == "success" else messages.ERROR
            self.message_user(request, f"C-ECHO {remote}: {outcome}", level)


class SendItemInline(admin.TabularInline):
    model = SendItem
    fields = readonly_fields = ("instance", "status", "dimse_status", "reason")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SendJob)
class SendJobAdmin(admin.ModelAdmin):
    """Send to…: add a job (a study and a destination) and it is sent by a worker; the items
    show each instance's answer; "Retry" sends what did not arrive."""

    list_display = ("study", "destination", "state", "progress", "requested_by", "created_at")
    list_filter = ("state", "destination")
    raw_id_fields = ("study",)
    inlines = [SendItemInline]
    actions = ["retry"]

    def get_inlines(self, request, obj=None):
        return self.inlines if obj is not None else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("study", "destination")
        return ("study", "destination", "state", "message", "attempts", "requested_by",
                "created_at", "finished_at")  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "destination":
            kwargs["queryset"] = RemoteAE.objects.filter(is_destination=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            return
        with transaction.atomic():
            obj.requested_by = request.user
            super().save_model(request, obj, form, change)
            sending.queue(obj)

    @admin.display(description="arrived")
    def progress(self, job):
        counts = job.counts()
        return f"{counts['sent'] + counts['warning']} / {sum(counts.values())}"

    @admin.action(description="Retry what did not arrive")
    def retry(self, request, queryset):
        queued = sum(sending.retry(job) for job in queryset)
        self.message_user(request, f"{queued} send(s) queued again.")
