"""Trigram (pg_trgm GIN) indexes for QIDO-RS wildcard matching, PostgreSQL only.

OHIF's study list sends ``*value*`` for names, IDs, accession numbers and descriptions; a
B-tree cannot serve a leading wildcard, a trigram index can (LIKE and ILIKE). On SQLite this
migration does nothing: the plain indexes of the models serve exact and prefix matches.
"""

from django.db import migrations

TRIGRAM_INDEXES = {
    "study_pname_trgm": ("archive_study", "patient_name_key"),
    "study_pid_trgm": ("archive_study", "patient_id"),
    "study_accession_trgm": ("archive_study", "accession_number"),
    "study_description_trgm": ("archive_study", "study_description"),
    "study_referring_trgm": ("archive_study", "referring_physician_name"),
    "series_description_trgm": ("archive_series", "series_description"),
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, (table, column) in TRIGRAM_INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in TRIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("archive", "0002_qido_indexes")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
