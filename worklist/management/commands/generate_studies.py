"""Write N synthetic Study rows quickly (bulk_create), for the worklist benchmark.

Index rows only: the counts of series and instances are filled in, but no Series, Instance or
file exists, so the list, its filters and sorting can be measured at 100,000 studies in
seconds. Deterministic for a given --seed; appends to what is there.
"""

import random
import time
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from archive.models import Study

FAMILY = [
    "Smith",
    "Jones",
    "Brown",
    "Taylor",
    "Wilson",
    "Davies",
    "Evans",
    "Thomas",
    "Roberts",
    "Walker",
    "Wright",
    "Garcia",
    "Muller",
    "Rossi",
    "Dupont",
    "Novak",
    "Kim",
    "Tanaka",
    "Silva",
    "Hansen",
]
GIVEN = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Emma",
    "Felix",
    "Greta",
    "Hugo",
    "Ida",
    "Jan",
    "Karl",
    "Lea",
    "Marta",
    "Nils",
    "Olga",
    "Uwe",
]
EXAMS = [
    ("CT", "CT CHEST WITH CONTRAST"),
    ("CT\\PT", "PET-CT WHOLE BODY"),
    ("MR", "MR BRAIN WITHOUT CONTRAST"),
    ("MR", "MR KNEE LEFT"),
    ("US", "US ABDOMEN"),
    ("CR", "XR CHEST 2 VIEWS"),
    ("DX", "XR HAND RIGHT"),
    ("MG", "MAMMO SCREENING BILATERAL"),
    ("CT\\SR", "CT HEAD TRAUMA"),
    ("NM", "BONE SCAN"),
]
UID_ROOT = "2.25.424242"


class Command(BaseCommand):
    help = "Insert N synthetic studies (index rows only) for worklist benchmarks."

    def add_arguments(self, parser):
        parser.add_argument("count", type=int)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--batch", type=int, default=5000)
        parser.add_argument(
            "--days", type=int, default=3650, help="spread study dates over this many days"
        )

    def handle(self, count, seed, batch, days, **options):
        if count < 1 or batch < 1 or days < 1:
            raise CommandError("count, --batch and --days must be at least 1")
        rng = random.Random(seed)
        start = time.perf_counter()
        first = Study.objects.count()
        today = date.today()
        for offset in range(0, count, batch):
            rows = [
                _study(rng, f"{UID_ROOT}.{seed}.{first + n}", today, days)
                for n in range(offset, min(offset + batch, count))
            ]
            with transaction.atomic():
                # In statements of 500 rows: PostgreSQL takes at most 65,535 bound parameters.
                Study.objects.bulk_create(rows, batch_size=500)
        seconds = time.perf_counter() - start
        self.stdout.write(f"{count} studies written in {seconds:.1f} s")


def _study(rng: random.Random, uid: str, today: date, days: int) -> Study:
    name = f"{rng.choice(FAMILY)}^{rng.choice(GIVEN)}"
    modalities, description = rng.choice(EXAMS)
    series = rng.randint(1, 8)
    # Most are processed; a few are still pending or failed, as in a busy archive.
    generation = rng.randint(1, 3)
    roll = rng.random()
    cached = generation if roll < 0.95 else (None if roll < 0.99 else generation - 1)
    return Study(
        study_instance_uid=uid,
        study_date=(today - timedelta(days=rng.randrange(days))).strftime("%Y%m%d"),
        study_time=f"{rng.randrange(7, 20):02d}{rng.randrange(60):02d}{rng.randrange(60):02d}",
        accession_number=f"A{rng.randrange(10**8):08d}",
        study_description=description,
        patient_name=name,
        patient_name_key=name.upper(),
        patient_id=f"P{rng.randrange(10**6):06d}",
        patient_birth_date=f"{rng.randint(1930, 2020)}{rng.randint(1, 12):02d}01",
        patient_sex=rng.choice("FM"),
        modalities_in_study=modalities,
        number_of_study_related_series=series,
        number_of_study_related_instances=series * rng.randint(1, 300),
        generation=generation,
        cache_generation=cached,
        cache_error="synthetic failure" if cached == generation - 1 else "",
    )
