"""One row appended with a statement prepared once per model, for the log rows every governed request writes.

``Model.save()`` re-compiles its INSERT on every call (a third of an audit row's cost on SQLite, and
more on PostgreSQL, measured by P5). :func:`row_append` writes the same values the same way (each
field's ``pre_save`` and ``get_db_prep_save``, so ``auto_now_add`` and every adapter apply) with SQL
built once from the model's own table and column names. It sends no ``pre_save``/``post_save``
signal: use it only for append-only log models that nothing listens to. :func:`rows_insert` is the
bulk counterpart, for many rows given as plain tuples (ingestion and segmentation).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models import Field, Model

from atom.prepared import prepared_cursor


@dataclass(frozen=True)
class _Statement:
    sql: str
    fields: list[Field[Any, Any]]
    returns: bool


_STATEMENTS: dict[tuple[type[Model], str], _Statement] = {}


def _statement(model: type[Model]) -> _Statement:
    key = (model, connection.vendor)
    statement = _STATEMENTS.get(key)
    if statement is None:
        quote = connection.ops.quote_name
        meta = model._meta
        fields = [field for field in meta.concrete_fields if not field.primary_key]
        columns = ", ".join(quote(str(field.column)) for field in fields)
        sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"  # noqa: S608  # nosec B608 - identifiers from model metadata, values bound
        returns = bool(connection.features.can_return_columns_from_insert)
        if returns:
            sql += f" RETURNING {quote(str(meta.pk.column))}"
        statement = _STATEMENTS[key] = _Statement(sql, fields, returns)
    return statement


def row_fields(model: type[Model]) -> list[Field[Any, Any]]:
    """The columns :func:`row_append` writes, in order: every concrete field but the primary key."""
    return _statement(model).fields


def row_values(instance: Model) -> list[Any]:
    """What :func:`row_append` binds for an instance, field by field (``pre_save``, then ``get_db_prep_save``)."""
    return [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in _statement(type(instance)).fields]


def row_append(instance: Model) -> Model:
    """INSERT an unsaved instance of a signal-free, append-only model; set its primary key and return it."""
    statement = _statement(type(instance))
    params = row_values(instance)
    with prepared_cursor() as cursor:
        cursor.execute(statement.sql, params)
        instance.pk = cursor.fetchone()[0] if statement.returns else cursor.lastrowid
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


def insert_head(model: type[Model], fields: list[Field[Any, Any]]) -> str:
    columns = ", ".join(connection.ops.quote_name(str(field.column)) for field in fields)
    return f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns})"  # nosec B608 - identifiers from model metadata


def placeholder_typed(field: Field[Any, Any]) -> str:
    # Typed placeholders: inside INSERT ... SELECT, an untyped NULL would be read as text. Text columns are
    # cast to text, never to varchar(n), whose explicit cast would cut a long value instead of refusing it.
    db_type = str(field.cast_db_type(connection))
    return f"CAST(%s AS {'text' if db_type.startswith('varchar') else db_type})"


def rows_insert(model: type[Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """INSERT plain tuples into a signal-free model's table with the driver's bulk path.

    COPY on PostgreSQL (psycopg 3's ``cursor.copy``), one ``executemany`` elsewhere. No model instance is
    built and no SQL is compiled per row or per batch, which is what makes ``bulk_create`` the larger part of
    a bulk write (P4 profile). Values travel only as data: COPY rows or bound parameters; the statement
    holds nothing but the model's own table and column names. Each value must already be what the
    column stores (JSON as text); aware datetimes are written as the backend would write them.
    """
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = ", ".join(quote(name) for name in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        params = _sqlite_params(list(rows))
        if not params:
            return
        placeholders = ", ".join(["%s"] * len(columns))
        cursor.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({placeholders})",  # noqa: S608  # nosec B608 - identifiers from the model, values bound
            params,
        )


def _sqlite_params(rows: list[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """The rows with their datetime columns as SQLite text, transposed column by column (no per-row copy)."""
    if not rows:
        return []
    columns: list[tuple[Any, ...]] = list(zip(*rows, strict=True))
    for index, column in enumerate(columns):
        # Datetime columns are found on the first row: a column holds one type throughout.
        if isinstance(column[0], datetime):
            if column.count(column[0]) == len(column):
                # A value repeated down the column (a batch's created_at) is formatted once.
                columns[index] = (_sqlite_datetime(column[0]),) * len(column)
            else:
                columns[index] = tuple(map(_sqlite_datetime, column))
    return list(zip(*columns, strict=True))


def _sqlite_datetime(value: datetime) -> str:
    # What Django's SQLite backend stores for an aware datetime (naive UTC text), without its per-value
    # overhead: a UTC value's text ends in "+00:00", which is all that sets it apart from the naive one.
    return str(value)[:-6] if value.tzinfo is UTC else str(value.astimezone(UTC).replace(tzinfo=None))
