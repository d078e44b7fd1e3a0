"""Admin for API tokens (issue, see once, revoke), provider identities and the access log
(read-only, exportable as CSV)."""

import csv

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.db.models import Case, When
from django.http import StreamingHttpResponse
from django.utils import timezone

from . import roles
from .models import AccessEvent, ApiToken, OidcIdentity, Project, ShareLink


class _GroupChoices(forms.ModelMultipleChoiceField):
    """Groups, the three roles first, each with what it allows."""

    def label_from_instance(self, group):
        description = roles.DESCRIPTIONS.get(group.name)
        return f"{group.name} — {description}" if description else group.name


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class RoleUserAdmin(UserAdmin):
    """Django's user admin, with the roles offered as checkboxes that say what each allows."""

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups":
            roles.ensure_groups()
            kwargs["form_class"] = _GroupChoices
            order = Case(*(When(name=r, then=i) for i, r in enumerate(roles.ORDER)), default=9)
            kwargs["queryset"] = Group.objects.order_by(order, "name")
            kwargs["widget"] = forms.CheckboxSelectMultiple
            kwargs["help_text"] = (
                "Roles: reader, uploader or admin (each includes the ones before it). "
                "An admin also needs “Staff status” to open this admin."
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "user",
        "role",
        "key_start",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("role", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "user__username", "key_start")
    autocomplete_fields = ("user",)
    readonly_fields = ("key_start", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke",)

    def get_readonly_fields(self, request, obj=None):
        # The owner of an issued token never changes; make a new one instead.
        return (*self.readonly_fields, "user") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change:
            key = obj.new_key()
            super().save_model(request, obj, form, change)
            self.message_user(
                request,
                f"Token for {obj.user}: {key} — copy it now, it is not shown again.",
                messages.WARNING,
            )
            return
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} token(s) revoked.")


@admin.register(OidcIdentity)
class OidcIdentityAdmin(admin.ModelAdmin):
    list_display = ("user", "subject", "issuer")
    search_fields = ("user__username", "subject")
    readonly_fields = ("user", "issuer", "subject", "last_login_claims")

    def has_add_permission(self, request):
        return False


class _Echo:
    def write(self, value):
        return value


@admin.register(AccessEvent)
class AccessEventAdmin(admin.ModelAdmin):
    """Read-only: filter by user, action, door and date, search by patient, study or user,
    export what is selected (or every match, with "select all") as CSV."""

    list_display = (
        "at",
        "username",
        "action",
        "door",
        "patient_id",
        "patient_name",
        "study_instance_uid",
        "ip",
    )
    list_filter = (
        "action",
        "door",
        "at",
        ("user", admin.RelatedOnlyFieldListFilter),
        "authenticated_by",
    )
    search_fields = ("username", "patient_id", "patient_name", "study_instance_uid", "ip")
    date_hierarchy = "at"
    actions = ("export_csv",)
    COLUMNS = (
        "at",
        "username",
        "action",
        "door",
        "study_instance_uid",
        "patient_id",
        "patient_name",
        "query",
        "result_count",
        "status_code",
        "method",
        "path",
        "ip",
        "user_agent",
        "authenticated_by",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # an audit trail is not edited from the web; see purge_access_log

    def get_actions(self, request):
        # Django offers "delete selected" to whoever may delete; nobody may, but be explicit.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Export the selected events as CSV")
    def export_csv(self, request, queryset):
        writer = csv.writer(_Echo())
        rows = queryset.order_by("at").values_list(*self.COLUMNS).iterator()
        lines = (writer.writerow(row) for row in rows)
        header = writer.writerow(self.COLUMNS)
        response = StreamingHttpResponse(
            (line for part in ([header], lines) for line in part), content_type="text/csv"
        )
        response["Content-Disposition"] = 'attachment; filename="access-log.csv"'
        return response


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    """Who may see which studies (accounts.projects): members, then studies by hand or by rule."""

    list_display = ("name", "description", "study_count", "provider_groups")
    search_fields = ("name", "description")
    filter_horizontal = ("users", "groups", "uploaders")
    autocomplete_fields = ("studies",)
    fieldsets = (
        (None, {"fields": ("name", "description")}),
        (
            "Who may see its studies",
            {"fields": ("users", "groups", "provider_groups", "remote_ae_titles")},
        ),
        ("Studies", {"fields": ("studies",)}),
        (
            "Studies added as they arrive",
            {
                "fields": (
                    "calling_ae_titles",
                    "institution_names",
                    "referring_physicians",
                    "uploaders",
                )
            },
        ),
    )

    @admin.display(description="studies")
    def study_count(self, project):
        return project.studies.count()


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    """Every share link, to see who shared what and revoke it. Links are made from the
    worklist (their token is shown once, there), never here."""

    list_display = ("key_start", "created_by", "state", "created_at", "expires_at", "last_used_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "allow_download", "created_at")
    search_fields = ("key_start", "created_by__username", "study_uids")
    readonly_fields = (
        "created_by",
        "study_uids",
        "description",
        "allow_download",
        "key_start",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    exclude = ("key_hash",)
    actions = ("revoke",)

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected links")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} link(s) revoked.")
