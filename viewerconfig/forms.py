"""Validation of what admins enter, so that app-config.js is always something OHIF can start
with. Each refusal says what to change (``ValidationError`` codes name the rule)."""

import re
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from archive.uids import is_valid_uid

from .appconfig import RESERVED_KEYS
from .models import DataSource, Htj2kDelivery, ImageRendering, Kind, ViewerSettings

SINGLEPART_KINDS = ("bulkdata", "video", "pdf", "image", "thumbnail")
_FUNCTION = re.compile(r"^\s*(async\s+)?(function\b|\(?[\w$\s,]*\)?\s*=>)")
_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+*-]+(\s*;.*)?$")


def check_plain_json(value, *, reserved=(), label="Advanced configuration"):
    """A JSON object of plain values; OHIF options that take functions cannot be set here."""
    if not isinstance(value, dict):
        raise ValidationError(f"{label} must be a JSON object {{...}}.", code="not_object")
    if clash := sorted(set(value) & set(reserved)):
        raise ValidationError(
            f"{label} may not set {', '.join(clash)}: edit the data sources instead.",
            code="reserved_key",
        )
    for path, item in _strings(value):
        if _FUNCTION.match(item):
            raise ValidationError(
                f"{label}: {path} looks like a JavaScript function; only plain JSON values "
                "can be configured here.",
                code="function",
            )


def _strings(value, path="$"):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def check_root(value: str) -> str:
    """An http(s) URL or a path on this site ("/other/dicom-web"); trailing slashes dropped."""
    value = value.strip().rstrip("/")
    if not value:
        return value
    parts = urlsplit(value)
    absolute = parts.scheme in ("http", "https") and parts.netloc
    on_this_site = value.startswith("/") and not value.startswith("//") and not parts.netloc
    if not (absolute or on_this_site) or parts.query or parts.fragment:
        raise ValidationError(
            f"{value!r} is not a base URL: write https://host/path (or /path on this site), "
            "without ? or #.",
            code="bad_url",
        )
    return value


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class DataSourceForm(forms.ModelForm):
    class Meta:
        model = DataSource
        fields = (
            "name", "friendly_name", "kind", "enabled", "is_default", "is_archive", "position",
            "qido_root", "wado_root", "wado_uri_root", "stow_root",
            "qido_supports_include_field", "supports_reject", "supports_fuzzy_matching",
            "supports_wildcard", "static_wado", "image_rendering", "thumbnail_rendering",
            "thumbnail_request_strategy", "enable_study_lazy_load", "dicom_upload_enabled",
            "singlepart", "accept_header", "request_transfer_syntax_uid", "htj2k_delivery",
            "omit_quotation_for_multipart_request", "bulk_data_uri_enabled",
            "bulk_data_uri_relative_resolution", "bulk_data_uri_starts_with",
            "bulk_data_uri_prefix_with", "query_limit", "allowed_origins", "advanced",
        )  # fmt: skip
        help_texts = {
            # Said here, not on the model field, so that it needs no migration.
            "singlepart": "Comma-separated kinds OHIF fetches single-part instead of "
            "multipart/related: bulkdata, video, pdf, image, thumbnail. Empty: multipart for "
            "all. With video or pdf, OHIF loads films and PDFs from their rendered URL, which "
            "this archive answers with the stored film or document: every combination works "
            "here; a remote archive may need them (Orthanc: bulkdata,video).",
        }
        widgets = {
            "accept_header": forms.Textarea(attrs={"rows": 2, "cols": 80}),
            "allowed_origins": forms.Textarea(attrs={"rows": 2, "cols": 80}),
        }

    def clean_qido_root(self):
        return check_root(self.cleaned_data["qido_root"])

    def clean_wado_root(self):
        return check_root(self.cleaned_data["wado_root"])

    def clean_wado_uri_root(self):
        return check_root(self.cleaned_data["wado_uri_root"])

    def clean_stow_root(self):
        return check_root(self.cleaned_data["stow_root"])

    def clean_singlepart(self):
        kinds = [k.strip() for k in self.cleaned_data["singlepart"].split(",") if k.strip()]
        if unknown := [k for k in kinds if k not in SINGLEPART_KINDS]:
            raise ValidationError(
                f"Unknown singlepart kind(s) {', '.join(unknown)}; "
                f"choose among {', '.join(SINGLEPART_KINDS)}.",
                code="singlepart",
            )
        return ",".join(kinds)

    def clean_accept_header(self):
        lines = _lines(self.cleaned_data["accept_header"])
        if bad := [line for line in lines if not _MEDIA_TYPE.match(line)]:
            raise ValidationError(
                f"Not a media type: {bad[0]!r} (e.g. multipart/related; "
                "type=application/octet-stream; transfer-syntax=*).",
                code="accept_header",
            )
        return "\n".join(lines)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Scripts and older forms that do not send it keep "auto".
        self.fields["htj2k_delivery"].required = False

    def clean_htj2k_delivery(self):
        return self.cleaned_data["htj2k_delivery"] or Htj2kDelivery.AUTO

    def clean_request_transfer_syntax_uid(self):
        value = self.cleaned_data["request_transfer_syntax_uid"].strip()
        if value and not is_valid_uid(value):
            raise ValidationError(f"{value!r} is not a UID.", code="bad_uid")
        return value

    def clean_allowed_origins(self):
        lines = _lines(self.cleaned_data["allowed_origins"])
        for line in lines:
            parts = urlsplit(line)
            origin_only = parts.netloc and parts.path in ("", "/")
            if parts.scheme not in ("http", "https") or not origin_only:
                raise ValidationError(
                    f"{line!r} is not an origin: write scheme://host[:port], no path.",
                    code="bad_origin",
                )
        return "\n".join(line.rstrip("/") for line in lines)

    def clean_advanced(self):
        value = self.cleaned_data["advanced"]
        check_plain_json(value if value is not None else {}, reserved=("name",))
        return value or {}

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if data["is_default"] and not data["enabled"]:
            self.add_error(
                "is_default",
                ValidationError(
                    "A disabled data source cannot be the default: enable it, or make another "
                    "data source the default.",
                    code="default_disabled",
                ),
            )
        was_default = (
            self.instance.pk
            and DataSource.objects.filter(pk=self.instance.pk, is_default=True).exists()
        )
        if was_default and not data["is_default"]:
            self.add_error(
                "is_default",
                ValidationError(
                    "There must be one default data source: open the one that should be the "
                    "default and tick 'default' there instead.",
                    code="default_required",
                ),
            )
        if data["kind"] == Kind.DICOMWEB:
            self._clean_dicomweb(data)
        return data

    def _clean_dicomweb(self, data):
        roots = ("qido_root", "wado_root", "wado_uri_root", "stow_root")
        if data["is_archive"]:
            for field in roots:
                if data.get(field):
                    self.add_error(
                        field,
                        ValidationError(
                            "Leave the roots empty for this archive: they are computed from "
                            "each request.",
                            code="archive_roots",
                        ),
                    )
            return
        if not data.get("qido_root"):
            self.add_error(
                "qido_root",
                ValidationError(
                    "A remote DICOMweb data source needs its qidoRoot (or tick 'this archive').",
                    code="required_root",
                ),
            )
        if data["image_rendering"] == ImageRendering.WADOURI and not data.get("wado_uri_root"):
            self.add_error(
                "wado_uri_root",
                ValidationError(
                    "imageRendering=wadouri needs wadoUriRoot.", code="wadouri_needs_root"
                ),
            )
        if bool(data.get("bulk_data_uri_starts_with")) != bool(
            data.get("bulk_data_uri_prefix_with")
        ):
            self.add_error(
                "bulk_data_uri_prefix_with",
                ValidationError(
                    "bulkDataURI.startsWith and prefixWith go together: fill both or neither.",
                    code="bulk_pair",
                ),
            )


