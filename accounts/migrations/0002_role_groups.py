"""The three role groups exist from the first ``migrate`` on, so that an administrator can give
a local user a role in the admin before anyone has signed in through OIDC."""

from django.db import migrations

ROLES = ("reader", "uploader", "admin")  # accounts.roles.ORDER, as it was when written


def create_role_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
