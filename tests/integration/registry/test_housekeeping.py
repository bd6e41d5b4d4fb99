"""Expiry: an expired task answers 410, and the sweep removes it and its artifacts."""

from __future__ import annotations

import uuid

import grpc
import nats
import pytest
from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.db import create_engine
from mediatasks.core.errors import MediaTasksError
from mediatasks.registry.housekeeping import Housekeeper
from mediatasks.v1 import subtitle_pb2, tasks_pb2, tasks_pb2_grpc
from sqlalchemy import text

pytestmark = pytest.mark.asyncio(loop_scope="session")
INTERNAL = (("x-mediatasks-internal", "test-internal-token"), ("x-mediatasks-owner", "keeper"))


async def test_expired_task_is_410_then_purged_with_artifacts(registry_service, stack_settings):
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}")
    registry = tasks_pb2_grpc.TaskRegistryStub(channel)
    nc = await nats.connect(stack_settings.nats_url)
    engine = create_engine(stack_settings)
    try:
        artifacts = ArtifactStore(nc.jetstream(), stack_settings)
        artifact = await artifacts.put_bytes(b"WEBVTT\n", content_type="text/vtt", filename="x.vtt", owner="keeper")
        request = tasks_pb2.CreateTaskRequest(task_type="video_caption", owner="keeper")
        request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text=uuid.uuid4().hex))
        task = await registry.CreateTask(request, metadata=INTERNAL)
        start = await registry.StartAttempt(
            tasks_pb2.StartAttemptRequest(task_id=task.task_id, delivery_count=1), metadata=INTERNAL
        )
        output = tasks_pb2.TaskOutput(artifacts=[artifact])
        await registry.CompleteTask(
            tasks_pb2.CompleteTaskRequest(task_id=task.task_id, attempt=start.attempt, output=output), metadata=INTERNAL
        )
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE tasks SET expires_at = now() - interval '1 second' WHERE id = :id"), {"id": task.task_id}
            )
        with pytest.raises(grpc.aio.AioRpcError) as expired:
            await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=task.task_id), metadata=INTERNAL)
        assert expired.value.code() == grpc.StatusCode.NOT_FOUND
        assert ("x-http-status", "410") in tuple(expired.value.trailing_metadata())
        removed = await Housekeeper(engine, artifacts, stack_settings).sweep()
        assert removed["tasks"] >= 1 and removed["artifacts"] >= 1
        with pytest.raises(MediaTasksError) as gone:
            await artifacts.get(artifact.artifact_id)
        assert gone.value.reason == "ARTIFACT_NOT_FOUND"
        async with engine.connect() as conn:
            left = (
                await conn.execute(text("SELECT count(*) FROM tasks WHERE id = :id"), {"id": task.task_id})
            ).scalar()
        assert left == 0
        # Gone from the table, still expired to its owner (a tombstone), unknown to others.
        with pytest.raises(grpc.aio.AioRpcError) as still_expired:
            await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=task.task_id), metadata=INTERNAL)
        assert still_expired.value.code() == grpc.StatusCode.NOT_FOUND
        assert ("x-http-status", "410") in tuple(still_expired.value.trailing_metadata())
        stranger = (("x-mediatasks-internal", "test-internal-token"), ("x-mediatasks-owner", "stranger"))
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=task.task_id), metadata=stranger)
        assert ("x-http-status", "410") not in tuple(unknown.value.trailing_metadata() or ())
    finally:
        await engine.dispose()
        await nc.close()
        await channel.close()
