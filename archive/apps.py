from django.apps import AppConfig


class ArchiveConfig(AppConfig):
    name = "archive"
    verbose_name = "DICOM archive"

    def ready(self):
        from . import ingest, tasks

        ingest.instances_received.connect(tasks.schedule_builds_for, dispatch_uid="cache builds")
