"""A serial writer's held connection: kept checked out between uses, given back to the
pool once idle, and replaced after a use that failed (a backend killed under it)."""

from __future__ import annotations

import asyncio

import pytest
from mediatasks.core.db import HeldConnection, create_engine
from mediatasks.core.settings import Settings
from sqlalchemy import exc, text

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _pid_on(held: HeldConnection) -> int:
    async with held.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_the_connection_is_kept_between_uses_then_given_back_when_idle(database_url):
    engine = create_engine(Settings(database_url=database_url, db_pool_size=2))
    held = HeldConnection(engine, idle_seconds=0.3)
    try:
        first = await _pid_on(held)
        assert engine.pool.checkedout() == 1  # kept, not checked in
        assert [await _pid_on(held) for _ in range(5)] == [first] * 5
        await asyncio.sleep(0.6)
        assert engine.pool.checkedout() == 0  # idle: back in the pool
        await _pid_on(held)
        assert engine.pool.checkedout() == 1
        await held.close()
        assert engine.pool.checkedout() == 0
    finally:
        await held.close()
        await engine.dispose()


async def test_a_failed_use_drops_the_connection_and_the_next_gets_a_sound_one(database_url):
    engine = create_engine(Settings(database_url=database_url, db_pool_size=2))
    killer = create_engine(Settings(database_url=database_url))
    held = HeldConnection(engine, idle_seconds=30.0)
    try:
        first = await _pid_on(held)
        async with killer.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        # Held, so never pinged: the use meets the dead backend (its caller falls back).
        with pytest.raises(exc.DBAPIError):
            await _pid_on(held)
        assert engine.pool.checkedout() == 0
        assert await _pid_on(held) != first
        # A refusal of the caller's own drops it too (it may be mid-transaction).
        with pytest.raises(ValueError, match="refused"):
            async with held.connect():
                raise ValueError("refused")
        assert engine.pool.checkedout() == 0
    finally:
        await held.close()
        await engine.dispose()
        await killer.dispose()


async def test_uses_must_not_overlap(database_url):
    engine = create_engine(Settings(database_url=database_url, db_pool_size=2))
    held = HeldConnection(engine)
    try:
        async with held.connect():
            with pytest.raises(RuntimeError, match="overlap"):
                async with held.connect():
                    pass
    finally:
        await held.close()
        await engine.dispose()


async def test_disposing_the_engine_closes_the_held_connection(database_url):
    engine = create_engine(Settings(database_url=database_url, db_pool_size=2))
    held = HeldConnection(engine.execution_options(isolation_level="AUTOCOMMIT"), idle_seconds=30.0)
    watcher = create_engine(Settings(database_url=database_url))
    try:
        pid = await _pid_on(held)
        await engine.dispose()  # by its owner, who knows nothing of the held connection
        # Closed by the client: its backend ends a moment later.
        for _ in range(50):
            async with watcher.connect() as conn:
                alive = (
                    await conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid})
                ).scalar_one()
            if not alive:
                break
            await asyncio.sleep(0.1)
        assert alive == 0
    finally:
        await held.close()
        await engine.dispose()
        await watcher.dispose()
