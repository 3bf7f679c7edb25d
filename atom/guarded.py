"""A guarded UPDATE and the rows that follow from it, written together: one statement on PostgreSQL.

A paid action charges the agent with one conditional UPDATE (the guard: it matches the agent's row or
none), then writes its execution row and its audit row; an UPDATE that matched nothing writes only the
refusal's audit row. As statements of a transaction that is five round trips on PostgreSQL (BEGIN, the
charge, two INSERTs, COMMIT), most of the action route's cost above a bare GET (P3 profile).
:func:`guarded_append` sends them as one statement of data-modifying CTEs instead: PostgreSQL runs it
atomically, with one commit, and it is prepared once per connection (:mod:`atom.prepared`). On SQLite
the same rows are written in one transaction. Either way the guard and its rows are stored together
or not at all.

The rows are written as :func:`atom.dbinsert.row_append` writes them (the same fields and values), so
this too is for signal-free models only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import Model

from atom.dbinsert import insert_head, placeholder_typed, row_append, row_fields, row_values
from atom.prepared import prepared_cursor


def guarded_append(update_sql: str, params: Mapping[str, Any], *, matched: Sequence[Model], missed: Sequence[Model]) -> bool:
    """Run ``update_sql`` (an UPDATE with named parameters that changes one row or none); append the
    unsaved ``matched`` rows if it changed one, the ``missed`` rows if not. Returns whether it matched;
    the rows written get their primary keys."""
    if connection.vendor != "postgresql":
        with transaction.atomic(savepoint=False):
            with prepared_cursor() as cursor:
                cursor.execute(update_sql, params)
                hit = cursor.rowcount == 1
            for row in matched if hit else missed:
                row_append(row)
        return hit
    statement = _statement(update_sql, tuple(type(row) for row in matched), tuple(type(row) for row in missed))
    values = dict(params)
    for prefix, rows in (("m", matched), ("x", missed)):
        for index, row in enumerate(rows):
            values.update({f"_{prefix}{index}_{position}": value for position, value in enumerate(row_values(row))})
    with prepared_cursor() as cursor:
        cursor.execute(statement, values)
        found = cursor.fetchone()
    hit = bool(found[0])
    for row, pk in zip([*matched, *missed], found[1:], strict=True):
        if pk is not None:
            row.pk = pk
            row._state.adding = False
            row._state.db = connection.alias
    return hit


_STATEMENTS: dict[tuple[str, tuple[type[Model], ...], tuple[type[Model], ...]], str] = {}


def _statement(update_sql: str, matched: tuple[type[Model], ...], missed: tuple[type[Model], ...]) -> str:
    # Identifiers from model metadata and the caller's fixed SQL; every value is bound.
    key = (update_sql, matched, missed)
    statement = _STATEMENTS.get(key)
    if statement is None:
        parts, ids = [f"g AS ({update_sql} RETURNING 1)"], []
        for prefix, models, condition in (("m", matched, "EXISTS"), ("x", missed, "NOT EXISTS")):
            for index, model in enumerate(models):
                fields = row_fields(model)
                placeholders = ", ".join(
                    placeholder_typed(field).replace("%s", f"%(_{prefix}{index}_{position})s") for position, field in enumerate(fields)
                )
                pk = connection.ops.quote_name(str(model._meta.pk.column))
                name = f"{prefix}{index}"
                parts.append(
                    f"{name} AS ({insert_head(model, fields)} SELECT {placeholders} WHERE {condition} (SELECT 1 FROM g) RETURNING {pk})"  # noqa: S608  # nosec B608
                )
                ids.append(f"(SELECT {pk} FROM {name})")  # noqa: S608  # nosec B608
        statement = _STATEMENTS[key] = f"WITH {', '.join(parts)} SELECT EXISTS (SELECT 1 FROM g), {', '.join(ids)}"  # noqa: S608  # nosec B608
    return statement
