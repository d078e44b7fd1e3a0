from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ViewerConfigConfig(AppConfig):
    name = "viewerconfig"
    verbose_name = "OHIF viewer"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
        from .defaults import create_default_data_sources

        post_migrate.connect(create_default_data_sources, sender=self)
