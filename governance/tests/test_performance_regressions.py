"""Regression tests for governance's performance defects: each pins the work the fix removed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.models import AuditEntry
from governance.selectors import dashboard_actions_by_hour


@pytest.mark.regression("BUG-022")
@pytest.mark.django_db
def test_p3_performance_hourly_chart_groups_in_the_database_regression():
    """BUG-022 (P3, performance): the dashboard's hourly decision chart took 1.6 s on 200,000 audit rows (SQLite).

    The hour of each row was computed by TruncHour, which on SQLite is a Python function Django
    registers and calls once per row, over a scan of the whole table. Fix: an index on
    (created_at, outcome) and an hour key the database computes natively (commit 3b5e841).
    """
    with CaptureQueriesContext(connection) as queries:
        dashboard_actions_by_hour(hours=24)
    sql = " ".join(query["sql"] for query in queries.captured_queries)
    assert "django_datetime_trunc" not in sql  # Django's per-row Python function on SQLite
    indexed = {tuple(index.fields) for index in AuditEntry._meta.indexes}
    assert ("created_at", "outcome") in indexed
