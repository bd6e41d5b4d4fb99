"""Scaling out registries only helps if nothing serialises every submit: the per-owner
lock of the concurrency limit (a PostgreSQL advisory lock on the owner) holds up that
owner's submits alone, and the per-type capacity lock is not on the submit path."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import psycopg
import pytest
from mediatasks.v1 import subtitle_pb2, subtitle_pb2_grpc
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _libpq(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def test_a_held_owner_lock_stops_that_owner_only(database_url, registry_service, subtitle_service) -> None:
    held, free = f"held-{uuid.uuid4().hex[:6]}", f"free-{uuid.uuid4().hex[:6]}"
    held_key = await registry_service.api_keys.create(held, name="tests")
    free_key = await registry_service.api_keys.create(free, name="tests")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{subtitle_service.port}")
    stub = subtitle_pb2_grpc.SubtitleServiceStub(channel)

    async def submit(key: str) -> str:
        request = subtitle_pb2.GenerateSubtitlesRequest(text=f"Owner isolation {uuid.uuid4().hex}.", no_cache=True)
        return (await stub.GenerateSubtitles(request, metadata=(("x-api-key", key),), timeout=30)).task_id

    # Another session holds what the registry takes for ``held`` near its limit, and the
    # capacity lock of the type: as if a burst of that owner, and a start, were under way.
    async with await psycopg.AsyncConnection.connect(_libpq(database_url), autocommit=True) as blocker:
        await blocker.execute("SELECT pg_advisory_lock(hashtext(%s))", (held,))
        await blocker.execute("SELECT pg_advisory_lock(hashtextextended('capacity:subtitle_generation', 0))")
        try:
            waiting = asyncio.create_task(submit(held_key))
            await asyncio.sleep(1.0)
            assert not waiting.done()  # the lock is really on that owner's submit path
            task_id = await asyncio.wait_for(submit(free_key), timeout=10)
            assert task_id
            assert not waiting.done()
        finally:
            await blocker.execute("SELECT pg_advisory_unlock_all()")
        assert await asyncio.wait_for(waiting, timeout=20)
    await channel.close()
