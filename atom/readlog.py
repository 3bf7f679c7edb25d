"""A read and the log rows that record it, written together: one statement on PostgreSQL.

A governed read writes its audit row, reads, then writes an access row naming what it returned. As
statements of a transaction that is five round trips on PostgreSQL (BEGIN, the audit row, the read, the
access row, COMMIT), most of a temporal read's time (P5 profile). :func:`select_logged` sends the three
as one statement of data-modifying CTEs instead: PostgreSQL runs it atomically, so it needs no
transaction of its own, and it is prepared once per connection like every hot statement
(:mod:`atom.prepared`). The access row's ids and count are aggregated from the read by the database. On
SQLite (in process, where a round trip costs microseconds) the same rows are written around the read
in one transaction. Either way all the rows are written or none is.

The rows are written as :func:`atom.dbinsert.row_append` writes them (the same fields and values), so
this too is for signal-free, append-only log models only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Field, Model

from atom.dbinsert import insert_head, placeholder_typed, row_append, row_fields, row_values
from atom.prepared import prepared_cursor


@dataclass(frozen=True)
class ReadLog:
    """The row that records a read: ``row`` (unsaved) gets the read's ids in its ``ids_field`` (a JSON
    list, in ``order_by`` order) and their number in ``count_field``.

    ``id_column`` names the read's column to log (a NULL there is not counted); ``order_by`` is SQL over
    the read's own column names. With ``requires_rows``, a read that returns no row at all writes no log
    row (the thing read was not found).
    """

    row: Model
    ids_field: str
    count_field: str
    id_column: str
    order_by: str
    requires_rows: bool = False


def select_logged(sql: str, params: Sequence[Any], *, before: Sequence[Model], log: ReadLog) -> list[tuple[Any, ...]]:
    """Append ``before`` (unsaved rows), run the SELECT ``sql`` and append ``log`` filled from what it read.

    ``sql`` must already be ordered by ``log.order_by``; its rows are returned in that order. Fixed SQL
    with bound values only: the statement is prepared.
    """
    if connection.vendor == "postgresql":
        statement = _postgres_statement(sql, tuple(type(row) for row in before), log)
        values = [*params]
        for row in before:
            values.extend(row_values(row))
        values.extend(
            value for field, value in zip(row_fields(type(log.row)), row_values(log.row), strict=True) if not _aggregated(field, log)
        )
        with prepared_cursor() as cursor:
            cursor.execute(statement, values)
            return list(cursor.fetchall())
    with transaction.atomic(savepoint=False):
        for row in before:
            row_append(row)
        with prepared_cursor() as cursor:
            cursor.execute(sql, list(params))
            fetched = list(cursor.fetchall())
            position = [column[0] for column in cursor.description].index(log.id_column)
        if fetched or not log.requires_rows:
            ids = [row[position] for row in fetched if row[position] is not None]
            setattr(log.row, log.ids_field, ids)
            setattr(log.row, log.count_field, len(ids))
            row_append(log.row)
    return fetched


def _aggregated(field: Field[Any, Any], log: ReadLog) -> bool:
    return field.attname in (log.ids_field, log.count_field)


_STATEMENTS: dict[tuple[str, tuple[type[Model], ...], type[Model], str, str, str, str, bool], str] = {}


def _postgres_statement(sql: str, before: tuple[type[Model], ...], log: ReadLog) -> str:
    # Identifiers from model metadata and the caller's fixed SQL; every value is bound.
    key = (sql, before, type(log.row), log.ids_field, log.count_field, log.id_column, log.order_by, log.requires_rows)
    statement = _STATEMENTS.get(key)
    if statement is None:
        parts = [f"r AS ({sql})"]
        for index, model in enumerate(before):
            fields = row_fields(model)
            parts.append(f"w{index} AS ({insert_head(model, fields)} VALUES ({', '.join(placeholder_typed(field) for field in fields)}))")
        read_id = f"r.{connection.ops.quote_name(log.id_column)}"
        fields = row_fields(type(log.row))
        values = []
        for field in fields:
            if field.attname == log.ids_field:
                values.append(f"COALESCE(jsonb_agg({read_id} ORDER BY {log.order_by}) FILTER (WHERE {read_id} IS NOT NULL), '[]'::jsonb)")
            elif field.attname == log.count_field:
                values.append(f"count({read_id})")
            else:
                values.append(placeholder_typed(field))
        having = " HAVING count(*) > 0" if log.requires_rows else ""
        parts.append(f"log AS ({insert_head(type(log.row), fields)} SELECT {', '.join(values)} FROM r{having})")  # noqa: S608  # nosec B608
        statement = _STATEMENTS[key] = f"WITH {', '.join(parts)} SELECT * FROM r ORDER BY {log.order_by}"  # noqa: S608  # nosec B608
    return statement
