"""Where the worklist points: the DICOMweb root (thumbnails) and the viewer links of a study.

The launch URLs are the viewer app's business (``viewerconfig.links``); this module only
chooses which to show, so the menu lists exactly the data sources an administrator enabled.
"""

from django.urls import get_script_prefix

from viewerconfig import links as viewer
from viewerconfig.models import DataSource, Kind


def dicomweb_root(request) -> str:
    """The DICOMweb root as a path on this site (sub-path deployments included)."""
    return f"{get_script_prefix()}dicom-web"


def other_sources() -> list[DataSource]:
    """Enabled DICOMweb data sources besides the default, for "Open with ..." (read once per
    page, not per study)."""
    return [
        source
        for source in DataSource.objects.enabled()
        if source.kind == Kind.DICOMWEB and not source.is_default
    ]


def study_links(sources: list[DataSource], study_uid: str) -> dict:
    """``{"default": url, "others": [(label, url), ...]}`` for one study's menu."""
    others = [
        (f"Open with {source.friendly_name}", viewer.viewer_url(study_uid, source))
        for source in sources
    ]
    others.append(("Open as DICOM JSON", viewer.dicomjson_viewer_url(study_uid)))
    return {"default": viewer.viewer_url(study_uid), "others": others}
