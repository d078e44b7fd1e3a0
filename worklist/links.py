"""Where the worklist points: the DICOMweb root (thumbnails), the viewer links of a study and
the worklist's own per-study URLs.

The launch URLs are the viewer app's business (``viewerconfig.links``); this module only
chooses which to show, so the menu lists exactly the data sources an administrator enabled.
URLs are reversed once per page with a marker in place of the UID and filled in per row:
reversing five URLs for each of 50 rows cost more than the database query.
"""

from django.urls import reverse

from viewerconfig import links as viewer
from viewerconfig.models import DataSource, Kind

MARKER = "0.0.0"  # a valid UID that no real one equals as a whole path component


def dicomweb_root(request) -> str:
    """The DICOMweb root as a path on this site (sub-path deployments included)."""
    return reverse("studies").removesuffix("/studies")


class StudyLinks:
    """Every link a study row needs, from templates reversed once."""

    def __init__(self):
        def own(name):
            return reverse(f"worklist:{name}", kwargs={"study_uid": MARKER})

        self._own = {name: own(name) for name in ("study_series", "download_study", "delete_study")}
        self._open = viewer.viewer_url(MARKER)
        self._others = [
            (f"Open with {source.friendly_name}", viewer.viewer_url(MARKER, source))
            for source in DataSource.objects.enabled()
            if source.kind == Kind.DICOMWEB and not source.is_default
        ]
        self._others.append(("Open as DICOM JSON", viewer.dicomjson_viewer_url(MARKER)))

    def for_study(self, study_uid: str) -> dict:
        def fill(template):
            return template.replace(MARKER, study_uid)

        return {
            "open": fill(self._open),
            "others": [(label, fill(url)) for label, url in self._others],
            "series": fill(self._own["study_series"]),
            "download": fill(self._own["download_study"]),
            "delete": fill(self._own["delete_study"]),
        }
