from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and access"

    def ready(self):
        # Connect their signal receivers: login/logout records, user cache invalidation.
        from . import accesslog, usercache  # noqa: F401
