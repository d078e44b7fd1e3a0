"""The DICOM peers this archive knows (remote AEs) and the sends to them (send jobs, one item
per instance, so a retry sends only what did not arrive)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from archive.models import Instance, Study


def validate_ae_title(value: str) -> None:
    """PS3.5 6.2, VR AE: 1-16 characters of the default repertoire, no backslash or control
    characters, not only spaces (leading and trailing spaces are not significant)."""
    if not value or not value.strip():
        raise ValidationError("An AE title cannot be empty or only spaces.", code="empty")
    if len(value) > 16:
        raise ValidationError("An AE title has at most 16 characters.", code="too_long")
    if any(not (" " <= c <= "~") or c == "\\" for c in value):
        raise ValidationError(
            "An AE title uses printable ASCII characters only, without backslash.",
            code="characters",
        )


class RemoteAEQuerySet(models.QuerySet):
    def calling(self, ae_title: str):
        """The registered peer of this calling AE title, or None."""
        return self.filter(ae_title=ae_title.strip()).first()


class RemoteAE(models.Model):
    """A modality, PACS or workstation that may talk to this archive over DIMSE."""

    ae_title = models.CharField(
        "AE title", max_length=16, unique=True, validators=[validate_ae_title]
    )
    host = models.CharField(max_length=255, help_text="Host name or IP address.")
    port = models.PositiveIntegerField(
        default=104, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    description = models.CharField(max_length=200, blank=True)
    may_store = models.BooleanField("may store (C-STORE to us)", default=True)
    may_query = models.BooleanField("may query (C-FIND)", default=True)
    may_retrieve = models.BooleanField("may retrieve (C-MOVE, C-GET)", default=True)
    is_destination = models.BooleanField("is a destination (of C-MOVE and Send to…)", default=True)
    last_echo_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_echo = models.CharField(max_length=200, blank=True, editable=False)

    objects = RemoteAEQuerySet.as_manager()

    class Meta:
        verbose_name = "remote AE"
        ordering = ["ae_title"]

    def __str__(self):
        return f"{self.ae_title} ({self.host}:{self.port})"

    def clean(self):
        self.ae_title = self.ae_title.strip()
        self.host = self.host.strip()

    def allows(self, operation: str) -> bool:
        return {
            "store": self.may_store,
            "find": self.may_query,
            "move": self.may_retrieve,
            "get": self.may_retrieve,
            "echo": True,
        }[operation]

    def record_echo(self, outcome: str) -> None:
        self.last_echo_at = timezone.now()
        self.last_echo = outcome[:200]
        RemoteAE.objects.filter(pk=self.pk).update(
            last_echo_at=self.last_echo_at, last_echo=self.last_echo
        )


class SendJob(models.Model):
    """A study sent to a remote AE (C-STORE SCU) by a Celery task."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"  # some instances did not arrive (or none could be sent)

    study = models.ForeignKey(Study, on_delete=models.CASCADE)
    destination = models.ForeignKey(RemoteAE, on_delete=models.CASCADE)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.study.study_instance_uid} to {self.destination.ae_title}"

    def counts(self) -> dict[str, int]:
        found = dict(self.items.values_list("status").annotate(n=models.Count("id")))
        return {status: found.get(status, 0) for status in SendItem.Status.values}


class SendItem(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        WARNING = "warning"  # arrived; the peer answered with a warning status
        FAILED = "failed"

    job = models.ForeignKey(SendJob, on_delete=models.CASCADE, related_name="items")
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    dimse_status = models.PositiveIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "instance"], name="send_item_once")]

    def __str__(self):
        return f"{self.instance_id}: {self.status}"

    @property
    def arrived(self) -> bool:
        return self.status in (self.Status.SENT, self.Status.WARNING)
