"""Seed 004's background submits take any JSON object as metadata, like the native API
(issue 12 item 3: numbers were refused and nested objects a DecodeError), with the same
limits, and the task shows it the same on both surfaces."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import json_format
from mediatasks.v1 import background_pb2, background_pb2_grpc, tasks_pb2, tasks_pb2_grpc

pytestmark = pytest.mark.asyncio(loop_scope="session")

INTERNAL = (("x-mediatasks-internal", "test-internal-token"),)
NESTED = {"order": {"id": 42, "lines": [{"sku": "a", "qty": 2}]}, "score": 0.5, "vip": True}


@pytest.fixture(scope="module")
async def api_key(registry_service) -> str:
    return await registry_service.api_keys.create(f"bg-meta-{uuid.uuid4().hex[:6]}", name="metadata-tests")


@pytest.fixture(scope="module")
async def channel(registry_service):
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}")
    yield channel
    await channel.close()


@pytest.fixture(scope="module")
async def task_type(channel) -> str:
    name = f"meta_type_{uuid.uuid4().hex[:6]}"
    spec = background_pb2.TaskTypeSpec(name=name, default_priority="normal")
    json_format.ParseDict({"type": "object"}, spec.payload_schema)
    stub = background_pb2_grpc.BackgroundServiceStub(channel)
    await stub.RegisterTaskTypes(background_pb2.RegisterTaskTypesRequest(task_types=[spec]), metadata=INTERNAL)
    return name


async def test_nested_metadata_is_stored_and_shown_on_both_surfaces(channel, api_key, task_type) -> None:
    request = background_pb2.SubmitTaskRequest(task_type=task_type)
    request.metadata.update(NESTED)
    stub = background_pb2_grpc.BackgroundServiceStub(channel)
    key = (("x-api-key", api_key),)
    task = await stub.SubmitTask(request, metadata=key, timeout=10)
    assert json_format.MessageToDict(task.metadata) == NESTED
    again = await stub.GetTask(background_pb2.GetBackgroundTaskRequest(task_id=task.task_id), metadata=key, timeout=10)
    assert json_format.MessageToDict(again.metadata) == NESTED
    native = await tasks_pb2_grpc.TaskRegistryStub(channel).GetTask(
        tasks_pb2.GetTaskRequest(task_id=task.task_id), metadata=key, timeout=10
    )
    assert json_format.MessageToDict(native.metadata) == NESTED


async def test_metadata_over_its_limit_is_refused_naming_it(channel, api_key, task_type) -> None:
    request = background_pb2.SubmitTaskRequest(task_type=task_type)
    request.metadata.update({f"k{i}": i for i in range(300)})
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await background_pb2_grpc.BackgroundServiceStub(channel).SubmitTask(
            request, metadata=(("x-api-key", api_key),), timeout=10
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "MEDIATASKS_METADATA_MAX_KEYS" in (refused.value.details() or "")
