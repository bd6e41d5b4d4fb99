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


async def test_a_batch_call_answers_its_other_submits_and_leaves_the_held_one_alone(
    database_url, registry_service
) -> None:
    """CreateTasks does not wait for a submit held up by its owner's lock: the others are
    answered, the held one is answered ANSWER_ALONE, and sent alone it gets its task (the
    batch's own try of it goes on, and the idempotency key makes the two one task)."""
    from mediatasks.core.clients import ANSWER_ALONE, BATCH_PATIENCE_SECONDS, error_from_status
    from mediatasks.v1 import tasks_pb2, tasks_pb2_grpc

    held, free = f"held-{uuid.uuid4().hex[:6]}", f"free-{uuid.uuid4().hex[:6]}"
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}")
    registry = tasks_pb2_grpc.TaskRegistryStub(channel)
    internal = (("x-mediatasks-internal", "test-internal-token"),)

    def submission(owner: str) -> tasks_pb2.TaskSubmission:
        request = tasks_pb2.CreateTaskRequest(task_type="video_caption", owner=owner, idempotency_key=uuid.uuid4().hex)
        request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text=uuid.uuid4().hex))
        return tasks_pb2.TaskSubmission(task=request)

    # The registry of these tests has an owner limit of 5: four tasks put ``held`` near it,
    # where a submit takes the owner's lock.
    for _ in range(4):
        await registry.CreateTask(submission(held).task, metadata=internal, timeout=10)
    batch = [submission(free), submission(held), submission(free)]
    async with await psycopg.AsyncConnection.connect(_libpq(database_url), autocommit=True) as blocker:
        await blocker.execute("SELECT pg_advisory_lock(hashtext(%s))", (held,))
        try:
            started = asyncio.get_running_loop().time()
            answer = await registry.CreateTasks(
                tasks_pb2.CreateTasksRequest(submissions=batch), metadata=internal, timeout=10
            )
            took = asyncio.get_running_loop().time() - started
        finally:
            await blocker.execute("SELECT pg_advisory_unlock_all()")
    first, waiting, last = answer.results
    assert first.task.owner == free and last.task.owner == free
    assert error_from_status(waiting.error).reason == ANSWER_ALONE and not waiting.HasField("task")
    assert took < BATCH_PATIENCE_SECONDS + 3
    alone = await registry.CreateTask(batch[1].task, metadata=internal, timeout=10)
    listed = await registry.ListTasks(
        tasks_pb2.ListTasksRequest(), metadata=(*internal, ("x-mediatasks-owner", held)), timeout=10
    )
    assert alone.owner == held and listed.total == 5  # one task, however many tries
    await channel.close()
