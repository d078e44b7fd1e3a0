"""Fill the index with many generated Study/Series/Instance rows, fast (bulk_create), for
QIDO-RS benchmarks. Rows only: no files are written, so only searches can be run on them.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/qido_bench \\
        .venv/bin/python bench/qido_rows.py 12000 [--series 2] [--instances 3]

Deterministic (seeded): the same count gives the same archive. Appends to what is there.
"""

import argparse
import os
import random
import sys
import time
from pathlib import Path

FAMILY = """
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White
Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres
Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts
Muller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Dupont Durand
Leroy Moreau Simon Laurent Lefebvre Michel Rossi Russo Ferrari Esposito Bianchi Romano
Colombo Ricci
""".split()  # noqa: SIM905
GIVEN = """
James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara
Richard Susan Joseph Jessica Thomas Sarah Charles Karen Anna Peter Paul Marie Claire Hans
Lukas Sofia Giulia Marco Luca Emma Noah Olivia Liam Ava Ethan Mia Lucas
""".split()  # noqa: SIM905
DESCRIPTIONS = """CT CHEST WITH CONTRAST|MR BRAIN WITHOUT CONTRAST|PET-CT WHOLE BODY|CT ABDOMEN
PELVIS|US ABDOMEN|XR CHEST 2 VIEWS|MAMMO SCREENING BILATERAL|MR KNEE LEFT|CT HEAD|MR LUMBAR
SPINE""".replace("\n", " ").split("|")
MODALITIES = ["CT", "MR", "PT", "US", "CR", "DX", "MG", "OT"]
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
BATCH = 2000


def insert_studies(count: int, *, series: int = 2, instances: int = 3, seed: int = 0) -> float:
    """Insert ``count`` studies, each with ``series`` series of ``instances`` instances;
    returns the seconds it took."""
    from django.db import connection

    from archive.models import Instance, Series, Study

    rng = random.Random(seed)
    start = time.perf_counter()
    prefix = f"2.25.{seed}{Study.objects.count()}"
    for first in range(0, count, BATCH):
        studies = []
        picked = []
        for n in range(first, min(first + BATCH, count)):
            name = f"{rng.choice(FAMILY)}^{rng.choice(GIVEN)}"
            modalities = sorted(set(rng.sample(MODALITIES, rng.randint(1, min(3, series)))))
            picked.append(modalities)
            studies.append(
                Study(
                    study_instance_uid=f"{prefix}.{n}",
                    study_date=f"{rng.randint(2015, 2025)}{rng.randint(1, 12):02d}"
                    f"{rng.randint(1, 28):02d}",
                    study_time=f"{rng.randint(0, 23):02d}{rng.randint(0, 59):02d}00",
                    accession_number=f"A{rng.randint(0, 9_999_999):07d}",
                    study_id=str(n),
                    study_description=rng.choice(DESCRIPTIONS),
                    referring_physician_name=f"{rng.choice(FAMILY)}^{rng.choice(GIVEN)}",
                    patient_name=name,
                    patient_name_key=name.upper(),
                    patient_id=f"P{rng.randint(0, 999_999):06d}",
                    patient_birth_date=f"{rng.randint(1930, 2020)}0101",
                    patient_sex=rng.choice("FMO"),
                    modalities_in_study="\\".join(modalities),
                    number_of_study_related_series=series,
                    number_of_study_related_instances=series * instances,
                )
            )
        studies = Study.objects.bulk_create(studies)
        all_series = [
            Series(
                study=study,
                series_instance_uid=f"{study.study_instance_uid}.{s}",
                modality=modalities[s % len(modalities)],
                series_number=s + 1,
                series_description="Series",
                series_date=study.study_date,
                number_of_series_related_instances=instances,
            )
            for study, modalities in zip(studies, picked, strict=True)
            for s in range(series)
        ]
        all_series = Series.objects.bulk_create(all_series)
        Instance.objects.bulk_create(
            [
                Instance(
                    series=one,
                    sop_instance_uid=f"{one.series_instance_uid}.{i}",
                    sop_class_uid=CT_IMAGE,
                    instance_number=i + 1,
                    transfer_syntax_uid="1.2.840.10008.1.2.1",
                    rows=512,
                    columns=512,
                    bits_allocated=16,
                    file_path="absent",
                    file_size=0,
                    sha256="",
                )
                for one in all_series
                for i in range(instances)
            ]
        )
    if connection.vendor == "postgresql":  # as import_dicom does after a bulk import
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE archive_study, archive_series, archive_instance")
    return time.perf_counter() - start


def main():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ohifsite.settings")
    import django

    django.setup()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int)
    parser.add_argument("--series", type=int, default=2)
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    seconds = insert_studies(
        args.count, series=args.series, instances=args.instances, seed=args.seed
    )
    print(f"inserted {args.count} studies in {seconds:.1f} s")


if __name__ == "__main__":
    main()
