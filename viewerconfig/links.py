"""Launch links into the hosted OHIF viewer, for pages that list studies (the worklist).

OHIF picks a data source from its route: ``/ohif/viewer?StudyInstanceUIDs=...`` uses the
default, ``/ohif/viewer/<sourceName>?...`` a named one, and a DICOM JSON source takes the
document's address as ``?url=``. Paths only (no host), so links work under any host and prefix.
"""

from django.urls import reverse
from django.utils.http import urlencode

from .models import DataSource, Kind


def viewer_url(study_uid: str | list[str], data_source: DataSource | str | None = None) -> str:
    """Open one or more studies through DICOMweb: the default data source, or the one given."""
    uids = [study_uid] if isinstance(study_uid, str) else list(study_uid)
    return _route(data_source) + "?" + urlencode({"StudyInstanceUIDs": ",".join(uids)})


def dicomjson_viewer_url(study_uid: str) -> str:
    """Open a study through the DICOM JSON data source. The link goes to the archive's link
    endpoint, which makes a fresh signed document link when clicked (it expires after
    DICOMJSON_LINK_MAX_AGE) and redirects to ``document_viewer_url`` of it."""
    link = reverse("ohif_dicom_json_link", kwargs={"study": study_uid})
    return f"{link}?{urlencode({'open': 'viewer'})}"


def document_viewer_url(document_url: str, data_source: DataSource | str | None = None) -> str:
    """OHIF showing the DICOM JSON document at ``document_url`` (e.g. a signed link)."""
    if data_source is None:
        data_source = DataSource.objects.enabled().filter(kind=Kind.DICOMJSON).first()
    return _route(data_source or "dicomjson") + "?" + urlencode({"url": document_url})


def study_list_url() -> str:
    return reverse("viewerconfig:index")


def _route(data_source: DataSource | str | None) -> str:
    name = data_source.name if isinstance(data_source, DataSource) else data_source
    path = f"viewer/{name}" if name else "viewer"
    return reverse("viewerconfig:asset", kwargs={"path": path})
