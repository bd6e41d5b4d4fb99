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

    def __init__(self, nc, settings, handlers, concurrency=1, quick_jobs=None):
        self.client = RegistryClient(settings)
        js = nc.jetstream()
        self.worker = Worker(
            settings,
            nc,
            js,
            self.client,
            ArtifactStore(js, settings),
            handlers,
            concurrency=concurrency,
            quick_jobs=quick_jobs,
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


# --- quick jobs: the start rides on the completion ----------------------------------------


def quick(_task: tasks_pb2.Task) -> bool:
    return True


def count_calls(worker: Worker, name: str) -> list[int]:
    """How many times the worker calls the registry's ``name`` (the real call is made)."""
    calls = [0]
    real = getattr(worker.registry.stub, name)

    def counted(request, **kwargs):
        calls[0] += 1
        return real(request, **kwargs)

    setattr(worker.registry.stub, name, counted)
    return calls


async def events_of(nc, task_id: str) -> tuple[list[str], object]:
    seen: list[str] = []

    async def on_event(msg) -> None:
        event = tasks_pb2.TaskEvent.FromString(msg.data)
        if event.task_id == task_id:
            seen.append(event.event_type)

    return seen, await nc.subscribe("mediatasks.events.>", cb=on_event)


async def test_a_quick_job_is_started_by_its_completion(harness):
    registry, nc, settings = harness
    seen: dict[str, object] = {}

    async def finish(ctx: JobContext) -> JobResult:
        seen.update(attempt=ctx.attempt, text=ctx.input(subtitle_pb2.GenerateSubtitlesRequest).text)
        return done(ctx)

    running = Running(nc, settings, {"video_analysis": finish}, quick_jobs={"video_analysis": quick})
    starts = count_calls(running.worker, "StartAttempts")
    task = await create(registry, "video_analysis")
    events, sub = await events_of(nc, task.task_id)
    try:
        async with running:
            final = await until(registry, task.task_id, lambda t: t.status == tasks_pb2.Task.COMPLETED)
            async with asyncio.timeout(10):
                while "task.completed" not in events:
                    await asyncio.sleep(0.02)
    finally:
        await sub.unsubscribe()
    assert starts[0] == 0  # no StartAttempt: the completion carried the start
    given = subtitle_pb2.GenerateSubtitlesRequest()
    task.input.Unpack(given)
    assert seen == {"attempt": 1, "text": given.text}  # the job message's task, as StartAttempt gives it
    assert final.attempt == 1 and final.output.result.Unpack(subtitle_pb2.SubtitleResult())
    created, started, completed = (t.ToDatetime() for t in (final.created_at, final.started_at, final.completed_at))
    assert created <= started <= completed
    assert events[-2:] == ["task.started", "task.completed"]
    logs = await registry.GetTaskLogs(tasks_pb2.GetTaskLogsRequest(task_id=task.task_id), metadata=INTERNAL)
    assert [entry.message for entry in logs.entries if "started attempt 1" in entry.message][0].endswith(
        "recorded with its completion (a quick job)"
    )
    info = await nc.jetstream().consumer_info(topology.JOBS_STREAM, topology.job_consumer("video_analysis", "medium"))
    assert info.num_ack_pending == 0  # acked, not left for a redelivery


async def test_a_quick_job_still_running_after_the_window_starts_like_any_other(harness):
    registry, nc, settings = harness
    release = asyncio.Event()

    async def slower(ctx: JobContext) -> JobResult:
        await release.wait()
        return done(ctx)

    running = Running(nc, settings, {"video_analysis": slower}, quick_jobs={"video_analysis": quick})
    starts = count_calls(running.worker, "StartAttempts")
    task = await create(registry, "video_analysis")
    async with running:
        # Recorded as running while the handler still runs: the start did not wait for it.
        processing = await until(registry, task.task_id, lambda t: t.status == tasks_pb2.Task.PROCESSING)
        release.set()
        final = await until(registry, task.task_id, lambda t: t.status == tasks_pb2.Task.COMPLETED)
    assert starts[0] == 1
    assert processing.attempt == final.attempt == 1


async def test_a_failing_quick_job_is_started_then_failed(harness):
    registry, nc, settings = harness

    async def broken(ctx: JobContext) -> JobResult:
        raise transient("FLAKY", "not this time")

    task = await create(registry, "video_analysis", max_attempts=1)
    async with Running(nc, settings, {"video_analysis": broken}, quick_jobs={"video_analysis": quick}):
        final = await until(registry, task.task_id, lambda t: t.status == tasks_pb2.Task.FAILED)
    assert final.attempt == 1 and final.error.reason == "FLAKY"


async def test_a_quick_job_cancelled_while_it_runs_is_never_completed(harness):
    """Whichever comes first (the cancel, the window's StartAttempt, the completion that
    carries the start), the task ends CANCELLED without the handler's output."""
    registry, nc, settings = harness
    for pause in (0.0, 0.05, 0.3):
        began = asyncio.Event()
        cancelled = asyncio.Event()

        async def waits_for_the_cancel(ctx: JobContext, pause=pause, began=began, cancelled=cancelled) -> JobResult:
            began.set()
            with contextlib.suppress(asyncio.CancelledError):
                await cancelled.wait()
            await asyncio.sleep(pause)
            return done(ctx)

        task = await create(registry, "video_analysis")
        quick_jobs = {"video_analysis": quick}
        async with Running(nc, settings, {"video_analysis": waits_for_the_cancel}, quick_jobs=quick_jobs):
            await asyncio.wait_for(began.wait(), 20)
            await registry.CancelTask(tasks_pb2.CancelTaskRequest(task_id=task.task_id), metadata=INTERNAL)
            cancelled.set()
            await asyncio.sleep(0.5)
            final = await until(registry, task.task_id, lambda t: t.status != tasks_pb2.Task.PROCESSING)
            consumer = topology.job_consumer("video_analysis", "medium")
            async with asyncio.timeout(10):
                while (await nc.jetstream().consumer_info(topology.JOBS_STREAM, consumer)).num_ack_pending:
                    await asyncio.sleep(0.05)
        assert final.status == tasks_pb2.Task.CANCELLED, pause
        assert not final.HasField("output"), pause


async def complete_with_start(registry, task: tasks_pb2.Task, *, attempt=1, delivery_count=1):
    request = tasks_pb2.CompleteTaskRequest(
        task_id=task.task_id,
        attempt=attempt,
        start=tasks_pb2.StartAttemptRequest(task_id=task.task_id, delivery_count=delivery_count, worker_id="w"),
        run_seconds=0.25,
    )
    request.output.result.Pack(subtitle_pb2.SubtitleResult(content="quick"))
    return await registry.CompleteTask(request, metadata=INTERNAL, timeout=10)


async def refusal(call) -> tuple[grpc.StatusCode, str, dict]:
    from grpc_status import rpc_status
    from mediatasks.core.clients import error_from_status

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    error = error_from_status(rpc_status.from_call(refused.value))
    return refused.value.code(), error.reason, error.metadata


async def test_the_registry_starts_and_completes_in_one_call_once(harness):
    registry, _nc, _settings = harness
    task = await create(registry, "image_transform")  # no worker runs this type here
    completed = await complete_with_start(registry, task)
    assert completed.status == tasks_pb2.Task.COMPLETED and completed.attempt == 1
    started_at, completed_at = completed.started_at.ToDatetime(), completed.completed_at.ToDatetime()
    assert 0.2 <= (completed_at - started_at).total_seconds() < 5  # started when the handler began
    again = await complete_with_start(registry, task)  # a retried call: the same answer
    assert again.status == tasks_pb2.Task.COMPLETED and again.completed_at == completed.completed_at


async def test_the_registry_refuses_a_start_with_the_completion_as_start_attempt_would(harness):
    registry, _nc, _settings = harness
    running = await create(registry, "image_transform")
    started = await registry.StartAttempt(
        tasks_pb2.StartAttemptRequest(task_id=running.task_id, delivery_count=1, worker_id="other"),
        metadata=INTERNAL,
    )
    assert started.proceed
    assert await refusal(complete_with_start(registry, running)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "START_REFUSED",
        {"start_reason": "ALREADY_RUNNING"},
    )
    cancelled = await create(registry, "image_transform")
    await registry.CancelTask(tasks_pb2.CancelTaskRequest(task_id=cancelled.task_id), metadata=INTERNAL)
    code, reason, metadata = await refusal(complete_with_start(registry, cancelled))
    assert (reason, metadata) == ("START_REFUSED", {"start_reason": "CANCELLED"})
    queued = await create(registry, "image_transform")
    code, reason, _ = await refusal(complete_with_start(registry, queued, attempt=2))
    assert reason == "STALE_ATTEMPT"  # the start would give attempt 1
    code, reason, _ = await refusal(complete_with_start(registry, queued, delivery_count=2))
    assert code == grpc.StatusCode.INVALID_ARGUMENT  # only a first delivery runs before its start
    left = await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=queued.task_id), metadata=INTERNAL)
    assert left.status == tasks_pb2.Task.QUEUED and left.attempt == 0  # refusals wrote nothing


