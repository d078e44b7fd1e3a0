"""This archive's DICOMweb source takes its series thumbnails from the archive's /thumbnail
(fetched, Accept: image/jpeg, viewport=256,256) when it still has the former default (wadors,
OHIF's default strategy); a choice an admin made is left alone."""

from django.db import migrations


def forwards(apps, schema_editor):
    DataSource = apps.get_model("viewerconfig", "DataSource")
    DataSource.objects.filter(
        is_archive=True, kind="dicomweb", thumbnail_rendering="wadors", thumbnail_request_strategy=""
    ).update(thumbnail_rendering="thumbnail", thumbnail_request_strategy="fetch")


class Migration(migrations.Migration):
    dependencies = [("viewerconfig", "0004_viewer_way_back_tour_error_details")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
