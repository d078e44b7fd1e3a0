from django.apps import AppConfig


class ViewerConfigConfig(AppConfig):
    name = "viewerconfig"
    verbose_name = "OHIF viewer"
