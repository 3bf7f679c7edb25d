"""Apply the roles table again, now that projects, webhook deliveries, suites, proofs, comments and
notifications have their permissions (0003 ran before their models existed)."""

from typing import Any

from django.contrib.auth.management import create_permissions
from django.db import migrations


def roles_seed(apps: Any, schema_editor: Any) -> None:
    from accounts.roles import roles_apply

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    roles_apply(group_model=apps.get_model("auth", "Group"), permission_model=apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_demo_account"),
        ("bugs", "0016_merge_suite_environments"),
        ("notifications", "0001_initial"),
    ]

    operations = [migrations.RunPython(roles_seed, migrations.RunPython.noop)]
