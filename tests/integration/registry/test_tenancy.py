"""Two tenants on one registry (real PostgreSQL and JetStream): the result cache is each
owner's own, retries wait their turn like submits, held state ends with a cancel, webhook
secrets never come back, and anonymous health checks learn up or down only."""

from __future__ import annotations

import uuid

import grpc
import pytest
from mediatasks.core.db import create_engine
from mediatasks.registry.store import TASKS
from mediatasks.v1 import common_pb2, subtitle_pb2, tasks_pb2, tasks_pb2_grpc
from sqlalchemy import select

pytestmark = pytest.mark.asyncio(loop_scope="session")


def internal(owner: str) -> tuple[tuple[str, str], ...]:
    return (("x-mediatasks-internal", "test-internal-token"), ("x-mediatasks-owner", owner))


@pytest.fixture(scope="module")
async def registry(registry_service):
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}")
    yield tasks_pb2_grpc.TaskRegistryStub(channel)
    await channel.close()


def _request(owner: str, *, text: str, cache_key: str = "", **options) -> tasks_pb2.CreateTaskRequest:
    request = tasks_pb2.CreateTaskRequest(
        task_type="video_caption",
        owner=owner,
        options=common_pb2.SubmitOptions(**options),
        idempotency_key=uuid.uuid4().hex,
        cache_key=cache_key,
    )
    request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text=text))
    return request


async def _run_to_completion(registry, task: tasks_pb2.Task, artifact_id: str) -> None:
    started = await registry.StartAttempt(
        tasks_pb2.StartAttemptRequest(task_id=task.task_id, delivery_count=1, worker_id=uuid.uuid4().hex),
        metadata=internal("*"),
    )
    assert started.proceed
    output = tasks_pb2.TaskOutput(artifacts=[common_pb2.Artifact(artifact_id=artifact_id)])
    await registry.CompleteTask(
        tasks_pb2.CompleteTaskRequest(task_id=task.task_id, attempt=started.attempt, output=output),
        metadata=internal("*"),
    )


async def test_the_result_cache_belongs_to_its_owner(registry) -> None:
    alice, bob = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    key = uuid.uuid4().hex
    first = await registry.CreateTask(_request(alice, text="same", cache_key=key), metadata=internal(alice))
    await _run_to_completion(registry, first, "a" * 32)
    # Alice again: her own entry answers at once.
    again = await registry.CreateTask(_request(alice, text="same", cache_key=key), metadata=internal(alice))
    assert again.cache_hit and again.status == tasks_pb2.Task.COMPLETED
    assert [a.artifact_id for a in again.output.artifacts] == ["a" * 32]
    # Bob, same input: his task runs; he never gets (or learns of) Alice's output.
    theirs = await registry.CreateTask(_request(bob, text="same", cache_key=key), metadata=internal(bob))
    assert not theirs.cache_hit and theirs.status == tasks_pb2.Task.QUEUED
    assert not theirs.output.artifacts


async def test_a_cache_hit_uses_no_slot(registry, stack_settings) -> None:
    owner = f"hits-{uuid.uuid4().hex[:6]}"
    key = uuid.uuid4().hex
    done = await registry.CreateTask(_request(owner, text="cached", cache_key=key), metadata=internal(owner))
    await _run_to_completion(registry, done, "b" * 32)
    for n in range(stack_settings.owner_concurrency_limit):  # the owner's limit is now full
        await registry.CreateTask(_request(owner, text=f"busy {n}"), metadata=internal(owner))
    with pytest.raises(grpc.aio.AioRpcError) as full:
        await registry.CreateTask(_request(owner, text="one more"), metadata=internal(owner))
    assert full.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    hit = await registry.CreateTask(_request(owner, text="cached", cache_key=key), metadata=internal(owner))
    assert hit.cache_hit and hit.status == tasks_pb2.Task.COMPLETED


