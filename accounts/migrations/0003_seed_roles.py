"""Create the seeded roles (Operator, Reviewer, Auditor, Bug triager) with their permissions."""

from typing import Any

from django.contrib.auth.management import create_permissions
from django.db import migrations


def roles_seed(apps: Any, schema_editor: Any) -> None:
    from accounts.roles import roles_apply

    # Permissions are normally created after all migrations ran; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    roles_apply(group_model=apps.get_model("auth", "Group"), permission_model=apps.get_model("auth", "Permission"), missing_ok=True)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_platform_permissions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("governance", "0004_action_permissions"),
        ("bugs", "0007_action_permissions"),
        ("episodes", "0001_initial"),
    ]

    operations = [migrations.RunPython(roles_seed, migrations.RunPython.noop)]