class ViewerSettingsForm(forms.ModelForm):
    class Meta:
        model = ViewerSettings
        fields = (
            "router_basename", "show_study_list", "show_tour", "show_error_details", "modes",
            "extensions", "investigational_use_dialog", "investigational_use_days", "oidc_enabled",
            "oidc_authority", "oidc_client_id", "oidc_redirect_uri", "oidc_response_type",
            "oidc_scope", "oidc_post_logout_redirect_uri", "oidc_revoke_uri",
            "oidc_automatic_silent_renew", "oidc_revoke_access_token_on_signout", "advanced",
        )  # fmt: skip

    def clean_router_basename(self):
        value = self.cleaned_data["router_basename"].strip()
        if value and (not value.startswith("/") or value.startswith("//") or "?" in value):
            raise ValidationError(
                "routerBasename is a path starting with /, e.g. /ohif (or empty to follow "
                "where the site serves OHIF).",
                code="bad_basename",
            )
        return value.rstrip("/") or ("/" if value else "")

    def clean_oidc_authority(self):
        value = self.cleaned_data["oidc_authority"].strip()
        if value:
            URLValidator(schemes=["https", "http"], message="Write the issuer's https:// URL.")(
                value
            )
        return value

    def clean_modes(self):
        return self._package_list("modes")

    def clean_extensions(self):
        return self._package_list("extensions")

    def _package_list(self, field):
        value = self.cleaned_data[field]
        if value in (None, ""):
            return []
        if not isinstance(value, list):
            raise ValidationError(f"{field} must be a JSON list, e.g. [].", code="not_list")
        check_plain_json({field: value}, label=field)
        return value

    def clean_advanced(self):
        value = self.cleaned_data["advanced"]
        check_plain_json(value if value is not None else {}, reserved=RESERVED_KEYS)
        return value or {}

    def clean(self):
        data = super().clean()
        if data.get("oidc_enabled"):
            for field in ("oidc_authority", "oidc_client_id"):
                if not data.get(field):
                    self.add_error(
                        field,
                        ValidationError(
                            "Needed when OIDC in the viewer is on.", code="oidc_incomplete"
                        ),
                    )
        return data