async def test_a_job_message_carries_its_task_only_when_small(harness):
    registry, nc, _settings = harness
    jobs: dict[str, tasks_pb2.Job] = {}

    async def on_job(msg) -> None:
        job = tasks_pb2.Job.FromString(msg.data)
        jobs[job.task_id] = job

    sub = await nc.subscribe(topology.job_subject("image_transform", "medium"), cb=on_job)
    try:
        small = await create(registry, "image_transform")
        request = tasks_pb2.CreateTaskRequest(task_type="image_transform", owner=f"big-{uuid.uuid4().hex[:6]}")
        request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text="x" * 40_000))
        big = await registry.CreateTask(request, metadata=INTERNAL, timeout=10)
        async with asyncio.timeout(10):
            while small.task_id not in jobs or big.task_id not in jobs:
                await asyncio.sleep(0.02)
    finally:
        await sub.unsubscribe()
    assert jobs[small.task_id].task.input == small.input and jobs[small.task_id].task.attempt == 0
    assert not jobs[big.task_id].HasField("task")


async def test_a_stopped_worker_is_not_counted_live(harness):
    registry, nc, settings = harness

    def live_keys(entries: dict) -> set[str]:
        return {key for key in entries if key.startswith("video_add_audio.")}

    running = Running(nc, settings, {"video_add_audio": lambda ctx: done(ctx)})
    key = f"video_add_audio.{running.worker.worker_id}"
    async with running:
        async with asyncio.timeout(10):
            while key not in live_keys(await topology.kv_entries(nc.jetstream(), topology.WORKERS_BUCKET)):
                await asyncio.sleep(0.05)
    # Gone at once, not when its entry would have expired (WORKERS_TTL_SECONDS).
    assert key not in live_keys(await topology.kv_entries(nc.jetstream(), topology.WORKERS_BUCKET))
