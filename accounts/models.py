"""Who may come in and what they did: personal API tokens, links from provider identities to
users, and the access log."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from . import roles

TOKEN_PREFIX = "ohif_"


def _digest(key: str) -> str:
    # Tokens carry 256 random bits, so a plain SHA-256 is enough: there is nothing to guess.
    return hashlib.sha256(key.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def usable(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True, user__is_active=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )

    def matching(self, key: str):
        """The usable token for this secret, or None."""
        if not key.startswith(TOKEN_PREFIX):
            return None
        return self.usable().select_related("user").filter(key_hash=_digest(key)).first()


class ApiToken(models.Model):
    """A personal token for scripts and devices: an admin issues it for a user, scoped to a
    role at most; only its hash is kept, so the secret is shown once, when it is made."""

    ROLE_CHOICES = [(name, name) for name in roles.ORDER]

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = models.CharField(max_length=100, help_text="What or who uses it, e.g. 'CT scanner'.")
    role = models.CharField(max_length=20, choices=ROLE_CHOICES, default=roles.READER)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_start = models.CharField(max_length=12, editable=False, help_text="To recognise it.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"

    def __str__(self):
        return f"{self.name} ({self.key_start}…)"

    def new_key(self) -> str:
        """Give the token a fresh secret and return it; the caller shows it once."""
        key = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.key_hash = _digest(key)
        self.key_start = key[: len(TOKEN_PREFIX) + 6]
        return key

    def revoke(self) -> None:
        ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )

    def touch(self) -> None:
        """Record use, at most once a minute, so a busy script does not write on every call."""
        now = timezone.now()
        if self.last_used_at is None or (now - self.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)


class OidcIdentity(models.Model):
    """Which provider account a user is. Users are found by (issuer, subject), never by name
    or e-mail, so a provider account called "admin" cannot become the local admin."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    last_login_claims = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "OpenID Connect identity"
        verbose_name_plural = "OpenID Connect identities"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="unique_oidc_subject")
        ]

    def __str__(self):
        return f"{self.subject} at {self.issuer}"


class AccessEvent(models.Model):
    """One line of the access log: who did what to which patient's study, when, from where and
    through which door (accounts.accesslog writes it)."""

    class Action(models.TextChoices):
        SEARCH = "search"  # a list of studies, series or instances; query and result count
        VIEW = "view"  # images or metadata opened (never a thumbnail in a list)
        DOWNLOAD = "download"  # a whole study or series taken away (zip, WADO-RS retrieve)
        STORE = "store"
        DELETE = "delete"
        SHARE = "share"  # a share link made or revoked (query says which)
        REFUSED = "refused"  # 401 or 403
        LOGIN = "login"
        LOGIN_FAILED = "login failed"
        LOGOUT = "logout"

    class Door(models.TextChoices):
        WEB = "web"
        DICOMWEB = "dicomweb", "DICOMweb"
        DIMSE = "dimse", "DICOM network"
        SHARE = "share link", "Share link"
        IMPORT = "import", "import_dicom command"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    username = models.CharField(max_length=150, blank=True, db_index=True)
    action = models.CharField(max_length=20, choices=Action.choices, db_index=True)
    door = models.CharField(max_length=20, choices=Door.choices, blank=True, db_index=True)
    study_instance_uid = models.CharField(max_length=64, blank=True, db_index=True)
    # As they were when the row was written: the study may change or be deleted later.
    patient_id = models.CharField("patient ID", max_length=64, blank=True, db_index=True)
    patient_name = models.CharField(max_length=324, blank=True)
    result_count = models.PositiveIntegerField(null=True, blank=True)
    method = models.CharField(max_length=10, blank=True)
    path = models.CharField(max_length=500, blank=True)
    query = models.CharField(max_length=500, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    authenticated_by = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action}"


class Project(models.Model):
    """Studies some people may see: a research group, a department, an outside reader.

    Who: the users and groups named here, and provider users whose groups claim names one of
    ``provider_groups`` (refreshed at each login). Which studies: assigned by hand, in bulk,
    or by the rules below as instances arrive (``accounts.projects``). Whether people in no
    project see every study is ``READERS_WITHOUT_PROJECT``.
    """

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="projects")
    groups = models.ManyToManyField("auth.Group", blank=True, related_name="projects")
    provider_groups = models.CharField(
        max_length=500,
        blank=True,
        help_text="OpenID Connect groups (OIDC_ROLES_CLAIM) that grant this project, "
        "comma-separated.",
    )
    provider_members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="provider_projects", editable=False
    )
    remote_ae_titles = models.CharField(
        "remote AE titles",
        max_length=500,
        blank=True,
        help_text="DICOM AEs that find and retrieve (C-FIND, C-MOVE, C-GET) only this project's "
        "studies (and those of other projects naming them), comma-separated.",
    )
    studies = models.ManyToManyField("archive.Study", blank=True, related_name="projects")
    # Rules applied to each study as instances arrive; any one matching assigns it.
    calling_ae_titles = models.CharField(
        "calling AE titles",
        max_length=500,
        blank=True,
        help_text="Studies sent by these DICOM AE titles (C-STORE), comma-separated.",
    )
    institution_names = models.CharField(
        max_length=500,
        blank=True,
        help_text="Studies whose InstitutionName is one of these, comma-separated; "
        "* matches any characters. Case is ignored.",
    )
    referring_physicians = models.CharField(
        max_length=500,
        blank=True,
        help_text="Studies whose ReferringPhysicianName matches one of these, comma-separated; "
        "* matches any characters. Case is ignored.",
    )
    uploaders = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        help_text="Studies these users upload (upload page, STOW-RS).",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class ShareLinkQuerySet(models.QuerySet):
    def usable(self):
        return self.filter(
            revoked_at__isnull=True, expires_at__gt=timezone.now(), created_by__is_active=True
        )


class ShareLink(models.Model):
    """A link that opens some studies in OHIF, read-only, for someone without an account.

    The token in its URL is the credential (only its hash is kept, so it is shown once); it
    reads those studies through DICOMweb and nothing else (accounts.sharelinks), until it
    expires or is revoked, or its creator loses the reader role or the studies."""

    EXPIRY_CHOICES = [
        (3600, "1 hour"),
        (86400, "1 day"),
        (7 * 86400, "7 days"),
        (30 * 86400, "30 days"),
    ]

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="share_links"
    )
    study_uids = models.JSONField(help_text="Study Instance UIDs the link opens.")
    description = models.CharField(max_length=200, blank=True)
    allow_download = models.BooleanField(default=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_start = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ShareLinkQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"share link {self.key_start}… by {self.created_by}"

    def new_key(self) -> str:
        key = secrets.token_urlsafe(32)
        self.key_hash = _digest(key)
        self.key_start = key[:8]
        return key

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        return "expired" if self.expires_at <= timezone.now() else "active"
