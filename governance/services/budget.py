"""The budget charge: one conditional UPDATE that keeps the balance and the daily cap, or charges nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from atom.dbinsert import row_append
from atom.errors import DomainError
from atom.guarded import guarded_append
from governance.models import (
    Agent,
)

ZERO = Decimal("0")
CENTS = Decimal("0.01")


# --- Budget ------------------------------------------------------------------------------------


_CHARGE_SQL: dict[str, str] = {}


def _charge_sql() -> str:
    """The charge as one statement, prepared once per database vendor (it runs on every paid action)."""
    sql = _CHARGE_SQL.get(connection.vendor)
    if sql is None:
        table = connection.ops.quote_name(Agent._meta.db_table)
        spent_before = "(CASE WHEN spend_day = %(day)s THEN spent_today ELSE 0 END)"
        sql = _CHARGE_SQL[connection.vendor] = (
            f"UPDATE {table} SET budget = ROUND(budget - %(cost)s, 2), "  # noqa: S608  # nosec B608 - identifiers from model metadata
            f"spent_today = ROUND({spent_before} + %(cost)s, 2), spend_day = %(day)s "
            f"WHERE id = %(id)s AND budget >= %(cost)s AND {spent_before} + %(cost)s <= daily_spend_cap"
        )
    return sql


def agent_budget_charge(*, agent_id: int, cost: Decimal, today: date | None = None) -> bool:
    """Charge ``cost`` in ONE conditional UPDATE; True if it held the balance >= 0 and the daily cap.

    The WHERE clause is the guard and the CHECK constraints on budget and spend are the backstop, so
    concurrent charges can never overdraw, whatever the isolation level. Amounts are rounded to cents in
    the statement so SQLite's floating arithmetic never drifts below zero.
    """
    params = _charge_params(agent_id=agent_id, cost=cost, today=today)
    if params is None:
        return True
    with connection.cursor() as cursor:
        cursor.execute(_charge_sql(), params)
        return cursor.rowcount == 1


def agent_budget_charge_written(
    *, agent_id: int, cost: Decimal, charged: Sequence[Model], refused: Sequence[Model], today: date | None = None
) -> bool:
    """:func:`agent_budget_charge` with the rows that follow it: ``charged`` (unsaved) are written if the
    charge held, ``refused`` if not, in the same statement as the charge (``atom.guarded``)."""
    params = _charge_params(agent_id=agent_id, cost=cost, today=today)
    if params is None:
        with transaction.atomic(savepoint=False):
            for row in charged:
                row_append(row)
        return True
    return guarded_append(_charge_sql(), params, matched=charged, missed=refused)


def _charge_params(*, agent_id: int, cost: Decimal, today: date | None) -> dict[str, Any] | None:
    """The charge's parameters; None for a free action (nothing to charge)."""
    if cost < ZERO:
        raise DomainError("A cost cannot be negative.", code="VALIDATION_ERROR")
    if cost == ZERO:
        return None
    day = today or timezone.localdate()
    return {"cost": cost, "day": day if connection.vendor == "postgresql" else day.isoformat(), "id": agent_id}


def money(value: Decimal) -> Decimal:
    """Round to cents, as budgets are stored."""
    return value.quantize(CENTS, rounding=ROUND_HALF_UP)
