"""The worker runtime against real JetStream and the real registry, with test handlers:
priorities, heartbeats past AckWait, cancellation, retries and the dead-letter queue."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import grpc
import nats
import pytest
from mediatasks.core import topology
from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.clients import RegistryClient
from mediatasks.core.errors import transient
from mediatasks.core.worker import JobContext, JobResult, Worker
from mediatasks.v1 import common_pb2, subtitle_pb2, tasks_pb2, tasks_pb2_grpc

pytestmark = pytest.mark.asyncio(loop_scope="session")
# Every owner ("*"): these tests read the tasks they made for many owners.
INTERNAL = (("x-mediatasks-internal", "test-internal-token"), ("x-mediatasks-owner", "*"))


@pytest.fixture(scope="module")
async def harness(service_settings):
    channel = grpc.aio.insecure_channel(service_settings.registry_addr)
    registry = tasks_pb2_grpc.TaskRegistryStub(channel)
    nc = await nats.connect(service_settings.nats_url)
    yield registry, nc, service_settings
    await nc.close()
    await channel.close()


async def create(registry, task_type: str, owner: str = "", **options) -> tasks_pb2.Task:
    request = tasks_pb2.CreateTaskRequest(
        task_type=task_type,
        owner=owner or f"runtime-{uuid.uuid4().hex[:6]}",
        options=common_pb2.SubmitOptions(**options),
    )
    request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text=uuid.uuid4().hex))
    return await registry.CreateTask(request, metadata=INTERNAL, timeout=10)


async def until(registry, task_id: str, predicate, timeout: float = 20.0) -> tasks_pb2.Task:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        task = await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=task_id), metadata=INTERNAL, timeout=5)
        if predicate(task):
            return task
        assert loop.time() < deadline, f"task {task_id}: {tasks_pb2.Task.Status.Name(task.status)} {task.stage}"
        await asyncio.sleep(0.05)


class Running:
    """A Worker with test handlers, on the real registry and JetStream."""

    def __init__(self, nc, settings, handlers, concurrency=1):
        self.client = RegistryClient(settings)
        js = nc.jetstream()
        self.worker = Worker(
            settings, nc, js, self.client, ArtifactStore(js, settings), handlers, concurrency=concurrency
        )

    async def __aenter__(self):
        self.task = asyncio.create_task(self.worker.run())
        return self

    async def __aexit__(self, *exc):
        await self.worker.stop()
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.client.close()


def done(ctx: JobContext) -> JobResult:
    return JobResult(result=subtitle_pb2.SubtitleResult(content=ctx.task_id))


async def test_highest_priority_first(harness):
    registry, nc, settings = harness
    order: list[str] = []

    async def record(ctx: JobContext) -> JobResult:
        order.append(ctx.priority)
        return done(ctx)

    # Queued before any worker of this type exists, so the worker sees all of them at once.
    tasks = [await create(registry, "video_add_audio", priority=p) for p in ("low", "medium", "urgent", "high")]
    async with Running(nc, settings, {"video_add_audio": record}):
        for task in tasks:
            await until(registry, task.task_id, lambda t: t.status == tasks_pb2.Task.COMPLETED)
    assert order == ["urgent", "high", "medium", "low"]


async def test_heartbeats_keep_a_long_job_past_ack_wait(harness):
    registry, nc, settings = harness
    settings = settings.model_copy(update={"ack_wait_seconds": 1.0})

    async def slow(ctx: JobContext) -> JobResult:
        await asyncio.sleep(3.0)  # three AckWaits
        return done(ctx)

    task = await create(registry, "video_analysis")
    async with Running(nc, settings, {"video_analysis": slow}):
        finished = await until(registry, task.task_id, lambda t: t.status == tasks_pb2.Task.COMPLETED)
    info = await nc.jetstream().consumer_info(topology.JOBS_STREAM, topology.job_consumer("video_analysis", "medium"))
    assert info.config.ack_wait == 1.0
    assert finished.attempt == 1  # never redelivered while it was heartbeating


async def test_cancel_stops_the_running_handler(harness):
    registry, nc, settings = harness
    started = asyncio.Event()
    stopped = asyncio.Event()

    async def forever(ctx: JobContext) -> JobResult:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            ctx.confirm_cancel(True)
            stopped.set()
            raise
        return done(ctx)

    task = await create(registry, "video_generation")
    async with Running(nc, settings, {"video_generation": forever}):
        await asyncio.wait_for(started.wait(), 20)
        await registry.CancelTask(tasks_pb2.CancelTaskRequest(task_id=task.task_id), metadata=INTERNAL)
        await asyncio.wait_for(stopped.wait(), 2)
        final = await until(registry, task.task_id, lambda t: t.cancel_confirmed)
    assert final.status == tasks_pb2.Task.CANCELLED


async def test_transient_failures_use_max_attempts_not_the_delivery_budget(harness):
    registry, nc, settings = harness
    # max_attempts above max_deliver: every retry happens (the delivery budget counts
    # attempts that vanish, not failures the registry recorded).
    settings = settings.model_copy(update={"max_deliver": 3, "retry_schedule_seconds": "0.05"})
    calls = 0

    async def flaky(ctx: JobContext) -> JobResult:
        nonlocal calls
        calls += 1
        raise transient("UPSTREAM_DOWN", "the vendor is down")

    task = await create(registry, "image_generation", max_attempts=6)
    async with Running(nc, settings, {"image_generation": flaky}):
        failed = await until(registry, task.task_id, lambda t: t.status == tasks_pb2.Task.FAILED)
    assert failed.error.reason == "UPSTREAM_DOWN" and calls == 6 and failed.attempt == 6
    letters = await registry.ListDeadLetters(
        tasks_pb2.ListDeadLettersRequest(task_type="image_generation"), metadata=INTERNAL
    )
    assert task.task_id not in [item.task_id for item in letters.items]


async def test_a_timeout_inside_the_handler_is_an_outage_not_the_jobs_time_limit(harness):
    registry, nc, settings = harness
    settings = settings.model_copy(update={"retry_schedule_seconds": "0.05"})
    calls = 0

    async def times_out(ctx: JobContext) -> JobResult:
        nonlocal calls
        calls += 1
        raise nats.errors.TimeoutError  # the object store, say, mid-election

    task = await create(registry, "image_generation", max_attempts=4)
    async with Running(nc, settings, {"image_generation": times_out}):
        failed = await until(registry, task.task_id, lambda t: t.status == tasks_pb2.Task.FAILED)
    # Every attempt ran: a job's own time limit would have stopped it after the second.
    assert failed.error.reason == "DEPENDENCY_UNAVAILABLE" and failed.error.code == "UNAVAILABLE", failed.error
    assert calls == 4 and failed.attempt == 4


async def test_a_job_past_its_time_limit_is_stopped_and_runs_once_more_at_most(harness):
    registry, nc, settings = harness
    settings = settings.model_copy(update={"retry_schedule_seconds": "0.05", "job_timeout_seconds": 0.5})
    calls = 0

    async def hangs(ctx: JobContext) -> JobResult:
        nonlocal calls
        calls += 1
        await asyncio.sleep(60)
        return done(ctx)

    task = await create(registry, "image_generation", max_attempts=4)
    async with Running(nc, settings, {"image_generation": hangs}):
        failed = await until(registry, task.task_id, lambda t: t.status == tasks_pb2.Task.FAILED)
    assert failed.error.reason == "JOB_TIMEOUT" and calls == 2 and failed.attempt == 2, failed.error


async def test_a_task_types_own_time_limit_stops_its_jobs_and_no_others(harness):
    registry, nc, settings = harness
    settings = settings.model_copy(
        update={"retry_schedule_seconds": "0.05", "job_timeout_seconds": 3600.0, "job_timeouts": "image_generation=0.5"}
    )
    ran: list[str] = []

    async def takes_two_seconds(ctx: JobContext) -> JobResult:
        ran.append(ctx.task_type)
        await asyncio.sleep(2.0)
        return done(ctx)

    limited = await create(registry, "image_generation", max_attempts=4)
    unlimited = await create(registry, "image_transform", max_attempts=1)
    handlers = {"image_generation": takes_two_seconds, "image_transform": takes_two_seconds}
    async with Running(nc, settings, handlers, concurrency=2):
        failed = await until(registry, limited.task_id, lambda t: t.status == tasks_pb2.Task.FAILED)
        finished = await until(registry, unlimited.task_id, lambda t: t.status == tasks_pb2.Task.COMPLETED)
    assert failed.error.reason == "JOB_TIMEOUT" and failed.attempt == 2, failed.error
    assert "image_generation job" in failed.error.message
    assert finished.attempt == 1 and ran.count("image_transform") == 1


async def test_a_job_the_registry_dead_lettered_goes_to_the_dlq_stream(harness):
    registry, nc, settings = harness
    task = await create(registry, "image_generation")
    # Attempts that started and vanished (workers killed mid-job): this test takes the
    # deliveries itself, starts an attempt on each and hands the message back unsettled,
    # max_deliver - 1 times. Each redelivery of a job still PROCESSING costs one.
    js_api = f"$JS.API.CONSUMER.MSG.NEXT.{topology.JOBS_STREAM}.{topology.job_consumer('image_generation', 'medium')}"
    await topology.ensure_job_consumer(nc.jetstream(), "image_generation", "medium", settings)
    inbox = nc.new_inbox()
    pulled = await nc.subscribe(inbox)
    for _ in range(settings.max_deliver):
        while True:
            await nc.publish(js_api, b'{"batch":1,"expires":2000000000}', reply=inbox)
            msg = await pulled.next_msg(timeout=5)
            if not msg.headers or not msg.headers.get("Status"):
                break
        assert tasks_pb2.Job.FromString(msg.data).task_id == task.task_id
        started = await registry.StartAttempt(
            tasks_pb2.StartAttemptRequest(
                task_id=task.task_id,
                delivery_count=msg.metadata.num_delivered,
                worker_id=f"gone-{msg.metadata.num_delivered}",
            ),
            metadata=INTERNAL,
        )
        assert started.proceed
        await msg.nak()
    await pulled.unsubscribe()
    calls = 0

    async def never(ctx: JobContext) -> JobResult:
        nonlocal calls
        calls += 1
        return done(ctx)

    async with Running(nc, settings, {"image_generation": never}):
        failed = await until(registry, task.task_id, lambda t: t.status == tasks_pb2.Task.FAILED)
        js = nc.jetstream()
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            with contextlib.suppress(Exception):
                last = await js.get_last_msg(topology.DLQ_STREAM, topology.dlq_subject("image_generation"))
                if tasks_pb2.Job.FromString(last.data).task_id == task.task_id:
                    break
            assert asyncio.get_running_loop().time() < deadline, "no dead letter"
            await asyncio.sleep(0.1)
    assert failed.error.reason == "DELIVERY_EXHAUSTED" and calls == 0
    assert "kept vanishing" in last.headers["Mediatasks-Reason"]


async def test_retryable_failure_then_success(harness):
    registry, nc, settings = harness
    settings = settings.model_copy(update={"retry_schedule_seconds": "0.1"})
    attempts: list[int] = []

    async def second_time_lucky(ctx: JobContext) -> JobResult:
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            raise transient("RATE_LIMITED", "429")
        return done(ctx)

    task = await create(registry, "audio_transcription")
    async with Running(nc, settings, {"audio_transcription": second_time_lucky}):
        finished = await until(registry, task.task_id, lambda t: t.status == tasks_pb2.Task.COMPLETED)
    assert attempts == [1, 2] and finished.attempt == 2


async def test_one_owners_backlog_does_not_starve_another_owner(harness):
    """Owner A queues 15 jobs (5 is the per-owner limit: 10 are held back, waiting their
    turn); owner B then queues one. B's job runs right after the 5 of A's that were already
    in the queue, not after all 15."""
    registry, nc, settings = harness
    order: list[str] = []

    async def record(ctx: JobContext) -> JobResult:
        order.append(ctx.owner)
        await asyncio.sleep(0.02)
        return done(ctx)

    a, b = f"busy-{uuid.uuid4().hex[:6]}", f"quiet-{uuid.uuid4().hex[:6]}"
    backlog = [await create(registry, "video_img2vid", owner=a, wait_turn=True) for _ in range(15)]
    assert sum(1 for t in backlog if t.queued_reason == "owner_concurrency_limit") == 10
    single = await create(registry, "video_img2vid", owner=b)
    # No other test uses this task type: our worker, concurrency 1, is its only consumer,
    # so the order it runs the jobs in is the order of service.
    async with Running(nc, settings, {"video_img2vid": record}):
        await until(registry, single.task_id, lambda t: t.status == tasks_pb2.Task.COMPLETED, timeout=30)
        for task in backlog:
            await until(registry, task.task_id, lambda t: t.status == tasks_pb2.Task.COMPLETED, timeout=30)
    assert order.index(b) <= 5, order


class RegistryBeforeBatches(tasks_pb2_grpc.TaskRegistryServicer):
    """The real registry seen through a registry of the version before the batch calls:
    the single calls reach it, StartAttempts and CompleteTasks answer UNIMPLEMENTED (the
    base servicer's answer), as during a rolling upgrade that has not reached it."""

    def __init__(self, registry) -> None:
        self.registry = registry

    async def _forward(self, method, request, context):
        try:
            return await method(request, metadata=context.invocation_metadata(), timeout=10)
        except grpc.aio.AioRpcError as error:
            await context.abort(error.code(), error.details() or "", trailing_metadata=error.trailing_metadata())

    async def StartAttempt(self, request, context):
        return await self._forward(self.registry.StartAttempt, request, context)

    async def ReportProgress(self, request, context):
        return await self._forward(self.registry.ReportProgress, request, context)

    async def CompleteTask(self, request, context):
        return await self._forward(self.registry.CompleteTask, request, context)

    async def FailTask(self, request, context):
        return await self._forward(self.registry.FailTask, request, context)


async def test_a_worker_runs_its_jobs_on_a_registry_that_predates_the_batch_calls(harness):
    registry, nc, settings = harness
    server = grpc.aio.server()
    tasks_pb2_grpc.add_TaskRegistryServicer_to_server(RegistryBeforeBatches(registry), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        older = settings.model_copy(update={"registry_addr": f"127.0.0.1:{port}"})
        tasks = [await create(registry, "image_generation") for _ in range(6)]

        async def finish(ctx: JobContext) -> JobResult:
            return done(ctx)

        async with Running(nc, older, {"image_generation": finish}, concurrency=4):
            for task in tasks:
                finished = await until(registry, task.task_id, lambda t: t.status == tasks_pb2.Task.COMPLETED)
                assert finished.attempt == 1
    finally:
        await server.stop(None)
