"""Create the first administrator, once, and print its password that one time.

Run by the README's run command on every start: when any superuser exists it does nothing,
so the printed password is never shown again (change it in the admin, or run
``manage.py changepassword admin``).
"""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts import roles


class Command(BaseCommand):
    help = (
        "Create an 'admin' superuser in the admin role, with a random password, if there is"
        " no superuser yet."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username=username, email="", password=password)
        roles.set_roles(user, {roles.ADMIN})  # so the admin's user list shows who holds it
        bar = "=" * 64
        self.stdout.write(
            f"{bar}\nAdministrator created. This password is shown only once:\n"
            f"  username: {username}\n  password: {password}\n{bar}"
        )
