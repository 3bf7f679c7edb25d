"""A cursor for the statements every governed request runs: prepared once per connection on PostgreSQL.

Django's PostgreSQL cursors bind parameters on the client, so the server parses and plans every statement
anew, and they load ``timestamptz`` with a pure-Python loader (about 10 µs a value: a fifth of a temporal
read of 50 episodes, P5 profile). The hot statements (the agent read, the audit row, retrieval's reads and
its access row) are fixed SQL composed once from the models' own names with bound values, so
:func:`prepared_cursor` runs them on a server-binding cursor that has psycopg prepare each one (planned
once per connection) and loads timestamps with psycopg's C loader. The values it gives are the same:
aware datetimes in the session's time zone, which Django sets to UTC.

It is still Django's cursor wrapper around that cursor, so driver errors become ``django.db`` errors and
every statement is seen by ``connection.execute_wrapper``, ``connection.queries`` and the tests' query
counts. Elsewhere (SQLite: no network, nothing to plan twice that matters) it is the ordinary cursor.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from django.db import connection
from django.db.backends.utils import CursorWrapper


@contextmanager
def prepared_cursor() -> Iterator[CursorWrapper]:
    """A cursor whose statements are prepared on PostgreSQL (use it for fixed, parameterised SQL only)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = _prepared_cursor_class()(connection.connection)
        # Django's own per-connection hook, so that thread checks and query logging apply as to any cursor.
        wrapped = cast(Any, connection)._prepare_cursor(raw)
    with wrapped as cursor:
        yield cursor


_CURSOR_CLASS: list[type[Any]] = []


def _prepared_cursor_class() -> type[Any]:
    # Built on first use: psycopg is imported only where PostgreSQL is configured.
    if not _CURSOR_CLASS:
        from psycopg import Cursor, adapters, pq
        from psycopg.abc import Loader
        from psycopg.postgres import types

        timestamptz = types["timestamptz"].oid
        # The global map holds psycopg's C loaders; Django's connections carry a pure-Python one instead.
        found = adapters.get_loader(timestamptz, pq.Format.TEXT)
        assert found is not None, "psycopg always has a timestamptz loader"
        c_loader: type[Loader] = found

        class PreparedCursor(Cursor[Any]):
            """Server-side binding (Django's ServerBindingCursor, less callproc), every statement prepared, C timestamps."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.adapters.register_loader(timestamptz, c_loader)

            def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None) -> Any:
                return super().execute(query, params, prepare=True, binary=binary)

            def _send_query_prepared(self, name: bytes, pgq: Any, *, binary: bool | None = None) -> None:
                # psycopg keeps the statement it sends only when it does not prepare it, and Django's query
                # log reads it from there: without it, every prepared statement is logged as None (BUG-142).
                self._query = pgq
                super()._send_query_prepared(name, pgq, binary=binary)

        _CURSOR_CLASS.append(PreparedCursor)
    return _CURSOR_CLASS[0]
