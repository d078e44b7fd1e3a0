"""What the admin configures about the hosted OHIF viewer: its data sources (one row per entry of
OHIF's ``dataSources``) and the viewer-wide settings (one row). ``appconfig`` turns them into
``window.config``; field names follow OHIF's option names in snake_case.
"""

from django.db import models, transaction

DICOMWEB_NAMESPACE = "@ohif/extension-default.dataSourcesModule.dicomweb"
DICOMJSON_NAMESPACE = "@ohif/extension-default.dataSourcesModule.dicomjson"


class Kind(models.TextChoices):
    DICOMWEB = "dicomweb", "DICOMweb server"
    DICOMJSON = "dicomjson", "DICOM JSON (study document given by ?url=)"


class ImageRendering(models.TextChoices):
    WADORS = "wadors", "wadors: frames through WADO-RS"
    WADOURI = "wadouri", "wadouri: whole instances through WADO-URI"


class ThumbnailRendering(models.TextChoices):
    WADORS = "wadors", "wadors: decode a frame in the browser"
    THUMBNAIL = "thumbnail", "thumbnail: the server's /thumbnail resource"
    THUMBNAIL_DIRECT = "thumbnailDirect", "thumbnailDirect: <img> on /thumbnail (no auth header)"
    RENDERED = "rendered", "rendered: the server's /rendered resource"


class ThumbnailRequestStrategy(models.TextChoices):
    DEFAULT = "", "OHIF's default"
    BULKDATA = "bulkDataRetrieve", "bulkDataRetrieve"
    FETCH = "fetch", "fetch"


class RelativeResolution(models.TextChoices):
    SERIES = "series", "series"
    STUDIES = "studies", "studies"


class Htj2kDelivery(models.TextChoices):
    AUTO = "auto", "auto: streamed, for this archive with RENDITIONS on; else off"
    OFF = "off", "off: frames as acceptHeader asks"
    STREAMING = "streaming", "streamed: HTJ2K frames decoded as they arrive"
    RANGES = "ranges", "byte ranges: the first 64 KB of each HTJ2K frame, then the rest"


class DataSourceQuerySet(models.QuerySet):
    def enabled(self):
        return self.filter(enabled=True).order_by("position", "name")

    def default(self):
        return self.filter(enabled=True, is_default=True).first()


