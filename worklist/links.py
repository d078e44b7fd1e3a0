"""Where the worklist points: the DICOMweb root (thumbnails) and the viewer links of a study.

The viewer links are the viewer app's business; this module only asks for them, so the
worklist shows exactly the data sources an administrator configured.
"""

from urllib.parse import quote

from django.urls import get_script_prefix


def dicomweb_root(request) -> str:
    """The DICOMweb root as a path on this site (sub-path deployments included)."""
    return f"{get_script_prefix()}dicom-web"


def viewer_links(request) -> dict:
    """How to open a study: ``{"default": prefix, "others": [(label, prefix)]}``; a prefix
    followed by the quoted Study Instance UID is the link."""
    prefix = f"{get_script_prefix()}ohif/viewer?StudyInstanceUIDs="
    return {"default": prefix, "others": []}


def study_links(viewers: dict, study_uid: str) -> dict:
    uid = quote(study_uid)
    return {
        "default": viewers["default"] + uid,
        "others": [(label, prefix + uid) for label, prefix in viewers["others"]],
    }
