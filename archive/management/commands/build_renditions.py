"""manage.py build_renditions: HTJ2K renditions for instances stored before renditions were
on, or again after a change of encoder.

No flag: every eligible instance whose rendition is missing or stale (made from a file since
replaced). ``--study UID ...``: those studies' instances, encoded again. ``--all``: every
eligible instance, encoded again. Eligible follows RENDITION_MODALITIES and
RENDITION_MIN_BYTES (``--any-size`` ignores the latter). Builds in this process with a
progress bar; exits non-zero when an instance could not be encoded.
"""

from collections import Counter

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Exists, OuterRef
from tqdm import tqdm

from archive import renditions
from archive.management import studies
from archive.models import Instance, Rendition


class Command(BaseCommand):
    help = "Build the HTJ2K renditions of instances whose rendition is missing or stale."

    def add_arguments(self, parser):
        studies.add_arguments(parser, "encoded again")
        parser.add_argument("--any-size", action="store_true", help="ignore RENDITION_MIN_BYTES")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, all: bool, study: list[str], any_size: bool, **options):
        instances = self._select(all, study).filter(rows__isnull=False)
        force = all or bool(study)
        total = instances.count()
        outcomes: Counter[str] = Counter()
        with tqdm(
            total=total, unit="instance", desc="renditions", disable=options["no_progress"]
        ) as bar:

            def progress(outcome: str) -> None:
                outcomes[outcome] += 1
                bar.update()

            renditions.build_many(instances, force=force, threshold=not any_size, progress=progress)
        if not total:
            self.stdout.write("Every eligible instance has its rendition.")
            return
        parts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
        self.stdout.write(f"{total} instances: {parts}.")
        if outcomes["failed"]:
            raise CommandError(f"{outcomes['failed']} instances could not be encoded (see log)")

    def _select(self, everything: bool, uids: list[str]):
        if everything:
            return Instance.objects.all()
        if not uids:
            fresh = Rendition.objects.filter(
                instance_id=OuterRef("pk"), source_sha256=OuterRef("sha256")
            )
            return Instance.objects.filter(~Exists(fresh))
        uids = studies.named(uids)
        return Instance.objects.filter(series__study__study_instance_uid__in=uids)