class DataSource(models.Model):
    name = models.SlugField(
        max_length=64,
        unique=True,
        help_text="OHIF's sourceName: used in launch URLs (/ohif/viewer/<name>?...) and as "
        "defaultDataSourceName. Letters, digits, - and _.",
    )
    friendly_name = models.CharField(
        max_length=100, help_text="Label OHIF shows for this data source (friendlyName)."
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.DICOMWEB)
    enabled = models.BooleanField(
        default=True, help_text="Disabled data sources are left out of app-config.js."
    )
    is_default = models.BooleanField(
        "default",
        default=False,
        help_text="The data source OHIF uses when the URL names none. Exactly one enabled "
        "data source is the default; choosing this one un-defaults the previous one.",
    )
    is_archive = models.BooleanField(
        "this archive",
        default=False,
        help_text="Read this archive: the QIDO, WADO and WADO-URI roots are computed from each "
        "request (host and sub-path), so the roots below are ignored.",
    )
    position = models.PositiveSmallIntegerField(
        default=0, help_text="Order in OHIF's data-source list (smallest first)."
    )

    # --- DICOMweb (OHIF's DicomWebDataSource configuration) -------------------------------
    qido_root = models.CharField(
        "qidoRoot",
        max_length=500,
        blank=True,
        help_text="Base URL of QIDO-RS, e.g. https://pacs.example.org/dicom-web (no trailing "
        "slash). A remote server must allow this site's origin (CORS).",
    )
    wado_root = models.CharField(
        "wadoRoot", max_length=500, blank=True, help_text="Base URL of WADO-RS (often = qidoRoot)."
    )
    wado_uri_root = models.CharField(
        "wadoUriRoot",
        max_length=500,
        blank=True,
        help_text="WADO-URI endpoint, e.g. https://pacs.example.org/wado. Needed for "
        "imageRendering=wadouri.",
    )
    stow_root = models.CharField(
        "stowRoot",
        max_length=500,
        blank=True,
        help_text="Base URL for STOW-RS uploads; empty means wadoRoot.",
    )
    qido_supports_include_field = models.BooleanField(
        "qidoSupportsIncludeField",
        default=True,
        help_text="The server honours includefield= in QIDO-RS.",
    )
    supports_reject = models.BooleanField(
        "supportsReject",
        default=False,
        help_text="dcm4chee-style rejection (POST .../reject/113001%5EDCM) is offered in OHIF.",
    )
    supports_fuzzy_matching = models.BooleanField(
        "supportsFuzzyMatching", default=False, help_text="Send fuzzymatching=true in QIDO-RS."
    )
    supports_wildcard = models.BooleanField(
        "supportsWildcard",
        default=True,
        help_text="Wrap study-list text filters as *value* (the server supports * wildcards).",
    )
    static_wado = models.BooleanField(
        "staticWado",
        default=False,
        help_text="Filter QIDO results again in the browser (for static DICOMweb servers that "
        "ignore query parameters).",
    )
    image_rendering = models.CharField(
        "imageRendering",
        max_length=16,
        choices=ImageRendering.choices,
        default=ImageRendering.WADORS,
        help_text="How pixel data is fetched.",
    )
    thumbnail_rendering = models.CharField(
        "thumbnailRendering",
        max_length=16,
        choices=ThumbnailRendering.choices,
        default=ThumbnailRendering.WADORS,
        help_text="How series thumbnails are made.",
    )
    thumbnail_request_strategy = models.CharField(
        "thumbnailRequestStrategy",
        max_length=16,
        choices=ThumbnailRequestStrategy.choices,
        default=ThumbnailRequestStrategy.DEFAULT,
        blank=True,
        help_text="How thumbnail/rendered images are requested.",
    )
    enable_study_lazy_load = models.BooleanField(
        "enableStudyLazyLoad",
        default=True,
        help_text="Load metadata series by series (/series/{uid}/metadata) instead of the "
        "whole study at once.",
    )
    dicom_upload_enabled = models.BooleanField(
        "dicomUploadEnabled",
        default=False,
        help_text="Show OHIF's Upload button (STOW-RS to stowRoot). In OHIF 3.13 this flag "
        "alone turns it on.",
    )
    singlepart = models.CharField(
        max_length=100,
        blank=True,
        help_text="Comma-separated kinds the server returns single-part instead of "
        "multipart/related: bulkdata, video, pdf, image, thumbnail. Empty: multipart for all.",
    )
    accept_header = models.TextField(
        "acceptHeader",
        blank=True,
        help_text="Accept header(s) for pixel-data requests, one per line, sent verbatim; "
        "empty: OHIF's default. Example: multipart/related; type=application/octet-stream; "
        "transfer-syntax=*",
    )
    request_transfer_syntax_uid = models.CharField(
        "requestTransferSyntaxUID",
        max_length=64,
        blank=True,
        help_text="Ask for frames in this transfer syntax (only when acceptHeader is empty).",
    )
    htj2k_delivery = models.CharField(
        "HTJ2K progressive delivery",
        max_length=16,
        choices=Htj2kDelivery.choices,
        default=Htj2kDelivery.AUTO,
        help_text="Ask for frames in HTJ2K (1.2.840.10008.1.2.4.202, acceptHeader's lines as the "
        "fallback) and show each image from its first bytes at a lower resolution, sharpened as "
        "the rest arrives (OHIF's stackRetrieveOptions). The server must offer HTJ2K: this "
        "archive does from its renditions (README, HTJ2K renditions).",
    )
    omit_quotation_for_multipart_request = models.BooleanField(
        "omitQuotationForMultipartRequest",
        default=True,
        help_text="Write multipart Accept parameters without quotes (needed by some .NET "
        "servers; saves a CORS preflight).",
    )
    bulk_data_uri_enabled = models.BooleanField(
        "bulkDataURI.enabled",
        default=True,
        help_text="Fetch large attributes (pixel data, documents) through their BulkDataURI.",
    )
    bulk_data_uri_relative_resolution = models.CharField(
        "bulkDataURI.relativeResolution",
        max_length=16,
        choices=RelativeResolution.choices,
        default=RelativeResolution.SERIES,
        help_text="What a relative BulkDataURI is relative to.",
    )
    bulk_data_uri_starts_with = models.CharField(
        "bulkDataURI.startsWith",
        max_length=500,
        blank=True,
        help_text="With prefixWith: BulkDataURIs starting with this are rewritten (proxies).",
    )
    bulk_data_uri_prefix_with = models.CharField(
        "bulkDataURI.prefixWith",
        max_length=500,
        blank=True,
        help_text="Replacement for startsWith in BulkDataURIs.",
    )
    query_limit = models.PositiveIntegerField(
        "queryLimit",
        null=True,
        blank=True,
        help_text="Most studies OHIF's own study list asks for (QIDO-RS limit); empty: OHIF's "
        "default (101). Studies past the limit do not appear in OHIF's list at all: it has no "
        "further pages (the archive's worklist pages through every study).",
    )

    # --- DICOM JSON ------------------------------------------------------------------------
    allowed_origins = models.TextField(
        "dangerouslyAllowedOriginsForAuthenticatedEnvironments",
        blank=True,
        help_text="DICOM JSON only: origins (one per line, e.g. https://pacs.example.org) OHIF "
        "may fetch ?url= documents from when the viewer signs users in with OIDC.",
    )

    advanced = models.JSONField(
        "advanced configuration",
        default=dict,
        blank=True,
        help_text="JSON object merged last into this data source's configuration, for OHIF "
        "options without a field here. Plain JSON: functions cannot be configured.",
    )

    objects = DataSourceQuerySet.as_manager()

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="one_default_data_source",
            )
        ]

    def __str__(self):
        return f"{self.friendly_name} ({self.name})"

    def save(self, *args, **kwargs):
        """Becoming the default takes the flag from the previous default in one transaction,
        so there is never a moment with two defaults (the constraint would refuse it)."""
        with transaction.atomic():
            if self.is_default:
                DataSource.objects.filter(is_default=True).exclude(pk=self.pk).update(
                    is_default=False
                )
            super().save(*args, **kwargs)

    def validate_constraints(self, exclude=None):
        # Ticking "default" on another row is allowed: save() hands the flag over.
        super().validate_constraints(exclude={*(exclude or ()), "is_default"})

    @property
    def namespace(self) -> str:
        return DICOMJSON_NAMESPACE if self.kind == Kind.DICOMJSON else DICOMWEB_NAMESPACE


