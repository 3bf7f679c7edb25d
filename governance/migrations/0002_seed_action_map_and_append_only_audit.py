"""Seed the action map of SPEC section 3 and make the audit log append-only in the database."""

from typing import Any

from django.db import migrations

SEED = {
    1: "search read list get fetch summarize check verify memory_search present_chart present_markdown",
    2: "analyze suggest draft generate recommend propose plan stream_chat present_form update_canvas memory_remember "
    "browser_navigate browser_screenshot semantic_search",
    3: "create update submit send_email send_message schedule upload submit_form canvas_submit browser_action memory_forget shell_write",
    4: "delete execute deploy transfer payment approve bulk_delete bulk_update write_code_file terminal_command "
    "canvas_execute_javascript shell_delete device_execute_command",
}
NOT_PROPOSABLE = {"canvas_execute_javascript"}


def seed(apps: Any, schema_editor: Any) -> None:
    policy = apps.get_model("governance", "ActionPolicy")
    version = apps.get_model("governance", "ActionMapVersion")
    existing = set(policy.objects.values_list("name", flat=True))
    policy.objects.bulk_create(
        policy(name=name, complexity=complexity, proposable=name not in NOT_PROPOSABLE)
        for complexity, names in SEED.items()
        for name in names.split()
        if name not in existing
    )
    version.objects.update_or_create(pk=1, defaults={"version": 1})


def unseed(apps: Any, schema_editor: Any) -> None:
    apps.get_model("governance", "ActionPolicy").objects.all().delete()
    apps.get_model("governance", "ActionMapVersion").objects.all().delete()


# Updates are refused everywhere. Deletes are refused on PostgreSQL (TRUNCATE, used by test flushes and
# retention jobs, is a table-level statement and stays possible); SQLite's flush deletes rows, so there
# only updates are refused.
SQLITE_FORWARD = [
    "CREATE TRIGGER governance_auditentry_no_update BEFORE UPDATE ON governance_auditentry "
    "BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;",
]
SQLITE_BACKWARD = ["DROP TRIGGER IF EXISTS governance_auditentry_no_update;"]
POSTGRES_FORWARD = [
    "CREATE OR REPLACE FUNCTION governance_auditentry_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit entries are append-only'; END; $$ LANGUAGE plpgsql;",
    "CREATE TRIGGER governance_auditentry_no_change BEFORE UPDATE OR DELETE ON governance_auditentry "
    "FOR EACH ROW EXECUTE FUNCTION governance_auditentry_append_only();",
]
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS governance_auditentry_no_change ON governance_auditentry;",
    "DROP FUNCTION IF EXISTS governance_auditentry_append_only();",
]


def _run(schema_editor: Any, statements: dict[str, list[str]]) -> None:
    for statement in statements.get(schema_editor.connection.vendor, []):
        schema_editor.execute(statement)


def append_only(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, {"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD})


def append_only_reverse(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, {"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD})


class Migration(migrations.Migration):
    dependencies = [("governance", "0001_initial")]

    operations = [
        migrations.RunPython(seed, unseed),
        migrations.RunPython(append_only, append_only_reverse),
    ]
