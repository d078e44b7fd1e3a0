"""Write .gz copies of the OHIF build's text files once, after npm ci (scripts/setup.sh)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from viewerconfig import build


class Command(BaseCommand):
    help = "Precompress the installed OHIF build (idempotent)."

    def handle(self, *args, **options):
        build_dir = Path(settings.OHIF_BUILD_DIR)
        if build.installed_version(build_dir) is None:
            raise CommandError(f"no OHIF build in {build_dir}: run {build.INSTALL_COMMAND}")
        written = build.precompress(build_dir)
        if written:
            self.stdout.write(f"compressed {written} files of the OHIF build")
