"""Outbox rows handed to the relay the moment their transaction commits.

The relay's own round (claim rows, publish, commit) is three statements, and at a steady
100 submits a second it ran about twice per job: a third of the registry's statements.
The transaction that wrote the rows already has them in memory, so once it has committed
they go straight to the relay (:meth:`OutboxRelay.hand_off`), which publishes them at once
and deletes them with one statement for all it published within 50 ms. The rows are in
the table all along: a registry that dies before its relay deletes them, or a publish
that fails, leaves them to the relay's rounds, and ``Nats-Msg-Id`` makes a row published
both ways one message.

A write remembers its rows on its connection (:func:`remember`, in the connection's
``info``); :func:`transaction` hands them off after its commit and forgets them on a
rollback.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# Outbox rows (subject, msg_id, payload, created_at) that committed.
HandOff = Callable[[list[dict]], None]
Connect = Callable[[], contextlib.AbstractAsyncContextManager[AsyncConnection]]
_PENDING = "mediatasks.outbox.pending"


def remember(conn, rows: Iterable[dict]) -> None:
    """Note outbox rows written in ``conn``'s transaction (an AsyncConnection or one
    that shares its ``info``)."""
    rows = list(rows)
    if rows:
        conn.info.setdefault(_PENDING, []).extend(rows)


@contextlib.asynccontextmanager
async def transaction(
    engine: AsyncEngine, hand_off: HandOff | None, connect: Connect | None = None
) -> AsyncIterator[AsyncConnection]:
    """``engine.begin()`` that hands the rows its writes remembered to ``hand_off`` once
    it committed (None: they wait for the relay's round); ``connect``: where its
    connection comes from (by default ``engine.connect``)."""
    async with (connect or engine.connect)() as conn:
        try:
            async with conn.begin():
                yield conn
        finally:
            # The pool keeps a connection's info: rows of a rolled-back transaction must
            # not ride on the next one.
            rows = conn.info.pop(_PENDING, None)
    if rows and hand_off is not None:
        hand_off(rows)
