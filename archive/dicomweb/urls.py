"""DICOMweb routes under /dicom-web/ (PS3.18 §10: Studies Service resources, Table 10.4.1-1,
10.5.1-1, 10.6.1-2). Views are named after the PS3.18 transactions.

A URL that serves several transactions (GET search or retrieve, POST store, DELETE) is one
``by_method(...)`` route: add your method's view to its call rather than a second path."""

from django.urls import path

from . import dicomjson_links, qido, rendered, stow, wado
from .routing import by_method

_INSTANCE = "studies/<str:study>/series/<str:series>/instances/<str:instance>"

urlpatterns = [
    path(
        "studies",
        by_method(GET=qido.search_for_studies, POST=stow.store_instances),
        name="studies",
    ),
    path(
        "studies/<str:study>",
        by_method(
            GET=wado.RetrieveInstances.as_view(),
            POST=stow.store_instances,
            DELETE=stow.delete_study,
        ),
        name="study",
    ),
    path(
        "studies/<str:study>/series/<str:series>",
        by_method(GET=wado.RetrieveInstances.as_view(), DELETE=stow.delete_series),
        name="series",
    ),
    # STOW-RS, DELETE and OHIF's reject (stow.py) share the routes above; reject below
    path(
        "studies/<str:study>/series/<str:series>/reject/<str:code>",
        stow.reject_series,
        name="reject_series",
    ),
    # OHIF DICOM JSON (dicomjson_links.py): the signed document, and links to it
    path("ohif-dicom-json/<str:token>", dicomjson_links.ohif_dicom_json, name="ohif_dicom_json"),
    path(
        "ohif-dicom-json-link",
        dicomjson_links.ohif_dicom_json_link,
        name="ohif_dicom_json_links",
    ),
    path(
        "studies/<str:study>/ohif-dicom-json-link",
        dicomjson_links.ohif_dicom_json_link,
        name="ohif_dicom_json_link",
    ),
    # QIDO-RS (qido.py); GET /studies is in the shared route above
    path("series", qido.search_for_series, name="search_for_series"),
    path("instances", qido.search_for_instances, name="search_for_instances"),
    path("studies/<str:study>/series", qido.search_for_series, name="search_for_study_series"),
    path(
        "studies/<str:study>/instances",
        qido.search_for_instances,
        name="search_for_study_instances",
    ),
    path(
        "studies/<str:study>/series/<str:series>/instances",
        qido.search_for_instances,
        name="search_for_series_instances",
    ),
    # WADO-RS (wado.py; rendered.py for rendered and thumbnails). GET /studies/{study} and
    # /studies/{study}/series/{series} are in the shared routes above.
    path(
        "studies/<str:study>/metadata",
        wado.RetrieveMetadata.as_view(),
        name="retrieve_study_metadata",
    ),
    path(
        "studies/<str:study>/series/<str:series>/metadata",
        wado.RetrieveMetadata.as_view(),
        name="retrieve_series_metadata",
    ),
    path(
        f"{_INSTANCE}",
        wado.RetrieveInstances.as_view(),
        name="retrieve_instance",
    ),
    path(
        f"{_INSTANCE}/metadata",
        wado.RetrieveMetadata.as_view(),
        name="retrieve_instance_metadata",
    ),
    path(
        f"{_INSTANCE}/frames/<str:frame_list>",
        wado.RetrieveFrames.as_view(),
        name="retrieve_instance_frames",
    ),
    path(
        f"{_INSTANCE}/bulk/<path:tag_path>",
        wado.RetrieveBulkdata.as_view(),
        name="retrieve_bulkdata",
    ),
    path(
        f"{_INSTANCE}/rendered",
        rendered.RetrieveRendered.as_view(),
        name="retrieve_rendered_instance",
    ),
    path(
        f"{_INSTANCE}/frames/<str:frame_list>/rendered",
        rendered.RetrieveRendered.as_view(),
        name="retrieve_rendered_frames",
    ),
    path(
        "studies/<str:study>/thumbnail",
        rendered.RetrieveThumbnail.as_view(),
        name="retrieve_study_thumbnail",
    ),
    path(
        "studies/<str:study>/series/<str:series>/thumbnail",
        rendered.RetrieveThumbnail.as_view(),
        name="retrieve_series_thumbnail",
    ),
    path(
        f"{_INSTANCE}/thumbnail",
        rendered.RetrieveThumbnail.as_view(),
        name="retrieve_instance_thumbnail",
    ),
]
