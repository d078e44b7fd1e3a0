"""Top-level routes; each app owns its own table."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from accounts.views import admin_login, forbidden
from archive.dicomweb.wadouri import RetrieveWadoUri
from ohifsite.health import healthz, livez
from ohifsite.views import favicon

handler403 = forbidden

admin.site.site_header = f"{settings.SITE_NAME} administration"
admin.site.site_title = settings.SITE_NAME

urlpatterns = [
    path("admin/login/", admin_login, name="admin_login"),  # the site's login page first
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    path("livez", livez, name="livez"),
    path("dicom-web/", include("archive.dicomweb.urls")),
    path("wado", RetrieveWadoUri.as_view(), name="wado"),
    path("ohif/", include("viewerconfig.urls")),
    path("dicom/", include("dicomnet.urls")),
    path("", include("worklist.urls")),
]
