"""Scale-out on one machine: 2 registry replicas and 3 workers per media type process 2,000
jobs while one replica of each is SIGKILLed mid-run; every job completes exactly once, and
the two outbox relays never publish a job twice."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import grpc
import nats
import pytest
from helpers.media import image_bytes
from helpers.stacks import isolated_stack
from mediatasks.core.clients import channel_target
from mediatasks.devstack.stack import Stack
from mediatasks.v1 import image_pb2, image_pb2_grpc, subtitle_pb2, subtitle_pb2_grpc, tasks_pb2
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.e2e
JOBS = 2000


@pytest.fixture(scope="module")
def scaled(postgres_server):
    # Its own NATS and database: the counts below must see only this test's jobs.
    with isolated_stack(
        postgres_server,
        "scale",
        media_services=("image", "subtitle"),
        replicas={"registry": 2, "image": 3, "subtitle": 3},
        env={
            "MEDIATASKS_ACK_WAIT_SECONDS": "3",
            "MEDIATASKS_OWNER_CONCURRENCY_LIMIT": "1000000",
            "MEDIATASKS_OWNER_RATE_LIMIT_PER_SECOND": "0",
            "MEDIATASKS_QUEUE_BOUND": "1000000",
            "MEDIATASKS_CAPACITY_PER_TYPE": "1000000",
            "MEDIATASKS_WORKER_CONCURRENCY": "16",
            "MEDIATASKS_LOG_LEVEL": "WARNING",
            "MEDIATASKS_SHUTDOWN_GRACE_SECONDS": "2",
        },
    ) as stack:
        yield stack


async def submit_all(stack: Stack, image_id: str) -> list[str]:
    subtitle = subtitle_pb2_grpc.SubtitleServiceStub(
        grpc.aio.insecure_channel(
            channel_target(stack.replica_addresses("subtitle")), options=[("grpc.lb_policy_name", "round_robin")]
        )
    )
    image = image_pb2_grpc.ImageServiceStub(
        grpc.aio.insecure_channel(
            channel_target(stack.replica_addresses("image")), options=[("grpc.lb_policy_name", "round_robin")]
        )
    )
    metadata = (("x-api-key", stack.api_key),)
    gate = asyncio.Semaphore(32)

    async def one(index: int) -> str:
        async with gate:
            for attempt in range(5):
                key = (("idempotency-key", f"scale-{index}"),)
                try:
                    if index % 4 == 0:
                        request = image_pb2.TransformImageRequest(
                            image_url=image_id,
                            operations=[image_pb2.ImageOperation(op="resize", width=16)],
                            output_format="png",
                            no_cache=True,
                        )
                        task = await image.TransformImage(request, metadata=metadata + key, timeout=30)
                    else:
                        request = subtitle_pb2.GenerateSubtitlesRequest(text=f"Job {index}. Scale test.", no_cache=True)
                        task = await subtitle.GenerateSubtitles(request, metadata=metadata + key, timeout=30)
                    return task.task_id
                except grpc.aio.AioRpcError as error:
                    # A replica we were talking to was just killed: the same idempotency
                    # key makes the retry return the task if it had been created.
                    if error.code() != grpc.StatusCode.UNAVAILABLE or attempt == 4:
                        raise
                    await asyncio.sleep(0.2)
        raise AssertionError("unreachable")

    return await asyncio.gather(*(one(i) for i in range(JOBS)))


@pytest.mark.timeout(900)
def test_two_thousand_jobs_exactly_once_while_replicas_die(scaled):
    import httpx

    with httpx.Client(base_url=scaled.http_url, headers={"X-API-Key": scaled.api_key}) as client:
        image_id = client.post(
            "/api/v1/media/uploads", content=image_bytes((64, 48)), headers={"content-type": "image/png"}
        ).json()["artifact_id"]

    victims = [
        next(p for p in scaled.processes if p.service == service and p.index == 1)
        for service in ("registry", "subtitle", "image")
    ]

    async def run() -> list[str]:
        submitting = asyncio.create_task(submit_all(scaled, image_id))
        await asyncio.sleep(3.0)  # mid-run: jobs are queued, running and being submitted
        for victim in victims:
            os.kill(victim.child.pid, signal.SIGKILL)
        return await submitting

    started = time.monotonic()
    task_ids = asyncio.run(run())
    assert len(set(task_ids)) == JOBS

    engine = create_engine(scaled.database_url)
    deadline = time.monotonic() + 240
    while True:
        with engine.connect() as conn:
            counts = dict(conn.execute(text("SELECT status, count(*) FROM tasks GROUP BY status")).all())
        if counts.get("COMPLETED", 0) + counts.get("FAILED", 0) + counts.get("CANCELLED", 0) >= JOBS:
            break
        assert time.monotonic() < deadline, f"not finished: {counts}"
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    print(f"\n{JOBS} jobs in {elapsed:.1f}s ({JOBS / elapsed:.0f}/s) with 2 registries, 3+3 workers, 3 killed")
    assert counts == {"COMPLETED": JOBS}, counts
    with engine.connect() as conn:
        attempts = dict(conn.execute(text("SELECT attempt, count(*) FROM tasks GROUP BY attempt")).all())
    # The relays delete published rows in groups (50 ms apart): the last jobs' rows may be
    # a moment behind their tasks.
    deadline = time.monotonic() + 10
    while True:
        with engine.connect() as conn:
            outbox_left = conn.execute(
                text("SELECT count(*) FROM outbox WHERE subject LIKE 'mediatasks.jobs.%'")
            ).scalar()
        if outbox_left == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert outbox_left == 0
    # Jobs killed mid-run were retried (attempt 2); none ran a third time.
    assert set(attempts) <= {1, 2}, attempts

    async def check_streams() -> None:
        nc = await nats.connect(scaled.nats_url)
        js = nc.jetstream()
        jobs = await js.stream_info("MEDIATASKS_JOBS")
        # Work-queue: acked jobs are gone; every job was stored exactly once (the relays'
        # retries are deduplicated by Nats-Msg-Id), so the last sequence is the job count.
        assert jobs.state.messages == 0
        assert jobs.state.last_seq == JOBS, jobs.state
        completed: dict[str, int] = {}
        sub = await js.subscribe("mediatasks.events.>", ordered_consumer=True)
        events = await js.stream_info("MEDIATASKS_EVENTS")
        for _ in range(events.state.messages):
            msg = await sub.next_msg(timeout=10)
            event = tasks_pb2.TaskEvent.FromString(msg.data)
            if event.event_type == "task.completed":
                completed[event.task_id] = completed.get(event.task_id, 0) + 1
        await sub.unsubscribe()
        await nc.close()
        assert len(completed) == JOBS
        assert set(completed.values()) == {1}  # exactly once

    asyncio.run(check_streams())
