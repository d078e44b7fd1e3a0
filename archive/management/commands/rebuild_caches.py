"""manage.py rebuild_caches: fill the metadata caches of studies stored before they existed,
or rebuild them after a format change.

No flag: the studies whose caches are missing or stale, reusing per-instance metadata already
extracted. ``--all`` or ``--study UID ...``: those studies, every file parsed again. Builds in
this process with a progress bar, or queues the work for the workers with ``--enqueue``.
Exits non-zero if a build failed (the error is also on the study, in the admin).
"""

from collections import Counter

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from archive import caches, tasks
from archive.management import studies
from archive.models import Study

# A study that changes while it is built is built again, this many times at most.
ATTEMPTS = 3


class Command(BaseCommand):
    help = "Build the metadata caches of studies whose caches are missing or stale."

    def add_arguments(self, parser):
        studies.add_arguments(parser, "files parsed again")
        parser.add_argument(
            "--enqueue", action="store_true", help="queue builds for the workers instead"
        )

    def handle(self, *args, all: bool, study: list[str], enqueue: bool, **options):
        chosen = self._select(all, study)
        reextract = all or bool(study)
        outcomes: Counter[str] = Counter()
        ids = list(chosen.order_by("pk").values_list("pk", flat=True))
        for pk in tqdm(ids, unit="study", desc="caches", disable=not ids):
            if enqueue:
                tasks.enqueue_cache_build(pk, reextract=reextract)
                outcomes["queued"] += 1
            else:
                outcomes[self._build(pk, reextract)] += 1
        self._summary(len(ids), outcomes)

    def _select(self, everything: bool, uids: list[str]):
        if everything:
            return Study.objects.all()
        if not uids:
            return Study.objects.stale()
        uids = studies.named(uids)
        return Study.objects.filter(study_instance_uid__in=uids)

    def _build(self, pk: int, reextract: bool) -> str:
        for _ in range(ATTEMPTS):
            generation = Study.objects.filter(pk=pk).values_list("generation", flat=True).first()
            if generation is None:
                return caches.Outcome.DELETED
            try:
                outcome = caches.build(pk, generation, reextract=reextract)
            except OSError:
                return caches.Outcome.FAILED  # recorded on the study by build
            if outcome != caches.Outcome.SUPERSEDED:
                return outcome.split(":")[0]
            reextract = False  # the files parsed already stay parsed
        return caches.Outcome.SUPERSEDED

    def _summary(self, total: int, outcomes: Counter):
        if not total:
            self.stdout.write("Every study's caches are up to date.")
            return
        parts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
        self.stdout.write(f"{total} studies: {parts}.")
        failed = outcomes[caches.Outcome.FAILED]
        if failed:
            raise CommandError(f"{failed} studies failed; see their cache error in the admin")
