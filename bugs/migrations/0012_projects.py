"""Projects: every bug and suite belongs to one; what exists moves into the project ``atom``."""

import bugs.models
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _into_atom(apps, schema_editor):
    project_model = apps.get_model("bugs", "Project")
    atom, _ = project_model.objects.get_or_create(
        slug=settings.ATOM_DEFAULT_PROJECT, defaults={"name": "Atom", "description": "Atom's own code base and catalog."}
    )
    apps.get_model("bugs", "Bug").objects.filter(project__isnull=True).update(project=atom)
    apps.get_model("bugs", "Suite").objects.filter(project__isnull=True).update(project=atom)


class Migration(migrations.Migration):
    dependencies = [
        ("bugs", "0011_merge_20261129_1710"),
    ]

    operations = [
        migrations.CreateModel(
            name="Project",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("slug", models.SlugField(max_length=64, unique=True)),
                ("name", models.CharField(max_length=200)),
                (
                    "repository",
                    models.CharField(
                        blank=True,
                        help_text="A local path or a git URL (file://, https://, ssh://); blank means Atom itself.",
                        max_length=500,
                    ),
                ),
                ("default_branch", models.CharField(default="main", max_length=200)),
                (
                    "credential",
                    models.CharField(
                        blank=True,
                        help_text="The name of a secret in ATOM_GIT_CREDENTIALS used to fetch a private repository.",
                        max_length=64,
                    ),
                ),
                ("webhook_secret", models.CharField(blank=True, help_text="Shared secret of the push webhooks.", max_length=200)),
                ("description", models.CharField(blank=True, max_length=300)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "ordering": ["slug"],
                "permissions": [("link_project_commits", "Can read a project's commits and link them to bugs")],
            },
        ),
        migrations.AddField(
            model_name="bug",
            name="project",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="bugs", to="bugs.project"),
        ),
        migrations.AddField(
            model_name="suite",
            name="project",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="suites", to="bugs.project"),
        ),
        migrations.RunPython(_into_atom, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="bug",
            name="project",
            field=models.ForeignKey(
                default=bugs.models.project_default_id, on_delete=django.db.models.deletion.PROTECT, related_name="bugs", to="bugs.project"
            ),
        ),
        migrations.AlterField(
            model_name="suite",
            name="project",
            field=models.ForeignKey(
                default=bugs.models.project_default_id,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="suites",
                to="bugs.project",
            ),
        ),
    ]
