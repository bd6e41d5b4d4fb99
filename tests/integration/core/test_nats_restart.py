"""A NATS restart in the middle of work: services reconnect, nothing is lost."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from mediatasks.v1 import subtitle_pb2, subtitle_pb2_grpc, tasks_pb2, tasks_pb2_grpc

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_jobs_survive_a_nats_restart(nats_server, registry_service, subtitle_service, api_key):
    metadata = (("x-api-key", api_key),)
    registry_channel = grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}")
    subtitle_channel = grpc.aio.insecure_channel(f"127.0.0.1:{subtitle_service.port}")
    registry = tasks_pb2_grpc.TaskRegistryStub(registry_channel)
    subtitle = subtitle_pb2_grpc.SubtitleServiceStub(subtitle_channel)

    async def submit() -> str:
        request = subtitle_pb2.GenerateSubtitlesRequest(text=f"Before and after {uuid.uuid4().hex}.")
        return (await subtitle.GenerateSubtitles(request, metadata=metadata, timeout=20)).task_id

    async def finished(task_id: str) -> tasks_pb2.Task:
        for _ in range(400):
            task = await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=task_id), metadata=metadata, timeout=5)
            if task.status in (tasks_pb2.Task.COMPLETED, tasks_pb2.Task.FAILED):
                return task
            await asyncio.sleep(0.05)
        raise AssertionError(f"task {task_id} stuck in {task.status} ({task.stage})")

    try:
        # The worker declares its consumers in the background: let it finish first.
        for _ in range(200):
            health = await registry.GetHealth(tasks_pb2.GetHealthRequest(), metadata=metadata, timeout=5)
            if health.workers.get("subtitle_generation"):
                break
            await asyncio.sleep(0.05)
        before = await submit()
        await asyncio.to_thread(nats_server.restart)
        # Submitted while the services are still reconnecting: the outbox holds the job
        # until the relay can publish it.
        during = await submit()
        after = await submit()
        for task_id in (before, during, after):
            task = await finished(task_id)
            assert task.status == tasks_pb2.Task.COMPLETED, task.error
    finally:
        await registry_channel.close()
        await subtitle_channel.close()
