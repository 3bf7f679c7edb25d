"""Migrating a database from scratch once projects exist, whatever fields later migrations add to them."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


@pytest.mark.regression("BUG-116")
@pytest.mark.django_db(transaction=True)
def test_p2_infrastructure_project_default_reads_columns_not_yet_migrated_regression():
    """BUG-116 (P2, infrastructure): migrating bugs to 0012 failed with "no such column" once a later
    migration added a field to Project: the default of Bug.project and Suite.project (called by 0012 to
    fill the existing rows) read the project through the live model, every column of it."""
    call_command("migrate", "bugs", "0011", verbosity=0)
    try:
        call_command("migrate", "bugs", "0012_projects", verbosity=0)
        applied = MigrationExecutor(connection).loader.applied_migrations
        assert ("bugs", "0012_projects") in applied
    finally:
        call_command("migrate", verbosity=0)
