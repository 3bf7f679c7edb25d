"""How much work the database does for a block of code, counted rather than timed.

A plan that compares every row of one table with every row of another is invisible to a query count
and too noisy to catch with a clock on a shared machine, but it shows at once in the rows the database
handles. SQLite counts the steps of its virtual machine (a progress handler); PostgreSQL reports, for
every statement, the rows each plan node produced or filtered out (auto_explain, which needs a
superuser: without it the test is skipped).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import DatabaseError, connection

# SQLite calls the progress handler once every this many virtual machine steps.
_SQLITE_STEPS = 100


@dataclass
class Work:
    """The work counted so far: virtual machine steps (SQLite) or rows handled by plan nodes (PostgreSQL)."""

    units: int = 0


def _plan_rows(node: dict[str, Any]) -> int:
    loops = int(node.get("Actual Loops", 1) or 0)
    handled = sum(int(node.get(key, 0) or 0) for key in ("Actual Rows", "Rows Removed by Filter", "Rows Removed by Join Filter"))
    return handled * loops + sum(_plan_rows(child) for child in node.get("Plans", ()))


@contextmanager
def database_work() -> Iterator[Work]:
    """Count the work of the statements run inside the block."""
    work = Work()
    connection.ensure_connection()
    raw: Any = connection.connection
    if connection.vendor == "sqlite":

        def step() -> int:
            work.units += _SQLITE_STEPS
            return 0

        raw.set_progress_handler(step, _SQLITE_STEPS)
        try:
            yield work
        finally:
            raw.set_progress_handler(None, 0)
        return

    def notice(diagnostic: Any) -> None:
        message = diagnostic.message_primary or ""
        _, _, plan = message.partition("plan:")
        if plan.strip():
            work.units += _plan_rows(json.loads(plan)["Plan"])

    with connection.cursor() as cursor:
        try:
            cursor.execute("SAVEPOINT work_explain")
            cursor.execute("LOAD 'auto_explain'")
            cursor.execute("RELEASE SAVEPOINT work_explain")
        except DatabaseError:  # not a superuser, or the module is missing: nothing to count with
            cursor.execute("ROLLBACK TO SAVEPOINT work_explain")
            pytest.skip("auto_explain cannot be loaded on this PostgreSQL server")
        settings = {"log_min_duration": "0", "log_analyze": "on", "log_timing": "off", "log_format": "json", "log_level": "notice"}
        for name, value in settings.items():
            cursor.execute(f"SET auto_explain.{name} = '{value}'")
    raw.add_notice_handler(notice)
    try:
        yield work
    finally:
        raw.remove_notice_handler(notice)
        with connection.cursor() as cursor:
            cursor.execute("SET auto_explain.log_min_duration = -1")
