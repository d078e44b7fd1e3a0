"""Admin for the viewer: data sources (Advanced collapsed), the one row of viewer settings, and
a preview of the app-config.js the viewer will load next."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from .appconfig import build_app_config, to_js
from .forms import DataSourceForm, ViewerSettingsForm
from .models import DataSource, ViewerSettings
from .views import site_urls


def preview_context(request) -> dict:
    config = build_app_config(
        ViewerSettings.load(), list(DataSource.objects.enabled()), urls=site_urls(request)
    )
    return {"app_config_js": to_js(config), "viewer_url": reverse("viewerconfig:index")}


@admin.register(DataSource)
class DataSourceAdmin(admin.ModelAdmin):
    form = DataSourceForm
    list_display = ("name", "friendly_name", "kind", "is_default", "enabled", "is_archive", "root")
    list_filter = ("kind", "enabled")
    search_fields = ("name", "friendly_name", "qido_root")
    change_list_template = "admin/viewerconfig/change_list_with_preview.html"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("name", "friendly_name"),
                    "kind",
                    ("enabled", "is_default", "is_archive"),
                    "position",
                )
            },
        ),
        (
            "DICOMweb server",
            {
                "description": "For a remote server, its QIDO/WADO roots; the server must "
                "allow this site's origin (CORS, see the README).",
                "fields": ("qido_root", "wado_root", "wado_uri_root", "stow_root"),
            },
        ),
        (
            "DICOMweb behaviour",
            {
                "fields": (
                    ("image_rendering", "thumbnail_rendering", "thumbnail_request_strategy"),
                    "enable_study_lazy_load",
                    "qido_supports_include_field",
                    "supports_wildcard",
                    "supports_fuzzy_matching",
                    "static_wado",
                    "supports_reject",
                    "dicom_upload_enabled",
                    "query_limit",
                )
            },
        ),
        (
            "Transfer",
            {
                "fields": (
                    "singlepart",
                    "accept_header",
                    "request_transfer_syntax_uid",
                    "htj2k_delivery",
                    "omit_quotation_for_multipart_request",
                    "bulk_data_uri_enabled",
                    "bulk_data_uri_relative_resolution",
                    ("bulk_data_uri_starts_with", "bulk_data_uri_prefix_with"),
                )
            },
        ),
        ("DICOM JSON", {"fields": ("allowed_origins",)}),
        ("Advanced", {"classes": ("collapse",), "fields": ("advanced",)}),
    )

    @admin.display(description="QIDO root")
    def root(self, obj):
        return "(this site)" if obj.is_archive else obj.qido_root

    def has_delete_permission(self, request, obj=None):
        # The default cannot go: OHIF needs one. Make another one the default first.
        if obj is not None and obj.is_default:
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request, queryset):
        if queryset.filter(is_default=True).exists():
            self.message_user(
                request,
                "The default data source was kept: make another one the default first.",
                messages.WARNING,
            )
        queryset.filter(is_default=False).delete()


@admin.register(ViewerSettings)
class ViewerSettingsAdmin(admin.ModelAdmin):
    form = ViewerSettingsForm
    change_form_template = "admin/viewerconfig/change_form_with_preview.html"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "router_basename",
                    "show_study_list",
                    ("show_tour", "show_error_details"),
                    ("investigational_use_dialog", "investigational_use_days"),
                    "modes",
                    "extensions",
                )
            },
        ),
        (
            "Sign-in inside the viewer (OIDC)",
            {
                "classes": ("collapse",),
                "fields": (
                    "oidc_enabled",
                    ("oidc_authority", "oidc_client_id"),
                    ("oidc_redirect_uri", "oidc_response_type"),
                    "oidc_scope",
                    ("oidc_post_logout_redirect_uri", "oidc_revoke_uri"),
                    ("oidc_automatic_silent_renew", "oidc_revoke_access_token_on_signout"),
                ),
            },
        ),
        ("Advanced", {"classes": ("collapse",), "fields": ("advanced",)}),
    )

    def has_add_permission(self, request):
        return not ViewerSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # One row: the list is its change page.
        settings = ViewerSettings.load()
        return HttpResponseRedirect(
            reverse("admin:viewerconfig_viewersettings_change", args=[settings.pk])
        )

    def get_urls(self):
        preview = path(
            "preview/",
            self.admin_site.admin_view(self.preview_view),
            name="viewerconfig_preview",
        )
        return [preview, *super().get_urls()]

    def preview_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            **preview_context(request),
            "title": "Preview of app-config.js",
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/viewerconfig/preview.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), **preview_context(request)}
        return super().change_view(request, object_id, form_url, extra_context)
