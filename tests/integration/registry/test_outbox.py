"""The outbox relay against real PostgreSQL and JetStream: a message JetStream will never
take is parked with its reason (and its task failed) while every other row flows."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import nats
import pytest
from mediatasks.core.db import create_engine
from mediatasks.registry.convert import utcnow
from mediatasks.registry.outbox import OUTBOX, OutboxRelay
from mediatasks.registry.store import TaskStore
from mediatasks.v1 import common_pb2, subtitle_pb2, tasks_pb2, tasks_pb2_grpc
from sqlalchemy import delete, insert, select

pytestmark = pytest.mark.asyncio(loop_scope="session")


def internal(owner: str) -> tuple[tuple[str, str], ...]:
    return (("x-mediatasks-internal", "test-internal-token"), ("x-mediatasks-owner", owner))


async def test_a_poison_row_is_parked_and_never_blocks_the_others(registry_service, stack_settings, nats_url) -> None:
    engine = create_engine(stack_settings)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    failed_jobs: list[tuple[str, str]] = []

    async def record(task_id: str, reason: str) -> None:
        failed_jobs.append((task_id, reason))

    # A relay of its own over the same table; the registry's relay competes for the rows
    # (SKIP LOCKED), which is how replicas share them.
    relay = OutboxRelay(engine, nc, poll_seconds=0.2, on_unpublishable_job=record)
    marker = uuid.uuid4().hex
    too_big = b"x" * (2 * 1024 * 1024)  # over NATS's default max_payload of 1 MiB
    poison_job = tasks_pb2.Job(task_id=str(uuid.uuid4()), task_type="video_caption", owner="o" * len(too_big))
    good = [
        {"subject": f"mediatasks.events.{marker}", "msg_id": f"{marker}-{n}", "payload": b"ok", "created_at": utcnow()}
        for n in range(3)
    ]
    rows = [
        {
            "subject": "mediatasks.jobs.video_caption.low",
            "msg_id": f"{marker}-job",
            "payload": poison_job.SerializeToString(),
            "created_at": utcnow(),
        },
        {
            "subject": f"mediatasks.events.{marker}",
            "msg_id": f"{marker}-big",
            "payload": too_big,
            "created_at": utcnow(),
        },
        *good,
    ]
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(OUTBOX), rows)
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            await relay.relay_once()
            async with engine.connect() as conn:
                left = (
                    await conn.execute(
                        select(OUTBOX.c.msg_id, OUTBOX.c.parked_at, OUTBOX.c.park_reason).where(
                            OUTBOX.c.msg_id.like(f"{marker}%")
                        )
                    )
                ).all()
            if all(row.parked_at is not None for row in left):
                break
            assert asyncio.get_running_loop().time() < deadline, left
            await asyncio.sleep(0.1)
        assert sorted(row.msg_id for row in left) == [f"{marker}-big", f"{marker}-job"]
        assert all("max_payload" in row.park_reason for row in left)
        # The three good rows reached the stream although the poison rows sat beside them.
        sub = await js.subscribe(f"mediatasks.events.{marker}", ordered_consumer=True)
        received = [await sub.next_msg(timeout=5) for _ in good]
        assert [m.headers["Nats-Msg-Id"] for m in received] == [row["msg_id"] for row in good]
        await sub.unsubscribe()
        # The parked job's task is told why (whichever relay parked it first).
        if failed_jobs:
            assert failed_jobs[0][0] == poison_job.task_id
        parked, reason = await relay.parked_summary()
        assert parked >= 2 and "max_payload" in reason
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(OUTBOX).where(OUTBOX.c.msg_id.like(f"{marker}%")))
        await nc.close()
        await engine.dispose()


async def test_a_task_whose_job_cannot_be_published_fails_with_the_reason(registry_service, stack_settings) -> None:
    owner = f"parked-{uuid.uuid4().hex[:6]}"
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}")
    registry = tasks_pb2_grpc.TaskRegistryStub(channel)
    request = tasks_pb2.CreateTaskRequest(
        task_type="video_caption", owner=owner, options=common_pb2.SubmitOptions(), idempotency_key=uuid.uuid4().hex
    )
    request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text="parked"))
    task = await registry.CreateTask(request, metadata=internal(owner), timeout=10)
    engine = create_engine(stack_settings)
    try:
        store = TaskStore(engine, stack_settings)
        assert await store.fail_unpublishable(task.task_id, "the message is larger than the server's max_payload")
        failed = await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=task.task_id), metadata=internal(owner))
        assert failed.status == tasks_pb2.Task.FAILED
        assert failed.error.reason == "JOB_UNPUBLISHABLE" and "max_payload" in failed.error.message
        # Only a task still waiting for its job is failed this way.
        assert not await store.fail_unpublishable(task.task_id, "again")
    finally:
        await engine.dispose()
        await channel.close()


async def test_a_ten_hour_transcript_completes_and_its_events_stay_small(registry_service, nats_url) -> None:
    from mediatasks.v1 import audio_pb2

    owner = f"long-{uuid.uuid4().hex[:6]}"
    # As the services' own channels do: results of several MB are fine over gRPC.
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{registry_service.port}", options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    )
    registry = tasks_pb2_grpc.TaskRegistryStub(channel)
    nc = await nats.connect(nats_url)
    try:
        request = tasks_pb2.CreateTaskRequest(
            task_type="audio_transcription", owner=owner, idempotency_key=uuid.uuid4().hex
        )
        request.input.Pack(audio_pb2.TranscribeRequest(audio_url="a" * 32))
        task = await registry.CreateTask(request, metadata=internal(owner))
        started = await registry.StartAttempt(
            tasks_pb2.StartAttemptRequest(task_id=task.task_id, delivery_count=1, worker_id="long"),
            metadata=internal("*"),
        )
        # 120,000 words over ten hours: megabytes, far over NATS's 1 MiB message limit.
        words = [common_pb2.Word(text=f"word{n}", start=n * 0.3, end=n * 0.3 + 0.25) for n in range(120_000)]
        result = audio_pb2.TranscriptionResult(
            text=" ".join(w.text for w in words), words=words, duration_seconds=36_000.0
        )
        output = tasks_pb2.TaskOutput()
        output.result.Pack(result)
        assert output.ByteSize() > 2 * 1024 * 1024
        sub = await nc.subscribe(f"mediatasks.events.{task.task_id}")
        await registry.CompleteTask(
            tasks_pb2.CompleteTaskRequest(task_id=task.task_id, attempt=started.attempt, output=output),
            metadata=internal("*"),
        )
        # The completion event arrives (so SSE, watch and webhooks learn of it), small.
        while True:
            msg = await sub.next_msg(timeout=10)
            event = tasks_pb2.TaskEvent.FromString(msg.data)
            if event.event_type == "task.completed":
                break
        assert len(msg.data) < 64 * 1024 and not event.task.output.HasField("result")
        whole = await registry.GetTaskResult(
            tasks_pb2.GetTaskResultRequest(task_id=task.task_id), metadata=internal(owner)
        )
        back = audio_pb2.TranscriptionResult()
        assert whole.result.result.Unpack(back) and len(back.words) == 120_000
    finally:
        await nc.close()
        await channel.close()
