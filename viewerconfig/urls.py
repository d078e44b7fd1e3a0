"""Routes under /ohif/: the config, then every other path is a file of the build or a client
route of OHIF (answered with index.html)."""

from django.urls import path

from . import views

app_name = "viewerconfig"

urlpatterns = [
    path("", views.index, name="index"),
    path("app-config.js", views.app_config_js, name="app_config_js"),
    path("<path:path>", views.asset, name="asset"),
]