class InvestigationalUse(models.TextChoices):
    NEVER = "never", "never"
    ALWAYS = "always", "always"
    CONFIGURE = "configure", "once, then again after some days"


class ErrorDetails(models.TextChoices):
    # OHIF shows details in "dev" only from a development build; ours is a production build.
    DEV = "dev", "no (OHIF's 'dev': only in a development build)"
    ALWAYS = "always", "always (stack traces to every user)"


class ResponseType(models.TextChoices):
    CODE = "code", "code (authorization code flow with PKCE)"
    IMPLICIT = "id_token token", "id_token token (implicit flow, legacy)"


class ViewerSettings(models.Model):
    """The one row of viewer-wide settings (``ViewerSettings.load()``)."""

    router_basename = models.CharField(
        "routerBasename",
        max_length=200,
        blank=True,
        help_text="Path OHIF's routes live under. Empty (recommended): where the site serves "
        "OHIF, computed per request, e.g. /ohif or /pacs/ohif behind a sub-path proxy.",
    )
    show_study_list = models.BooleanField(
        "OHIF's own study list",
        default=False,
        help_text="Offer OHIF's own study list at /ohif/ (a second list, without download, "
        "deletion, processing state or sign-out). Off: /ohif/ leads to the archive's worklist. "
        "The viewer's back arrow leads to the worklist either way.",
    )
    show_tour = models.BooleanField(
        "first-visit tour",
        default=False,
        help_text="OHIF's 11-step tour on a user's first visit to the viewer (it covers the "
        "first image). Off: never shown.",
    )
    show_error_details = models.CharField(
        "showErrorDetails",
        max_length=16,
        choices=ErrorDetails.choices,
        default=ErrorDetails.DEV,
        help_text="Whether OHIF's error page offers the technical details (stack traces).",
    )
    modes = models.JSONField(
        default=list,
        blank=True,
        help_text="Extra OHIF mode packages, a JSON list (e.g. []). The build's own modes "
        "(viewer, segmentation, tmtv, microscopy...) are always there.",
    )
    extensions = models.JSONField(
        default=list, blank=True, help_text="Extra OHIF extension packages, a JSON list."
    )
    investigational_use_dialog = models.CharField(
        "investigationalUseDialog",
        max_length=16,
        choices=InvestigationalUse.choices,
        default=InvestigationalUse.NEVER,
        help_text="OHIF's 'not for clinical use' notice.",
    )
    investigational_use_days = models.PositiveSmallIntegerField(
        "investigationalUseDialog.days",
        default=7,
        help_text="With 'once, then again after some days': how many days.",
    )

    # OHIF's own OpenID Connect client (window.config.oidc). Off: the viewer uses the Django
    # session (cookies) like every other page of the site.
    oidc_enabled = models.BooleanField(
        "OIDC in the viewer",
        default=False,
        help_text="OHIF signs users in itself and sends a Bearer token with every DICOMweb "
        "request. Off: OHIF uses the site's login session.",
    )
    oidc_authority = models.CharField(
        "authority",
        max_length=500,
        blank=True,
        help_text="The OpenID provider's issuer URL, e.g. https://idp.example.org/realms/x.",
    )
    oidc_client_id = models.CharField("client_id", max_length=200, blank=True)
    oidc_redirect_uri = models.CharField(
        "redirect_uri",
        max_length=500,
        default="/callback",
        help_text="OHIF route the provider returns to (relative to routerBasename).",
    )
    oidc_response_type = models.CharField(
        "response_type", max_length=32, choices=ResponseType.choices, default=ResponseType.CODE
    )
    oidc_scope = models.CharField("scope", max_length=300, default="openid profile email")
    oidc_post_logout_redirect_uri = models.CharField(
        "post_logout_redirect_uri", max_length=500, default="/"
    )
    oidc_revoke_uri = models.CharField("revoke_uri", max_length=500, blank=True)
    oidc_automatic_silent_renew = models.BooleanField("automaticSilentRenew", default=True)
    oidc_revoke_access_token_on_signout = models.BooleanField(
        "revokeAccessTokenOnSignout", default=True
    )

    advanced = models.JSONField(
        "advanced configuration",
        default=dict,
        blank=True,
        help_text="JSON object merged last into window.config (objects are merged key by key), "
        'for any other OHIF option, e.g. {"maxNumberOfWebWorkers": 2}. Plain JSON: functions '
        "cannot be configured; data sources are edited as data sources.",
    )

    class Meta:
        verbose_name = "viewer settings"
        verbose_name_plural = "viewer settings"

    def __str__(self):
        return "Viewer settings"

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "ViewerSettings":
        settings, _ = cls.objects.get_or_create(pk=1)
        return settings
