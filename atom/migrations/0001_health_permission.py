"""The permission that opens ``/healthz?deep=1`` to an operator (atom.view_health).

Atom's project package has no model to hang it on, so it gets a content type of its own; granting it
is an ordinary admin act on a user or a group.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations


def create(apps: Any, schema_editor: Any) -> None:
    content_type_model = apps.get_model("contenttypes", "ContentType")
    permission_model = apps.get_model("auth", "Permission")
    content_type, _ = content_type_model.objects.get_or_create(app_label="atom", model="health")
    permission_model.objects.get_or_create(
        content_type=content_type, codename="view_health", defaults={"name": "Can see the deep health check"}
    )


def remove(apps: Any, schema_editor: Any) -> None:
    apps.get_model("contenttypes", "ContentType").objects.filter(app_label="atom", model="health").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create, remove)]
