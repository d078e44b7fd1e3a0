"""manage.py check_archive [--repair] [--no-hash]: does the index match the files?

Reports files without rows, rows without files, size or SHA-256 mismatches, wrong instance
counts, spool leftovers and pending caches (archive/consistency.py). ``--repair`` indexes the
orphans, deletes rows whose file is gone, recomputes counts, and removes spool leftovers older
than SWEEP_SPOOL_AFTER. Exits 1 while an inconsistency remains.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from archive import consistency, sweep


class Command(BaseCommand):
    help = "Check that every index row has its file and every file its row; --repair fixes."

    def add_arguments(self, parser):
        parser.add_argument("--repair", action="store_true", help="fix what can be fixed")
        parser.add_argument(
            "--no-hash", action="store_true", help="compare sizes only (no file is read)"
        )

    def handle(self, *args, repair: bool, no_hash: bool, **options):
        report = consistency.check(hashes=not no_hash)
        self._print(report)
        if repair:
            done = consistency.repair(report)
            done["spool_removed"] = sweep.remove_spool_leftovers(settings.SWEEP_SPOOL_AFTER)
            self.stdout.write("repaired: " + ", ".join(f"{k} {v}" for k, v in done.items()))
            report = consistency.check(hashes=not no_hash)
            self._print(report)
        if not report.clean:
            raise CommandError("the archive is not consistent")

    def _print(self, report):
        self.stdout.write(
            f"{report.instances} instances indexed, {report.files} files; "
            f"{len(report.orphans)} files without a row, {len(report.missing)} rows without "
            f"a file, {len(report.mismatched)} size or SHA-256 mismatches, "
            f"{len(report.wrong_counts)} wrong counts, {report.spool_leftovers} spool files, "
            f"{report.pending_caches} studies with pending caches"
        )
        for label, items in (
            ("no row", report.orphans),
            ("no file", report.missing),
            ("mismatch", report.mismatched),
            ("count", report.wrong_counts),
        ):
            for item in items[:50]:
                self.stdout.write(f"  {label}: {item}")