async def test_retries_wait_their_turn_and_a_cancel_ends_the_wait(registry, stack_settings) -> None:
    owner, other = f"retrier-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}"
    limit = stack_settings.owner_concurrency_limit
    failed: list[tasks_pb2.Task] = []
    for n in range(200):  # one at a time, each failed for good
        task = await registry.CreateTask(_request(owner, text=f"fails {n}"), metadata=internal(owner))
        started = await registry.StartAttempt(
            tasks_pb2.StartAttemptRequest(task_id=task.task_id, delivery_count=1, worker_id=f"w{n}"),
            metadata=internal("*"),
        )
        error = common_pb2.TaskError(code="INVALID_ARGUMENT", reason="BAD", retryable=False)
        await registry.FailTask(
            tasks_pb2.FailTaskRequest(task_id=task.task_id, attempt=started.attempt, error=error),
            metadata=internal("*"),
        )
        failed.append(task)
    retried = [
        await registry.RetryTask(tasks_pb2.RetryTaskRequest(task_id=t.task_id), metadata=internal(owner))
        for t in failed
    ]
    running = [t for t in retried if t.stage != "waiting_for_turn"]
    assert len(running) == limit, [t.stage for t in retried]
    # Another owner's job is not behind the mass retry.
    theirs = await registry.CreateTask(_request(other, text="mine"), metadata=internal(other))
    assert theirs.stage == "queued"
    # Cancelling a held task ends its wait.
    held = next(t for t in retried if t.stage == "waiting_for_turn")
    await registry.CancelTask(tasks_pb2.CancelTaskRequest(task_id=held.task_id), metadata=internal(owner))
    engine = create_engine(stack_settings)
    try:
        async with engine.connect() as conn:
            reason = (
                await conn.execute(select(TASKS.c.queued_reason).where(TASKS.c.id == uuid.UUID(held.task_id)))
            ).scalar_one()
        assert reason == ""
    finally:
        await engine.dispose()


async def test_webhook_secrets_are_encrypted_and_never_returned(registry, stack_settings) -> None:
    owner = f"hooks-{uuid.uuid4().hex[:6]}"
    request = tasks_pb2.CreateTaskRequest(
        task_type="subtitle_generation",
        owner=owner,
        options=common_pb2.SubmitOptions(webhook_url="https://example.com/hook", webhook_secret="whsec_c2VjcmV0"),
        idempotency_key=uuid.uuid4().hex,
    )
    request.input.Pack(
        subtitle_pb2.GenerateSubtitlesRequest(
            text="x", webhook_url="https://example.com/hook", webhook_secret="whsec_c2VjcmV0"
        )
    )
    task = await registry.CreateTask(request, metadata=internal(owner))
    shown = await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=task.task_id), metadata=internal(owner))
    echoed = subtitle_pb2.GenerateSubtitlesRequest()
    assert shown.input.Unpack(echoed)
    assert echoed.webhook_url == "https://example.com/hook" and echoed.webhook_secret == ""
    assert b"c2VjcmV0" not in shown.SerializeToString()
    engine = create_engine(stack_settings)
    try:
        async with engine.connect() as conn:
            stored = (
                await conn.execute(select(TASKS.c.webhook_secret).where(TASKS.c.id == uuid.UUID(task.task_id)))
            ).scalar_one()
        assert stored.startswith("fernet:") and "c2VjcmV0" not in stored
    finally:
        await engine.dispose()


async def test_anonymous_health_is_up_or_down_only(registry, api_key) -> None:
    anonymous = await registry.GetHealth(tasks_pb2.GetHealthRequest())
    assert anonymous.status in ("ok", "degraded")
    assert not anonymous.dependencies and not anonymous.workers
    operator = await registry.GetHealth(tasks_pb2.GetHealthRequest(), metadata=(("x-api-key", api_key),))
    assert operator.dependencies["postgresql"] == "ok"


async def test_an_internal_call_without_an_owner_sees_no_other_owner(registry) -> None:
    owner = f"private-{uuid.uuid4().hex[:6]}"
    task = await registry.CreateTask(_request(owner, text="mine"), metadata=internal(owner))
    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await registry.GetTask(
            tasks_pb2.GetTaskRequest(task_id=task.task_id), metadata=(("x-mediatasks-internal", "test-internal-token"),)
        )
    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
