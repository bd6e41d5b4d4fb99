"""The hottest statements, run on the psycopg connection under SQLAlchemy's.

Every state change of a task is a handful of fixed text statements (lock the rows, write
the changes, insert a group of submits, delete published outbox rows). Through
SQLAlchemy's ``AsyncConnection.execute`` one costs the registry ~0.4 ms of CPU on these
machines whatever it does: parameter processing, a result object, and two greenlet
switches per round trip. psycopg itself, on the connection SQLAlchemy checked out, does
the same statement for about a third of that. A :class:`DirectStatement` is compiled by
SQLAlchemy once (its ``%(name)s`` text and the bind processors of its typed parameters,
e.g. JSONB's ``Jsonb`` wrapper), then runs on the driver connection: in the caller's
transaction (SQLAlchemy's psycopg dialect sends no BEGIN of its own, psycopg opens the
transaction at the first statement and SQLAlchemy's commit ends it), with psycopg's
prepared statements as before.

Rows are named tuples that also answer ``_mapping``, as SQLAlchemy's rows do; the
engine's ``before_cursor_execute`` listeners see these statements too. A statement's text
never changes, nor do its result's columns: their row class is found once, where reading
the cursor's description built a column object per column at every execute (3 % of the
registry's CPU at a steady 100 submits/s).
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable, Mapping
from typing import Any

from psycopg import AsyncConnection as PsycopgConnection
from psycopg import AsyncCursor
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import TextClause


@functools.lru_cache(maxsize=256)
def _row_class(names: tuple[str, ...]) -> type:
    base = collections.namedtuple("Row", names, rename=True)  # type: ignore[misc]
    return type("Row", (base,), {"__slots__": (), "_mapping": property(lambda row: row._asdict())})


def _row_maker(cursor: AsyncCursor[Any]) -> Callable[[Any], Any]:
    description = cursor.description
    if description is None:
        return tuple
    return _row_class(tuple(column.name for column in description))._make  # type: ignore[attr-defined]


class DirectStatement:
    """``clause`` as psycopg runs it; :meth:`run` answers its rows (empty without any)."""

    def __init__(self, clause: TextClause) -> None:
        self.clause = clause
        self._compiled: tuple[str, dict[str, Callable[[Any], Any]]] | None = None
        # The row maker of this statement's results, and how many columns it was made for.
        self._rows: tuple[int, Callable[[Any], Any]] | None = None

    def _row_factory(self, cursor: AsyncCursor[Any]) -> Callable[[Any], Any]:
        result = cursor.pgresult
        columns = result.nfields if result is not None else 0
        if self._rows is None or self._rows[0] != columns:  # a schema changed under it: made again
            self._rows = (columns, _row_maker(cursor))
        return self._rows[1]

    def _compile(self, dialect: Dialect) -> tuple[str, dict[str, Callable[[Any], Any]]]:
        if self._compiled is None:
            compiled = self.clause.compile(dialect=dialect)
            # The processors SQLAlchemy would apply to these parameters (JSONB's Jsonb).
            processors = {name: processor for name, processor in compiled._bind_processors.items() if processor}
            self._compiled = (compiled.string, processors)  # type: ignore[assignment]
        return self._compiled  # type: ignore[return-value]

    async def run(self, conn: AsyncConnection, parameters: Mapping[str, Any]) -> list[Any]:
        sql, processors = self._compile(conn.dialect)
        if processors:
            parameters = {
                name: processors[name](value) if name in processors else value for name, value in parameters.items()
            }
        sync = conn.sync_connection
        assert sync is not None  # noqa: S101 (an AsyncConnection in use has one)
        if sync.dispatch.before_cursor_execute:
            # Whoever watches the engine's statements (a tracer, a test) still sees these.
            sync.dispatch.before_cursor_execute(sync, None, sql, parameters, None, False)
        driver: PsycopgConnection[Any] = sync.connection.driver_connection  # type: ignore[assignment]
        cursor = driver.cursor(row_factory=self._row_factory)
        await cursor.execute(sql, parameters)
        return await cursor.fetchall() if cursor.description is not None else []
