"""The job pipeline against real JetStream and PostgreSQL: submit, run, complete, fencing."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from mediatasks.v1 import subtitle_pb2, subtitle_pb2_grpc, tasks_pb2, tasks_pb2_grpc

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="session")
async def channels(registry_service, subtitle_service):
    registry = grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}")
    subtitle = grpc.aio.insecure_channel(f"127.0.0.1:{subtitle_service.port}")
    yield tasks_pb2_grpc.TaskRegistryStub(registry), subtitle_pb2_grpc.SubtitleServiceStub(subtitle)
    await registry.close()
    await subtitle.close()


async def wait_status(registry, task_id, metadata, statuses, timeout=20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        task = await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=task_id), metadata=metadata, timeout=5)
        if task.status in statuses:
            return task
        assert asyncio.get_running_loop().time() < deadline, f"task stuck in {task.status} ({task.stage})"
        await asyncio.sleep(0.05)


async def test_subtitles_from_text_complete(channels, api_key):
    registry, subtitle = channels
    md = (("x-api-key", api_key),)
    text = f"Hello there. This is test {uuid.uuid4().hex[:6]}. It should become subtitles."
    task = await subtitle.GenerateSubtitles(
        subtitle_pb2.GenerateSubtitlesRequest(text=text, format="vtt"), metadata=md, timeout=10
    )
    assert task.status == tasks_pb2.Task.QUEUED
    done = await wait_status(registry, task.task_id, md, {tasks_pb2.Task.COMPLETED, tasks_pb2.Task.FAILED})
    assert done.status == tasks_pb2.Task.COMPLETED, done.error
    result = subtitle_pb2.SubtitleResult()
    assert done.output.result.Unpack(result)
    assert result.content.startswith("WEBVTT")
    assert result.cue_count >= 2
    assert done.attempt == 1
