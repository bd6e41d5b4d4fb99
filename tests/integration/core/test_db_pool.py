"""The database pool pings a connection only after it sat idle: a connection in steady use
goes straight to its statement, and a broken idle one is replaced before anyone uses it."""

from __future__ import annotations

import pytest
from mediatasks.core.db import create_engine, ping_idle_connections
from mediatasks.core.settings import Settings
from sqlalchemy import exc, text

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _backend_pid(engine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(engine, pid: int) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def _one_connection_engine(database_url: str, idle_seconds: float):
    engine = create_engine(Settings(database_url=database_url, db_pool_size=1))
    ping_idle_connections(engine.sync_engine, idle_seconds)  # a second listener, with this threshold
    return engine


async def test_an_idle_connection_that_broke_is_replaced_before_use(database_url):
    engine = _one_connection_engine(database_url, 0.0)
    killer = create_engine(Settings(database_url=database_url))
    try:
        first = await _backend_pid(engine)
        await _terminate(killer, first)
        # The ping at checkout finds it dead: the pool opens another, the call never sees it.
        second = await _backend_pid(engine)
        assert second != first
    finally:
        await engine.dispose()
        await killer.dispose()


async def test_a_connection_in_steady_use_is_not_pinged(database_url):
    engine = create_engine(Settings(database_url=database_url, db_pool_size=1))
    killer = create_engine(Settings(database_url=database_url))
    try:
        first = await _backend_pid(engine)
        await _terminate(killer, first)
        # Checked in a moment ago: no ping, so its statement meets the broken connection
        # (the caller's UNAVAILABLE) and the pool is invalidated; the next call reconnects.
        with pytest.raises(exc.DBAPIError) as broken:
            await _backend_pid(engine)
        assert broken.value.connection_invalidated
        assert await _backend_pid(engine) != first
    finally:
        await engine.dispose()
        await killer.dispose()
