"""The data sources a fresh install starts with: this archive through DICOMweb (the default) and
through DICOM JSON. Created after ``migrate`` only when there are no data sources at all, like
``django.contrib.sites`` creates example.com, so an admin's deletions are respected.
"""

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS

ARCHIVE_SOURCE = "dicomweb"
ARCHIVE_JSON_SOURCE = "dicomjson"


def create_default_data_sources(app_config, using=DEFAULT_DB_ALIAS, apps=global_apps, **kwargs):
    """post_migrate receiver (also sent by ``flush``, without ``apps``); idempotent."""
    try:
        DataSource = apps.get_model("viewerconfig", "DataSource")
    except LookupError:
        return
    if DataSource.objects.using(using).exists():
        return
    DataSource.objects.using(using).create(
        name=ARCHIVE_SOURCE,
        friendly_name="This archive (DICOMweb)",
        kind="dicomweb",
        is_archive=True,
        is_default=True,
        position=0,
        qido_supports_include_field=True,
        supports_wildcard=True,
        enable_study_lazy_load=True,
        image_rendering="wadors",
        # The archive's own /thumbnail (one small JPEG per series, an icon for films, PDFs,
        # reports), fetched with the session and OHIF's Accept: image/jpeg + viewport=256,256,
        # instead of decoding a whole frame in the browser for each thumbnail.
        thumbnail_rendering="thumbnail",
        thumbnail_request_strategy="fetch",
        dicom_upload_enabled=True,
        accept_header="multipart/related; type=application/octet-stream; transfer-syntax=*",
        omit_quotation_for_multipart_request=True,
        bulk_data_uri_enabled=True,
        bulk_data_uri_relative_resolution="studies",
    )
    DataSource.objects.using(using).create(
        name=ARCHIVE_JSON_SOURCE,
        friendly_name="This archive (DICOM JSON)",
        kind="dicomjson",
        is_archive=True,
        position=1,
    )
