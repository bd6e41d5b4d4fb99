"""The background API in the registry (real PostgreSQL and JetStream): only workers
declare types; submits are checked against the declared schema; a type without a live
worker says so; each declared type retries on its own backoff; queue figures and the
cleanup see the right tasks."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import grpc
import pytest
from google.protobuf import json_format
from mediatasks.core.db import create_engine
from mediatasks.registry.store import TASKS, TaskTypeStore
from mediatasks.v1 import background_pb2, background_pb2_grpc, tasks_pb2, tasks_pb2_grpc
from sqlalchemy import update

pytestmark = pytest.mark.asyncio(loop_scope="session")

INTERNAL = (("x-mediatasks-internal", "test-internal-token"),)
# Owners of their own: tasks of types no worker serves stay queued, and would hold the
# shared test owners' concurrency slots (5) for every later test.
OWNER, OTHER_OWNER = "bg-alice", "bg-bob"


@pytest.fixture(scope="module")
async def api_key(registry_service) -> str:
    return await registry_service.api_keys.create(OWNER, name="background-tests")


@pytest.fixture(scope="module")
async def other_api_key(registry_service) -> str:
    return await registry_service.api_keys.create(OTHER_OWNER, name="background-tests")


@pytest.fixture(scope="module")
async def channel(registry_service):
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}")
    yield channel
    await channel.close()


def _spec(name: str, **retry) -> background_pb2.TaskTypeSpec:
    spec = background_pb2.TaskTypeSpec(name=name, default_priority="high")
    json_format.ParseDict(
        {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer", "maximum": 10}}},
        spec.payload_schema,
    )
    spec.retry.CopyFrom(background_pb2.RetryPolicySpec(**retry))
    return spec


async def _declare(channel, spec) -> None:
    stub = background_pb2_grpc.BackgroundServiceStub(channel)
    await stub.RegisterTaskTypes(background_pb2.RegisterTaskTypesRequest(task_types=[spec]), metadata=INTERNAL)


async def _submit(channel, api_key: str, task_type: str, payload: dict, **fields) -> background_pb2.BackgroundTask:
    request = background_pb2.SubmitTaskRequest(task_type=task_type, **fields)
    json_format.ParseDict(payload, request.payload)
    stub = background_pb2_grpc.BackgroundServiceStub(channel)
    return await stub.SubmitTask(request, metadata=(("x-api-key", api_key),), timeout=10)


async def test_only_workers_declare_types(channel, api_key) -> None:
    stub = background_pb2_grpc.BackgroundServiceStub(channel)
    request = background_pb2.RegisterTaskTypesRequest(task_types=[_spec("sneaky_type")])
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.RegisterTaskTypes(request, metadata=(("x-api-key", api_key),))
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_submit_checks_the_schema_and_shows_waiting_for_worker(channel, api_key) -> None:
    name = f"t_{uuid.uuid4().hex[:8]}"
    await _declare(channel, _spec(name, max_retries=2, base_delay_seconds=5))
    task = await _submit(channel, api_key, name, {"n": 3}, name="three")
    assert (task.status, task.priority, task.max_retries, task.name) == ("pending", "high", 2, "three")
    assert task.stage == "waiting_for_worker"
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await _submit(channel, api_key, name, {"n": 11})
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "maximum" in error.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await _submit(channel, api_key, "never_declared", {})
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and name in error.value.details()


async def test_a_declared_type_retries_on_its_own_backoff(channel, api_key) -> None:
    name = f"t_{uuid.uuid4().hex[:8]}"
    await _declare(channel, _spec(name, max_retries=3, base_delay_seconds=10, backoff_factor=3, max_delay_seconds=50))
    task = await _submit(channel, api_key, name, {"n": 1})
    registry = tasks_pb2_grpc.TaskRegistryStub(channel)
    delays = []
    for delivery in (1, 2, 3):
        started = await registry.StartAttempt(
            tasks_pb2.StartAttemptRequest(task_id=task.task_id, delivery_count=delivery, worker_id="w"),
            metadata=INTERNAL,
        )
        assert started.proceed, started.reason
        failed = await registry.FailTask(
            tasks_pb2.FailTaskRequest(
                task_id=task.task_id,
                attempt=started.attempt,
                error={"code": "UNAVAILABLE", "reason": "DOWN", "message": "down", "retryable": True},
            ),
            metadata=INTERNAL,
        )
        assert failed.requeued
        delays.append(failed.retry_delay_seconds)
    # 10 s, 30 s, then capped at 50 s; each ±20%.
    for delay, base in zip(delays, (10, 30, 50), strict=True):
        assert 0.8 * base <= delay <= 1.2 * base, delays


async def test_queue_counts_and_cleanup_scope(stack_settings, channel, api_key, other_api_key) -> None:
    name = f"t_{uuid.uuid4().hex[:8]}"
    await _declare(channel, _spec(name))
    mine = [await _submit(channel, api_key, name, {"n": 1}) for _ in range(2)]
    theirs = await _submit(channel, other_api_key, name, {"n": 1})
    engine = create_engine(stack_settings)
    store = TaskTypeStore(engine)
    try:
        counts = {(c.task_type, c.priority): c for c in await store.queue_counts(OWNER, [name])}
        assert counts[(name, "high")].pending == 2 and counts[(name, "high")].oldest_pending_age_seconds > 0
        everyone = {(c.task_type, c.priority): c for c in await store.queue_counts(None, [name])}
        assert everyone[(name, "high")].pending == 3
        old = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
        async with engine.begin() as conn:
            await conn.execute(
                update(TASKS)
                .where(TASKS.c.id.in_([uuid.UUID(t.task_id) for t in (*mine, theirs)]))
                .values(status="COMPLETED", completed_at=old)
            )
        deleted, _artifacts = await store.delete_finished(OWNER, old + dt.timedelta(days=1), [name])
        assert deleted == 2
        remaining = {(c.task_type, c.priority) for c in await store.queue_counts(None, [name])}
        assert remaining == set()  # none queued any more; bob's task is finished, not deleted
        deleted, _artifacts = await store.delete_finished(None, old + dt.timedelta(days=1), [name])
        assert deleted == 1
    finally:
        await engine.dispose()


async def test_reconciler_gives_a_declared_types_lost_job_back(stack_settings, channel, api_key) -> None:
    from mediatasks.core import topology
    from mediatasks.core.nats_conn import connect
    from mediatasks.registry.live_workers import LiveWorkers
    from mediatasks.registry.outbox import OUTBOX, OutboxRelay
    from mediatasks.registry.reconciler import Reconciler
    from mediatasks.registry.store import TaskStore
    from sqlalchemy import func, select

    served, unserved = f"t_{uuid.uuid4().hex[:8]}", f"t_{uuid.uuid4().hex[:8]}"
    await _declare(channel, _spec(served))
    await _declare(channel, _spec(unserved))
    nc = await connect(stack_settings, name="test-reconciler")
    js = nc.jetstream()
    engine = create_engine(stack_settings)
    try:
        # A worker of `served` once ran (its consumer exists); nobody ever ran `unserved`.
        await topology.ensure_job_consumer(js, served, "high", stack_settings)
        lost = await _submit(channel, api_key, served, {"n": 1})
        waiting = await _submit(channel, api_key, unserved, {"n": 1})

        async def outbox_rows(task_id: str) -> int:
            async with engine.connect() as conn:
                query = select(func.count()).select_from(OUTBOX).where(OUTBOX.c.msg_id.startswith(task_id))
                return int((await conn.execute(query)).scalar_one())

        deadline = asyncio.get_running_loop().time() + 10
        while await outbox_rows(lost.task_id) or await outbox_rows(waiting.task_id):
            assert asyncio.get_running_loop().time() < deadline, "the relay never published the jobs"
            await asyncio.sleep(0.1)
        # The job vanished from JetStream (a purge, a lost disk): only the database knows.
        await js.purge_stream(topology.JOBS_STREAM, subject=topology.job_subject(served, "high"))
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        async with engine.begin() as conn:
            await conn.execute(
                update(TASKS)
                .where(TASKS.c.id.in_([uuid.UUID(lost.task_id), uuid.UUID(waiting.task_id)]))
                .values(updated_at=long_ago)
            )
        store = TaskStore(engine, stack_settings)
        relay = OutboxRelay(engine, nc, poll_seconds=1.0)
        reconciler = Reconciler(store, js, LiveWorkers(js), relay, stack_settings)
        assert (await reconciler.reconcile_once())["missing_jobs"] >= 1
        async with engine.connect() as conn:
            touched = dict(
                (
                    await conn.execute(
                        select(TASKS.c.id, TASKS.c.updated_at).where(
                            TASKS.c.id.in_([uuid.UUID(lost.task_id), uuid.UUID(waiting.task_id)])
                        )
                    )
                ).all()
            )
        assert touched[uuid.UUID(lost.task_id)] > long_ago + dt.timedelta(minutes=30)  # given a new job
        assert touched[uuid.UUID(waiting.task_id)] == long_ago  # its job waits in the stream for a first worker
        consumer = topology.job_consumer(served, "high")
        while (await js.consumer_info(topology.JOBS_STREAM, consumer)).num_pending < 1:
            assert asyncio.get_running_loop().time() < deadline + 10, "the new job never reached JetStream"
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()
        await nc.close()


async def test_declared_types_are_in_the_queue_depth_gauge(stack_settings, channel, api_key) -> None:
    from mediatasks.core import metrics
    from mediatasks.registry.housekeeping import Housekeeper

    name = f"t_{uuid.uuid4().hex[:8]}"
    await _declare(channel, _spec(name))
    waiting = await _submit(channel, api_key, name, {"n": 2})
    engine = create_engine(stack_settings)
    try:
        housekeeper = Housekeeper(engine, None, stack_settings)  # type: ignore[arg-type]  (no artifacts needed)
        await housekeeper.observe_queues()
        assert metrics.QUEUE_DEPTH.labels(name, "high")._value.get() == 1
        async with engine.begin() as conn:
            await conn.execute(update(TASKS).where(TASKS.c.id == uuid.UUID(waiting.task_id)).values(status="CANCELLED"))
        await housekeeper.observe_queues()
        assert metrics.QUEUE_DEPTH.labels(name, "high")._value.get() == 0  # drained, not stuck at 1
    finally:
        await engine.dispose()
