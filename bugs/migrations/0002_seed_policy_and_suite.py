"""The severity policy of SPEC section 6 (P0 24 h, P1 72 h, P2 7 days, P3 14 days) and the default suite."""

from django.db import migrations

POLICY = [("P0", 24, "Critical: security, data loss, cost leak"), ("P1", 72, "High"), ("P2", 7 * 24, "Medium"), ("P3", 14 * 24, "Low")]


def seed(apps, schema_editor):
    SeverityPolicy = apps.get_model("bugs", "SeverityPolicy")
    Suite = apps.get_model("bugs", "Suite")
    for severity, hours, description in POLICY:
        SeverityPolicy.objects.get_or_create(severity=severity, defaults={"sla_hours": hours, "description": description})
    # A blank checkout path means Atom's own code base, wherever it is installed.
    Suite.objects.get_or_create(
        name="atom",
        defaults={"pytest_args": ["-m", "regression"], "description": "Atom's own regression tests (marked regression)."},
    )


class Migration(migrations.Migration):
    dependencies = [("bugs", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
