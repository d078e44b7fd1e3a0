"""Top-level routes; each app owns its own table."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("dicom-web/", include("archive.dicomweb.urls")),
    path("ohif/", include("viewerconfig.urls")),
    path("", include("worklist.urls")),
]
