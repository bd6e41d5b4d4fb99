"""Concurrent state changes of a registry process share transactions.

A worker's start or completion is a short transaction: lock the task's row, decide, write
the change with one statement. Its BEGIN and COMMIT were two of its five statements, and
on these machines every statement costs the registry about 0.4 ms of CPU whatever it
does. :class:`SharedTransactions` runs the changes that arrive while one transaction is
being written one after another inside the next transaction, which commits them
together (PostgreSQL, too, commits once for them all). The first change of a quiet moment
runs at once, in a transaction of its own.

A change is a coroutine function of the connection. It may refuse (raise
:class:`MediaTasksError`) only before it writes anything, as the fenced changes do: its
refusal is its own, and the others commit. Any other error aborts the shared
transaction: nothing of it was written, and every change of it runs again on its own
transaction, so one failing change (a deadlock, a bad value) costs the others a retry,
never their outcome; a row lock held elsewhere stalls a shared transaction for at most
SHARED_LOCK_TIMEOUT_SECONDS.

A change may name the row it will lock (``run(change, lock=key)``). A shared transaction
first locks all its changes' rows with one statement (``lock_rows``), in key order, so
that two replicas' shared transactions take their locks in the same order and never
deadlock on them, and each change takes its row from :func:`locked_row` instead of a
statement of its own: one statement fewer per change. And a change's write may wait for
its group's (:class:`SharedConnection`): the group's writes then go in as one
statement, so a shared transaction of 30 starts is BEGIN, the lock, one write, COMMIT.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mediatasks.core.coalescing import Coalescer, Pending
from mediatasks.core.errors import MediaTasksError

log = logging.getLogger(__name__)

T = TypeVar("T")
Change = Callable[[AsyncConnection], Awaitable[T]]
# Locks the rows of these keys (in key order) and answers them by key; a key without a
# row is left out. Its statement also sets the transaction's lock timeout (the third
# argument, a value for ``set_config('lock_timeout', …, true)``) before it takes a lock:
# a SET LOCAL of its own was one round trip of the transaction's four.
LockRows = Callable[[AsyncConnection, list[Any], str], Awaitable[dict[Any, Any]]]
# Opens a transaction: a context manager of its connection, committed at its end.
Begin = Callable[[], AbstractAsyncContextManager[AsyncConnection]]
# Writes the changes a shared transaction deferred (see SharedConnection), together.
WriteDeferred = Callable[[AsyncConnection, list[Any]], Awaitable[None]]
# Where a shared transaction keeps the rows it locked for its changes (conn.info).
_LOCKED = "mediatasks.shared.locked"
# Changes sharing one transaction at most: more wait for the next.
SHARED_LIMIT = 32
# How long a shared transaction waits for a row lock held elsewhere (a cancel, another
# replica's transaction, a frozen one) before it gives up and its changes run alone: only
# the change that needs the row then waits for it, as it would have on its own.
SHARED_LOCK_TIMEOUT_SECONDS = 2.0


def locked_row(conn: AsyncConnection, key: Any) -> tuple[bool, Any]:
    """(True, the row or None) when this transaction locked ``key``'s row up front for the
    change now running; (False, None) when the change must lock it itself. A row is
    handed out once: a later change of the same row in the transaction (which may have
    written it) reads it afresh."""
    locked = conn.info.get(_LOCKED)
    if locked is None or key not in locked:
        return False, None
    return True, locked.pop(key)


class SharedConnection:
    """The connection a change of a shared transaction gets: a change may hand it its
    write (:meth:`defer`) instead of executing it, and the group's deferred writes go in
    together, before the next statement anyone executes on it (which so sees them all:
    a change reading a row another change wrote, a count of running tasks) and before
    COMMIT. One statement for a group's writes instead of one per change.
    """

    def __init__(self, conn: AsyncConnection, write_deferred: WriteDeferred) -> None:
        self._conn = conn
        self._write_deferred = write_deferred
        self._deferred: list[Any] = []

    @property
    def info(self) -> dict[Any, Any]:
        return self._conn.info

    def defer(self, write: Any) -> None:
        self._deferred.append(write)

    async def flush(self) -> None:
        if self._deferred:
            writes, self._deferred = self._deferred, []
            await self._write_deferred(self._conn, writes)

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        await self.flush()
        return await self._conn.execute(*args, **kwargs)


@dataclass(frozen=True)
class _Request(Generic[T]):
    change: Change[T]
    lock: Any = None


class SharedTransactions:
    def __init__(
        self,
        engine: AsyncEngine,
        lock_rows: LockRows | None = None,
        write_deferred: WriteDeferred | None = None,
        begin: Begin | None = None,
        begin_shared: Begin | None = None,
    ) -> None:
        """``write_deferred``: how the writes changes deferred go in (None: changes get
        the plain connection and cannot defer); ``begin``: opens a transaction (by
        default ``engine.begin``); ``begin_shared``: opens a shared transaction (by
        default ``begin``; they run one at a time, so it may keep one connection, while
        changes retried alone run beside them on ``begin``'s)."""
        self.engine = engine
        self.begin: Begin = begin or engine.begin
        self.begin_shared: Begin = begin_shared or self.begin
        self.lock_rows = lock_rows
        self.write_deferred = write_deferred
        self._groups: Coalescer[_Request[Any], Any] = Coalescer(self._settle_shared, SHARED_LIMIT)
        self._alone: set[asyncio.Task[None]] = set()

    async def run(self, change: Change[T], lock: Any = None) -> T:
        """``change``'s result once its transaction committed (or its refusal); ``lock``:
        the key of the row it locks first, if it has one."""
        return await self._groups.submit(_Request(change, lock))

    async def alone(self, change: Change[T]) -> T:
        async with self.begin() as conn:
            return await change(conn)

    async def _settle_shared(self, group: list[Pending[_Request[Any], Any]]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            async with self.begin_shared() as conn:
                lock_timeout = f"{int(SHARED_LOCK_TIMEOUT_SECONDS * 1000)}ms"
                keys = sorted({waiting.item.lock for waiting in group if waiting.item.lock is not None})
                rows: dict[Any, Any] = {}
                if keys and self.lock_rows is not None:
                    rows = await self.lock_rows(conn, keys, lock_timeout)
                    conn.info[_LOCKED] = {key: rows.get(key) for key in keys}
                if not rows:  # no lock statement, or it read no row: the timeout is not set yet
                    await conn.execute(text(f"SET LOCAL lock_timeout = '{lock_timeout}'"))
                shared: Any = conn if self.write_deferred is None else SharedConnection(conn, self.write_deferred)
                try:
                    for waiting in group:
                        try:
                            outcomes.append((True, await waiting.item.change(shared)))
                        except MediaTasksError as refusal:
                            outcomes.append((False, refusal))
                    if isinstance(shared, SharedConnection):
                        await shared.flush()
                finally:
                    conn.info.pop(_LOCKED, None)  # the connection goes back to the pool
        except Exception as error:
            # Rolled back: nothing of the group was written. Each change again, on its own
            # transaction (no lock timeout) and off this writer, which goes on with the next
            # group: a change waiting for a row holds up nobody else.
            log.info("a transaction shared by %d changes failed (%s); each runs alone", len(group), error)
            for waiting in group:
                alone = asyncio.create_task(self._settle_alone(waiting))
                self._alone.add(alone)
                alone.add_done_callback(self._alone.discard)
            return
        for waiting, (ok, value) in zip(group, outcomes, strict=True):
            if ok:
                waiting.resolve(value)
            else:
                waiting.fail(value)

    async def _settle_alone(self, waiting: Pending[_Request[Any], Any]) -> None:
        try:
            waiting.resolve(await self.alone(waiting.item.change))
        except asyncio.CancelledError:
            waiting.answer.cancel()
            raise
        except BaseException as error:
            waiting.fail(error)
