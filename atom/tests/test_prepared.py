"""The prepared cursor's statements are logged as any other's: Django's query log names their SQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from atom.prepared import prepared_cursor

pytestmark = pytest.mark.django_db


@pytest.mark.regression("BUG-142")
def test_p3_quality_prepared_statements_logged_without_their_sql_regression():
    """BUG-142 (P3, quality): a statement run on the prepared cursor was logged with its SQL as None.

    Django's query log (``connection.queries``, the tests' captured queries, any debug toolbar) reads the
    SQL from the driver's cursor, and psycopg keeps none for a prepared statement, so the hot statements
    of every governed request showed up as None on PostgreSQL.
    """
    with CaptureQueriesContext(connection) as queries, prepared_cursor() as cursor:
        cursor.execute("SELECT %s + 1", [41])
        assert cursor.fetchone()[0] == 42
    logged = [query["sql"] for query in queries.captured_queries]
    assert len(logged) == 1
    assert logged[0] is not None
    assert logged[0].startswith("SELECT ")
    assert logged[0].endswith("+ 1")
