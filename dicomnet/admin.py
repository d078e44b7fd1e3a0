"""Remote AEs (with "C-ECHO now") and the sends to them, in the Django admin."""

from django.contrib import admin, messages

from . import peers
from .models import RemoteAE


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
