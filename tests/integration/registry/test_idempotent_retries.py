"""Idempotent submits without a lookup up front: the key is looked up only when the insert
finds it taken or admission refuses, so a repeated submit still answers with its task,
even when the owner is at the concurrency limit, and a reused key with another body is
still a conflict."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from mediatasks.v1 import common_pb2, subtitle_pb2, tasks_pb2, tasks_pb2_grpc

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="session")
async def registry(registry_service):
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}")
    yield tasks_pb2_grpc.TaskRegistryStub(channel)
    await channel.close()


def internal(owner: str):
    return (("x-mediatasks-internal", "test-internal-token"), ("x-mediatasks-owner", owner))


def reason_of(error: grpc.aio.AioRpcError) -> str:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            info = error_details_pb2.ErrorInfo()
            status_pb2.Status.FromString(value).details[0].Unpack(info)
            return info.reason
    return ""


def create_request(owner: str, key: str, text: str) -> tasks_pb2.CreateTaskRequest:
    # A type no worker serves in these tests: the tasks stay queued and count for the limit.
    request = tasks_pb2.CreateTaskRequest(
        task_type="video_caption", owner=owner, idempotency_key=key, options=common_pb2.SubmitOptions()
    )
    request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text=text))
    return request


async def test_a_repeated_submit_answers_with_its_task_even_at_the_owner_limit(registry, stack_settings):
    owner = f"retry-{uuid.uuid4().hex[:6]}"
    tasks = []
    for index in range(stack_settings.owner_concurrency_limit):
        request = create_request(owner, f"auto:{index}", f"text {index}")
        tasks.append(await registry.CreateTask(request, metadata=internal(owner), timeout=10))
    # The owner is at the limit: a new submit is refused ...
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await registry.CreateTask(create_request(owner, "auto:new", "new"), metadata=internal(owner), timeout=10)
    assert reason_of(refused.value) == "CONCURRENCY_LIMIT"
    # ... but a repeat of one that committed gets that task back, not a refusal or a twin.
    again = await registry.CreateTask(create_request(owner, "auto:2", "text 2"), metadata=internal(owner), timeout=10)
    assert again.task_id == tasks[2].task_id
    listed = await registry.ListTasks(tasks_pb2.ListTasksRequest(), metadata=internal(owner), timeout=10)
    assert listed.total == len(tasks)
    # The same key with another body is a conflict, at the limit or not.
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await registry.CreateTask(create_request(owner, "auto:2", "other"), metadata=internal(owner), timeout=10)
    assert reused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert reason_of(reused.value) == "IDEMPOTENCY_KEY_REUSED"


async def test_a_repeated_submit_below_the_limit_is_the_same_task(registry):
    owner = f"repeat-{uuid.uuid4().hex[:6]}"
    first = await registry.CreateTask(create_request(owner, "client-key", "a"), metadata=internal(owner), timeout=10)
    second = await registry.CreateTask(create_request(owner, "client-key", "a"), metadata=internal(owner), timeout=10)
    assert second.task_id == first.task_id
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await registry.CreateTask(create_request(owner, "client-key", "b"), metadata=internal(owner), timeout=10)
    assert reason_of(reused.value) == "IDEMPOTENCY_KEY_REUSED"
    listed = await registry.ListTasks(tasks_pb2.ListTasksRequest(), metadata=internal(owner), timeout=10)
    assert listed.total == 1
