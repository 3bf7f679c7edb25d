"""Grouping rows by UTC hour or day in SQL, cheaply on every supported database.

Django's TruncHour/TruncDate are Python functions called once per row on SQLite (a second for 100,000
rows). SQLite stores datetimes as UTC text ("YYYY-MM-DD HH:MM:SS"), so a prefix of the column is the
hour or the day, computed by SQLite itself and readable from an index; other databases truncate natively.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from django.db import connection
from django.db.models import CharField, Func
from django.db.models.functions import Substr, TruncDate, TruncHour

Period = Literal["hour", "day"]
_PREFIX = {"hour": 13, "day": 10}


def utc_period_key(field: str | Func, *, period: Period) -> Any:
    """An expression naming the UTC hour ("YYYY-MM-DD HH") or day of a datetime column; pass what the
    database returns to utc_period_name."""
    if connection.vendor == "sqlite":
        return Substr(field, 1, _PREFIX[period], output_field=CharField())
    return TruncHour(field, tzinfo=UTC) if period == "hour" else TruncDate(field, tzinfo=UTC)


def utc_period_name(value: str | date | datetime, *, period: Period) -> str:
    """The name of a period as utc_period_key gives it on SQLite, for a key of any database or a datetime."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H") if period == "hour" else value.date().isoformat()
    return value.isoformat()
