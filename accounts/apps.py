from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and access"

    def ready(self):
        # Connect their signal receivers: login/logout records, user cache invalidation.
        from archive.ingest import instances_received

        from . import accesslog, projects, usercache  # noqa: F401 - usercache connects its receivers

        instances_received.connect(accesslog.record_stored, dispatch_uid="access log")
        instances_received.connect(projects.assign_by_rules, dispatch_uid="project rules")
