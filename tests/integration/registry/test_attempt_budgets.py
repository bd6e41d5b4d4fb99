"""Attempt budgets and capacity in the registry (real PostgreSQL and JetStream): only
attempts that started and vanished count towards dead-lettering, a stopping worker's hand
back costs nothing, concurrent starts never overshoot a type's capacity, and the
reconciler moves stranded tasks on."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import grpc
import pytest
from mediatasks.core.db import create_engine
from mediatasks.core.errors import WORKER_SHUTDOWN
from mediatasks.registry.outbox import OUTBOX
from mediatasks.registry.store import TASKS, TaskStore
from mediatasks.v1 import common_pb2, subtitle_pb2, tasks_pb2, tasks_pb2_grpc
from sqlalchemy import delete, func, select, update

pytestmark = pytest.mark.asyncio(loop_scope="session")


def internal(owner: str = "anonymous") -> tuple[tuple[str, str], ...]:
    return (("x-mediatasks-internal", "test-internal-token"), ("x-mediatasks-owner", owner))


@pytest.fixture(scope="module")
async def registry(registry_service):
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}")
    yield tasks_pb2_grpc.TaskRegistryStub(channel)
    await channel.close()


async def create(registry, owner: str, task_type: str = "video_caption", **options) -> tasks_pb2.Task:
    request = tasks_pb2.CreateTaskRequest(
        task_type=task_type,
        owner=owner,
        options=common_pb2.SubmitOptions(**options),
        idempotency_key=uuid.uuid4().hex,
    )
    request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text=uuid.uuid4().hex))
    return await registry.CreateTask(request, metadata=internal(owner), timeout=10)


async def start(registry, task_id: str, delivery: int, worker: str = "w") -> tasks_pb2.StartAttemptResponse:
    return await registry.StartAttempt(
        tasks_pb2.StartAttemptRequest(task_id=task_id, delivery_count=delivery, worker_id=f"{worker}-{delivery}"),
        metadata=internal(),
        timeout=10,
    )


async def test_only_attempts_that_started_and_vanished_count_towards_the_dlq(registry, stack_settings) -> None:
    owner = f"dlq-{uuid.uuid4().hex[:6]}"
    task = await create(registry, owner)
    max_deliver = stack_settings.max_deliver
    # Capacity refusals, outages and the like never reach StartAttempt's count: only
    # starts do. The first start, then max_deliver - 1 redeliveries of vanished attempts.
    for delivery in range(1, max_deliver + 1):
        started = await start(registry, task.task_id, delivery)
        assert started.proceed, (delivery, started.reason)
    refused = await start(registry, task.task_id, max_deliver + 1)
    assert not refused.proceed and refused.reason == "DEAD_LETTERED"
    ended = await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=task.task_id), metadata=internal(owner))
    assert ended.status == tasks_pb2.Task.FAILED and ended.error.reason == "DELIVERY_EXHAUSTED"
    letters = await registry.ListDeadLetters(tasks_pb2.ListDeadLettersRequest(), metadata=internal(owner))
    assert task.task_id in {letter.task_id for letter in letters.items}


async def test_a_worker_handing_a_job_back_uses_no_budget(registry) -> None:
    owner = f"handback-{uuid.uuid4().hex[:6]}"
    task = await create(registry, owner, max_attempts=1)
    for delivery in (1, 2, 3):
        started = await start(registry, task.task_id, delivery)
        assert started.proceed
        error = common_pb2.TaskError(code="UNAVAILABLE", reason=WORKER_SHUTDOWN, retryable=True)
        answer = await registry.FailTask(
            tasks_pb2.FailTaskRequest(task_id=task.task_id, attempt=started.attempt, error=error),
            metadata=internal(),
            timeout=10,
        )
        assert answer.requeued and answer.retry_delay_seconds == 0.0
        assert answer.task.status == tasks_pb2.Task.QUEUED
    # After three hand-backs a task allowed one attempt still gets its one real try.
    last = await start(registry, task.task_id, 4)
    assert last.proceed and last.attempt == 4
    error = common_pb2.TaskError(code="UNAVAILABLE", reason="PROVIDER_TIMEOUT", retryable=True)
    answer = await registry.FailTask(
        tasks_pb2.FailTaskRequest(task_id=task.task_id, attempt=last.attempt, error=error), metadata=internal()
    )
    assert not answer.requeued and answer.task.status == tasks_pb2.Task.FAILED


async def test_concurrent_starts_never_overshoot_the_capacity_of_a_type(registry, stack_settings) -> None:
    task_type = "video_add_audio"
    engine = create_engine(stack_settings)
    try:
        async with engine.connect() as conn:
            running = (
                await conn.execute(
                    select(func.count()).where(TASKS.c.task_type == task_type, TASKS.c.status == "PROCESSING")
                )
            ).scalar_one()
        room = stack_settings.capacity_per_type - running
        owners = [f"cap-{uuid.uuid4().hex[:6]}" for _ in range(room + 15)]
        tasks = [await create(registry, owner, task_type) for owner in owners]
        answers = await asyncio.gather(*(start(registry, t.task_id, 1, worker=f"w{i}") for i, t in enumerate(tasks)))
        assert sum(a.proceed for a in answers) == room
        assert {a.reason for a in answers if not a.proceed} == {"CAPACITY"}
    finally:
        async with engine.begin() as conn:  # free the type's capacity for other tests
            await conn.execute(delete(TASKS).where(TASKS.c.owner.like("cap-%")))
        await engine.dispose()


async def test_the_reconciler_requeues_lost_attempts_and_gives_lost_jobs_back(registry, stack_settings) -> None:
    engine = create_engine(stack_settings)
    store = TaskStore(engine, stack_settings)
    owner = f"recon-{uuid.uuid4().hex[:6]}"
    try:
        lost = await create(registry, owner, "video_img2vid")
        started = await start(registry, lost.task_id, 1)
        assert started.proceed
        waiting = await create(registry, owner, "video_img2vid", priority="low")
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        async with engine.begin() as conn:
            await conn.execute(
                update(TASKS).where(TASKS.c.owner == owner).values(updated_at=long_ago, next_attempt_at=None)
            )
        # The running attempt went silent an hour ago: requeued with a job of its own.
        assert await store.requeue_lost(["video_img2vid"], long_ago + dt.timedelta(minutes=1)) >= 1
        again = await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=lost.task_id), metadata=internal(owner))
        assert again.status == tasks_pb2.Task.QUEUED and again.stage == "requeued_after_lost_worker"
        async with engine.connect() as conn:
            jobs = (
                await conn.execute(select(OUTBOX.c.msg_id).where(OUTBOX.c.msg_id.like(f"{lost.task_id}:lost:%")))
            ).all()
        # One new job (the registry's relay may have published it already, and the first
        # job's row may still wait for its grouped delete).
        assert len(jobs) <= 1
        # Its next start fences the lost attempt out.
        restarted = await start(registry, lost.task_id, 1, worker="other")
        assert restarted.proceed and restarted.attempt == started.attempt + 1
        # A queued task whose job is gone gets a new one. (Its first job left the outbox
        # once published; the relay deletes published rows in groups, so wait for it.)
        async with asyncio.timeout(10):
            while True:
                async with engine.connect() as conn:
                    query = select(func.count()).select_from(OUTBOX).where(OUTBOX.c.msg_id == waiting.task_id)
                    if not (await conn.execute(query)).scalar_one():
                        break
                await asyncio.sleep(0.05)
        assert await store.republish_missing("video_img2vid", "low", long_ago + dt.timedelta(minutes=1)) >= 1
        async with engine.connect() as conn:
            touched = (
                await conn.execute(select(TASKS.c.updated_at).where(TASKS.c.id == uuid.UUID(waiting.task_id)))
            ).scalar_one()
        assert touched > long_ago + dt.timedelta(minutes=30)
    finally:
        await engine.dispose()
