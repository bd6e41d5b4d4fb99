"""Issue 12 item 3 in the registry (real PostgreSQL and JetStream): every state change of
a task writes its task log (queued, started attempt n, retries with the reason, provider
and model, completion or failure, cancellation), events carry the lines written with
them (the live log), and metadata is any JSON object within its limits."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from google.protobuf import json_format
from mediatasks.v1 import common_pb2, subtitle_pb2, tasks_pb2, tasks_pb2_grpc

pytestmark = pytest.mark.asyncio(loop_scope="session")

# No worker of this type runs in these tests, so the test plays the worker without racing one.
UNSERVED_TYPE = "video_caption"


def internal(owner: str = "anonymous") -> tuple[tuple[str, str], ...]:
    return (("x-mediatasks-internal", "test-internal-token"), ("x-mediatasks-owner", owner))


@pytest.fixture(scope="module")
async def registry(registry_service):
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}")
    yield tasks_pb2_grpc.TaskRegistryStub(channel)
    await channel.close()


async def create(registry, owner: str, **options) -> tasks_pb2.Task:
    request = tasks_pb2.CreateTaskRequest(
        task_type=UNSERVED_TYPE,
        owner=owner,
        options=common_pb2.SubmitOptions(**options),
        idempotency_key=uuid.uuid4().hex,
    )
    request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text=uuid.uuid4().hex))
    return await registry.CreateTask(request, metadata=internal(owner), timeout=10)


async def start(registry, task_id: str, delivery: int) -> tasks_pb2.StartAttemptResponse:
    started = await registry.StartAttempt(
        tasks_pb2.StartAttemptRequest(task_id=task_id, delivery_count=delivery, worker_id=f"w-{delivery}"),
        metadata=internal(),
        timeout=10,
    )
    assert started.proceed, started.reason
    return started


async def log_lines(registry, task_id: str, owner: str) -> list[tuple[int, str, str]]:
    answer = await registry.GetTaskLogs(
        tasks_pb2.GetTaskLogsRequest(task_id=task_id), metadata=internal(owner), timeout=10
    )
    return [(entry.attempt, entry.level, entry.message) for entry in answer.entries]


async def events_of(registry, task_id: str, owner: str) -> list[tasks_pb2.TaskEvent]:
    async def collect() -> list[tasks_pb2.TaskEvent]:
        return [
            event
            async for event in registry.WatchTask(
                tasks_pb2.WatchTaskRequest(task_id=task_id), metadata=internal(owner), timeout=20
            )
        ]

    return await asyncio.wait_for(collect(), timeout=25)


async def test_a_retried_then_completed_task_logs_its_whole_lifecycle(registry) -> None:
    owner = f"logs-{uuid.uuid4().hex[:6]}"
    task = await create(registry, owner, priority="high", max_attempts=3)
    first = await start(registry, task.task_id, 1)
    await registry.ReportProgress(
        tasks_pb2.ReportProgressRequest(
            task_id=task.task_id,
            attempt=first.attempt,
            progress=10,
            stage="downloading",
            log_lines=["stage: downloading"],
        ),
        metadata=internal(),
        timeout=10,
    )
    error = common_pb2.TaskError(
        code="UNAVAILABLE", reason="PROVIDER_UNAVAILABLE", message="vendor 503", retryable=True
    )
    failed = await registry.FailTask(
        tasks_pb2.FailTaskRequest(task_id=task.task_id, attempt=first.attempt, error=error),
        metadata=internal(),
        timeout=10,
    )
    assert failed.requeued
    second = await start(registry, task.task_id, 2)
    output = tasks_pb2.TaskOutput(artifacts=[common_pb2.Artifact(artifact_id=str(uuid.uuid4()), role="subtitles")])
    await registry.CompleteTask(
        tasks_pb2.CompleteTaskRequest(
            task_id=task.task_id, attempt=second.attempt, output=output, provider="openai", model="whisper-1"
        ),
        metadata=internal(),
        timeout=10,
    )
    lines = await log_lines(registry, task.task_id, owner)
    messages = [message for _, _, message in lines]
    assert messages[0] == f"created as {UNSERVED_TYPE}"
    assert messages[1] == "queued (high priority, up to 3 attempts)"
    assert messages[2].startswith("started attempt 1 of 3 on worker w-1")
    assert messages[3] == "stage: downloading"
    assert messages[4].startswith("attempt 1 failed (PROVIDER_UNAVAILABLE: vendor 503); retrying in ")
    assert messages[4].endswith("as attempt 2 of 3") and lines[4][1] == "WARNING"
    assert messages[5].startswith("started attempt 2 of 3")
    assert messages[6].startswith("completed attempt 2 in ") and "provider openai, model whisper-1" in messages[6]
    assert messages[6].endswith("1 file produced")
    assert [attempt for attempt, _, _ in lines] == [0, 0, 1, 1, 1, 2, 2]
    # The live log: each event carries the lines written with its change, in order.
    events = await events_of(registry, task.task_id, owner)
    carried = [entry.message for event in events for entry in event.log_entries]
    assert carried == messages
    assert [e.event_type for e in events if e.log_entries] == [
        "task.created",
        "task.started",
        "task.progress",
        "task.retrying",
        "task.started",
        "task.completed",
    ]


async def test_a_permanent_failure_and_a_cancellation_are_logged(registry) -> None:
    owner = f"logs-{uuid.uuid4().hex[:6]}"
    task = await create(registry, owner, max_attempts=2)
    started = await start(registry, task.task_id, 1)
    error = common_pb2.TaskError(code="INVALID_ARGUMENT", reason="UNSUPPORTED_MEDIA", message="no video stream")
    await registry.FailTask(
        tasks_pb2.FailTaskRequest(task_id=task.task_id, attempt=started.attempt, error=error),
        metadata=internal(),
        timeout=10,
    )
    lines = await log_lines(registry, task.task_id, owner)
    assert lines[-1] == (1, "ERROR", "failed on attempt 1 of 2: UNSUPPORTED_MEDIA: no video stream")

    other = await create(registry, owner)
    await start(registry, other.task_id, 1)
    await registry.CancelTask(tasks_pb2.CancelTaskRequest(task_id=other.task_id), metadata=internal(owner))
    lines = await log_lines(registry, other.task_id, owner)
    assert lines[-1][2] == "cancelled by the client during attempt 1 (the worker is told to stop)"


async def test_progress_with_log_lines_is_never_throttled_out_of_the_stream(registry) -> None:
    owner = f"logs-{uuid.uuid4().hex[:6]}"
    task = await create(registry, owner)
    started = await start(registry, task.task_id, 1)
    # Bare progress is evented at most once a second; log lines always are.
    for index in range(5):
        await registry.ReportProgress(
            tasks_pb2.ReportProgressRequest(
                task_id=task.task_id, attempt=started.attempt, progress=index * 10, log_lines=[f"line {index}"]
            ),
            metadata=internal(),
            timeout=10,
        )
    await registry.CancelTask(tasks_pb2.CancelTaskRequest(task_id=task.task_id), metadata=internal(owner))
    events = await events_of(registry, task.task_id, owner)
    live = [event for event in events if event.event_type in ("task.progress", "task.log")]
    assert [entry.message for event in live for entry in event.log_entries] == [f"line {index}" for index in range(5)]
    # Progress events keep their one-a-second rate; the lines between them are task.log.
    assert sum(event.event_type == "task.progress" for event in live) <= 1
    assert sum(event.event_type == "task.log" for event in live) >= 4


async def test_metadata_is_any_json_object_within_limits(registry) -> None:
    owner = f"meta-{uuid.uuid4().hex[:6]}"
    nested = {"user": {"id": 7, "roles": ["a", {"b": None}]}, "ratio": 1.5, "ok": True}
    options = common_pb2.SubmitOptions()
    options.metadata.update(nested)
    task = await create(registry, owner, metadata=options.metadata)
    got = await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=task.task_id), metadata=internal(owner))
    assert json_format.MessageToDict(got.metadata) == nested
    deep = common_pb2.SubmitOptions()
    deep.metadata.update({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": "too deep"}}}}}}}}})
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await create(registry, owner, metadata=deep.metadata)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "MEDIATASKS_METADATA_MAX_DEPTH" in (refused.value.details() or "")


async def test_the_last_log_lines_ride_on_the_completion_and_its_event(registry) -> None:
    owner = f"logs-{uuid.uuid4().hex[:6]}"
    task = await create(registry, owner)
    started = await start(registry, task.task_id, 1)
    request = tasks_pb2.CompleteTaskRequest(
        task_id=task.task_id, attempt=started.attempt, log_lines=["wrote 12 cues", "x" * 5000]
    )
    await registry.CompleteTask(request, metadata=internal(), timeout=10)
    await registry.CompleteTask(request, metadata=internal(), timeout=10)  # a retried call writes nothing
    lines = await log_lines(registry, task.task_id, owner)
    assert [message for _, _, message in lines[-3:-1]] == ["wrote 12 cues", "x" * 4000]  # one line's limit
    assert lines[-1][2].startswith("completed attempt 1 in ") and len(lines) == 6
    events = await events_of(registry, task.task_id, owner)
    assert [event.event_type for event in events][-1] == "task.completed"
    assert [entry.message for entry in events[-1].log_entries] == [message for _, _, message in lines[-3:]]


async def test_a_repeated_submit_writes_its_lines_and_events_once(registry) -> None:
    owner = f"logs-{uuid.uuid4().hex[:6]}"
    request = tasks_pb2.CreateTaskRequest(task_type=UNSERVED_TYPE, owner=owner, idempotency_key=uuid.uuid4().hex)
    request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text="same"))
    first, again = await asyncio.gather(
        *(registry.CreateTask(request, metadata=internal(owner), timeout=10) for _ in range(2))
    )
    assert first.task_id == again.task_id
    assert [message for _, _, message in await log_lines(registry, first.task_id, owner)] == [
        f"created as {UNSERVED_TYPE}",
        "queued (medium priority, up to 3 attempts)",
    ]
    await registry.CancelTask(tasks_pb2.CancelTaskRequest(task_id=first.task_id), metadata=internal(owner))
    events = await events_of(registry, first.task_id, owner)
    assert [event.event_type for event in events] == ["task.created", "task.cancelled"]
