"""manage.py migrate_storage --to s3|filesystem: copy every stored file from the other backend
to this one, so an archive can move into a bucket (or back) without re-importing.

Every file is read from the source, checked against its index row (size and SHA-256), written
to the target, read back and checked again. A file the target already holds with those very
bytes is not copied again, so an interrupted run is resumed by running the command again.
Nothing is switched and nothing is deleted: once every file is there, the command says so and
the operator sets STORAGE_BACKEND and restarts the web and worker processes (files stored
meanwhile by the still-running site are picked up by running the command once more first).
The source stays as it was until the operator removes it. Exits non-zero if a file failed.
"""

import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from archive import stores
from archive.models import Instance, Rendition

BATCH = 500


class Command(BaseCommand):
    help = "Copy every stored file to the given storage backend, verified; resumable."

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, choices=["s3", "filesystem"])
        parser.add_argument(
            "--jobs", type=int, default=8, help="files copied at the same time (default 8)"
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, to: str, jobs: int, no_progress: bool, **options):
        if not settings.S3_BUCKET:
            raise CommandError("set S3_BUCKET (and S3_ENDPOINT_URL, credentials) first")
        if to == settings.STORAGE_BACKEND:
            raise CommandError(f"STORAGE_BACKEND is {to} already: nothing to copy from")
        source, target = (
            (stores.FolderStore(), stores.BucketStore())
            if to == "s3"
            else (stores.BucketStore(), stores.FolderStore())
        )
        tables = [  # the originals, then their HTJ2K renditions
            model.objects.order_by("pk").values_list("pk", "file_path", "file_size", "sha256")
            for model in (Instance, Rendition)
        ]
        outcomes: Counter[str] = Counter()
        failures: list[str] = []
        bar = tqdm(
            total=sum(rows.count() for rows in tables),
            unit="file",
            desc=f"to {to}",
            disable=no_progress or options["verbosity"] == 0,
            file=sys.stderr,
        )

        def copy(row) -> str:
            _, key, size, sha256 = row
            try:
                copied = stores.copy_verified(source, target, key, size, sha256)
            except (OSError, stores.CopyMismatch) as exc:
                failures.append(f"{key}: {exc}")
                return "failed"
            return "copied" if copied else "already there"

        with bar, ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
            for rows in tables:
                last = 0
                while batch := list(rows.filter(pk__gt=last)[:BATCH]):
                    last = batch[-1][0]
                    for outcome in pool.map(copy, batch):
                        outcomes[outcome] += 1
                        bar.update()
        for failure in failures[:20]:
            self.stderr.write(f"  {failure}")
        total = outcomes.total()
        self.stdout.write(
            f"{total} file(s): {outcomes['copied']} copied, "
            f"{outcomes['already there']} already there, {outcomes['failed']} failed"
        )
        if failures:
            raise CommandError(
                f"{len(failures)} file(s) not copied; nothing was switched. Run again to resume."
            )
        self.stdout.write(
            f"Every file is in {to}, verified. Set STORAGE_BACKEND={to} on every web and worker "
            "host and restart them (run this again first for files stored meanwhile); the "
            "source copy is left as it was."
        )
