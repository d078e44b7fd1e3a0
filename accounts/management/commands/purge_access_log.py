"""Delete access-log rows older than the retention period (ACCESS_LOG_RETENTION_DAYS), the one
way rows leave the log. Run it daily (cron, a systemd timer, a Kubernetes CronJob)."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import AccessEvent


class Command(BaseCommand):
    help = "Delete access-log rows older than ACCESS_LOG_RETENTION_DAYS (or --days)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="override the setting")
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args, days, dry_run, **options):
        days = settings.ACCESS_LOG_RETENTION_DAYS if days is None else days
        if days < 0:
            raise CommandError("--days must be 0 (keep everything) or more")
        if days == 0:
            self.stdout.write("Retention is unlimited (0 days): nothing deleted.")
            return
        cutoff = timezone.now() - timedelta(days=days)
        old = AccessEvent.objects.filter(at__lt=cutoff)
        if dry_run:
            self.stdout.write(f"{old.count()} rows older than {days} days would be deleted.")
            return
        deleted, _ = old.delete()
        self.stdout.write(f"{deleted} rows older than {days} days deleted.")
