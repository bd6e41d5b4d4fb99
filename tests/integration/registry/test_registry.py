"""The task registry over gRPC against real PostgreSQL and JetStream: fencing, limits,
idempotency, listing, expiry, dead letters."""

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


def internal(owner: str = "anonymous"):
    return (("x-mediatasks-internal", "test-internal-token"), ("x-mediatasks-owner", owner))


def reason_of(error: grpc.aio.AioRpcError) -> str:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            info = error_details_pb2.ErrorInfo()
            status.details[0].Unpack(info)
            return info.reason
    return ""


async def create(registry, owner: str, *, task_type="video_caption", **options) -> tasks_pb2.Task:
    """A task of a type no worker serves in these tests, so it stays where we put it."""
    request = tasks_pb2.CreateTaskRequest(task_type=task_type, owner=owner, options=common_pb2.SubmitOptions(**options))
    request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text=uuid.uuid4().hex))
    return await registry.CreateTask(request, metadata=internal(owner), timeout=10)


async def test_stale_attempt_is_fenced(registry):
    owner = f"fence-{uuid.uuid4().hex[:6]}"
    task = await create(registry, owner)
    first = await registry.StartAttempt(
        tasks_pb2.StartAttemptRequest(task_id=task.task_id, delivery_count=1), metadata=internal(), timeout=10
    )
    assert first.proceed and first.attempt == 1
    # The first worker goes silent; JetStream redelivers; a second worker starts attempt 2.
    second = await registry.StartAttempt(
        tasks_pb2.StartAttemptRequest(task_id=task.task_id, delivery_count=2), metadata=internal(), timeout=10
    )
    assert second.proceed and second.attempt == 2
    stale = tasks_pb2.CompleteTaskRequest(task_id=task.task_id, attempt=1)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await registry.CompleteTask(stale, metadata=internal(), timeout=10)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(refused.value) == "STALE_ATTEMPT"
    with pytest.raises(grpc.aio.AioRpcError):
        await registry.ReportProgress(
            tasks_pb2.ReportProgressRequest(task_id=task.task_id, attempt=1, progress=50),
            metadata=internal(),
            timeout=10,
        )
    done = await registry.CompleteTask(
        tasks_pb2.CompleteTaskRequest(task_id=task.task_id, attempt=2), metadata=internal(), timeout=10
    )
    assert done.status == tasks_pb2.Task.COMPLETED
    again = await registry.CompleteTask(
        tasks_pb2.CompleteTaskRequest(task_id=task.task_id, attempt=2), metadata=internal(), timeout=10
    )
    assert again.completed_at == done.completed_at  # a retried RPC, not a second completion
    with pytest.raises(grpc.aio.AioRpcError):
        await registry.FailTask(
            tasks_pb2.FailTaskRequest(task_id=task.task_id, attempt=1, error=common_pb2.TaskError(reason="X")),
            metadata=internal(),
            timeout=10,
        )


async def test_cancelled_task_never_completes(registry):
    owner = f"cancel-{uuid.uuid4().hex[:6]}"
    task = await create(registry, owner)
    started = await registry.StartAttempt(
        tasks_pb2.StartAttemptRequest(task_id=task.task_id, delivery_count=1), metadata=internal(), timeout=10
    )
    cancelled = await registry.CancelTask(tasks_pb2.CancelTaskRequest(task_id=task.task_id), metadata=internal(owner))
    assert cancelled.status == tasks_pb2.Task.CANCELLED
    progress = await registry.ReportProgress(
        tasks_pb2.ReportProgressRequest(task_id=task.task_id, attempt=started.attempt, progress=10),
        metadata=internal(),
        timeout=10,
    )
    assert progress.cancel_requested
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await registry.CompleteTask(
            tasks_pb2.CompleteTaskRequest(task_id=task.task_id, attempt=started.attempt),
            metadata=internal(),
            timeout=10,
        )
    assert reason_of(refused.value) == "TASK_CANCELLED"
    after = await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=task.task_id), metadata=internal(owner))
    assert after.status == tasks_pb2.Task.CANCELLED


async def test_retryable_failure_requeues_with_backoff_then_fails(registry):
    owner = f"retry-{uuid.uuid4().hex[:6]}"
    task = await create(registry, owner, max_attempts=2)
    error = common_pb2.TaskError(code="UNAVAILABLE", reason="RATE_LIMITED", message="429", retryable=True)
    start = await registry.StartAttempt(
        tasks_pb2.StartAttemptRequest(task_id=task.task_id, delivery_count=1), metadata=internal()
    )
    first = await registry.FailTask(
        tasks_pb2.FailTaskRequest(task_id=task.task_id, attempt=start.attempt, error=error), metadata=internal()
    )
    assert first.requeued and first.retry_delay_seconds > 0
    assert first.task.status == tasks_pb2.Task.QUEUED and first.task.HasField("next_attempt_at")
    start = await registry.StartAttempt(
        tasks_pb2.StartAttemptRequest(task_id=task.task_id, delivery_count=2), metadata=internal()
    )
    assert start.attempt == 2
    last = await registry.FailTask(
        tasks_pb2.FailTaskRequest(task_id=task.task_id, attempt=2, error=error), metadata=internal()
    )
    assert not last.requeued and last.task.status == tasks_pb2.Task.FAILED
    assert last.task.error.reason == "RATE_LIMITED"
    retried = await registry.RetryTask(tasks_pb2.RetryTaskRequest(task_id=task.task_id), metadata=internal(owner))
    assert retried.status == tasks_pb2.Task.QUEUED


async def test_permanent_failure_is_not_retried(registry):
    task = await create(registry, f"perm-{uuid.uuid4().hex[:6]}", max_attempts=3)
    start = await registry.StartAttempt(
        tasks_pb2.StartAttemptRequest(task_id=task.task_id, delivery_count=1), metadata=internal()
    )
    error = common_pb2.TaskError(code="INVALID_ARGUMENT", reason="UNSUPPORTED_MEDIA", message="bad", retryable=False)
    response = await registry.FailTask(
        tasks_pb2.FailTaskRequest(task_id=task.task_id, attempt=start.attempt, error=error), metadata=internal()
    )
    assert not response.requeued and response.task.status == tasks_pb2.Task.FAILED


async def test_owner_concurrency_limit_and_wait_turn(registry):
    owner = f"limit-{uuid.uuid4().hex[:6]}"
    tasks = [await create(registry, owner) for _ in range(5)]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await create(registry, owner)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reason_of(refused.value) == "CONCURRENCY_LIMIT"
    held = await create(registry, owner, wait_turn=True)
    assert held.status == tasks_pb2.Task.QUEUED and held.queued_reason == "owner_concurrency_limit"
    # One of the owner's tasks ends: the held one is released into the queue.
    await registry.CancelTask(tasks_pb2.CancelTaskRequest(task_id=tasks[0].task_id), metadata=internal(owner))
    released = await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=held.task_id), metadata=internal(owner))
    assert released.queued_reason == "" and released.status == tasks_pb2.Task.QUEUED
    other = await create(registry, f"other-{uuid.uuid4().hex[:6]}")
    assert other.status == tasks_pb2.Task.QUEUED  # another owner is not affected


async def test_idempotency_key(registry):
    owner = f"idem-{uuid.uuid4().hex[:6]}"
    request = tasks_pb2.CreateTaskRequest(task_type="video_caption", owner=owner, idempotency_key="k1")
    request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text="same"))
    first = await registry.CreateTask(request, metadata=internal(owner))
    second = await registry.CreateTask(request, metadata=internal(owner))
    assert first.task_id == second.task_id
    request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text="different"))
    with pytest.raises(grpc.aio.AioRpcError) as conflict:
        await registry.CreateTask(request, metadata=internal(owner))
    assert conflict.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert reason_of(conflict.value) == "IDEMPOTENCY_KEY_REUSED"


async def test_list_paging_filters_and_tenancy(registry):
    owner = f"list-{uuid.uuid4().hex[:6]}"
    created = [await create(registry, owner, wait_turn=True) for _ in range(7)]
    page = await registry.ListTasks(tasks_pb2.ListTasksRequest(limit=3), metadata=internal(owner))
    assert page.total == 7 and len(page.items) == 3 and page.next_page_token
    seen = [t.task_id for t in page.items]
    while page.next_page_token:
        page = await registry.ListTasks(
            tasks_pb2.ListTasksRequest(limit=3, page_token=page.next_page_token), metadata=internal(owner)
        )
        seen += [t.task_id for t in page.items]
    assert sorted(seen) == sorted(t.task_id for t in created)
    assert seen == [t.task_id for t in reversed(created)]  # newest first
    offset = await registry.ListTasks(tasks_pb2.ListTasksRequest(limit=2, offset=5), metadata=internal(owner))
    assert [t.task_id for t in offset.items] == seen[5:7]
    filtered = await registry.ListTasks(tasks_pb2.ListTasksRequest(status="completed"), metadata=internal(owner))
    assert filtered.total == 0
    stranger = await registry.ListTasks(tasks_pb2.ListTasksRequest(), metadata=internal("stranger"))
    assert all(t.owner == "stranger" for t in stranger.items)
    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=created[0].task_id), metadata=internal("stranger"))
    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await registry.ListTasks(tasks_pb2.ListTasksRequest(sort="sideways"), metadata=internal(owner))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_queued_task_without_worker_says_so(registry):
    owner = f"wait-{uuid.uuid4().hex[:6]}"
    task = await create(registry, owner, task_type="image_transform")
    seen = await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=task.task_id), metadata=internal(owner))
    assert seen.stage == "waiting_for_worker"
    assert seen.queue_position >= 1


async def test_worker_calls_need_internal_credentials(registry, api_key):
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await registry.StartAttempt(
            tasks_pb2.StartAttemptRequest(task_id=str(uuid.uuid4())), metadata=(("x-api-key", api_key),)
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as unauthenticated:
        await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=str(uuid.uuid4())))
    assert unauthenticated.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_dead_lettered_task_listed_and_requeued(registry):
    owner = f"dlq-{uuid.uuid4().hex[:6]}"
    task = await create(registry, owner)
    error = common_pb2.TaskError(code="ABORTED", reason="DELIVERY_EXHAUSTED", message="delivered 6 times")
    failed = await registry.FailTask(
        tasks_pb2.FailTaskRequest(task_id=task.task_id, attempt=0, error=error), metadata=internal()
    )
    assert failed.task.status == tasks_pb2.Task.FAILED and failed.task.error.reason == "DELIVERY_EXHAUSTED"
    letters = await registry.ListDeadLetters(tasks_pb2.ListDeadLettersRequest(), metadata=internal(owner))
    assert [item.task_id for item in letters.items] == [task.task_id]
    requeued = await registry.RequeueDeadLetter(
        tasks_pb2.RequeueDeadLetterRequest(task_id=task.task_id), metadata=internal(owner)
    )
    assert requeued.status == tasks_pb2.Task.QUEUED
    letters = await registry.ListDeadLetters(tasks_pb2.ListDeadLettersRequest(), metadata=internal(owner))
    assert not letters.items


async def test_start_attempt_retried_by_the_same_worker_gets_the_same_attempt(registry):
    """A StartAttempt whose answer was lost is retried: the same worker and delivery get the
    same attempt back (not a refusal that would ack the job away and strand the task)."""
    task = await create(registry, f"claim-{uuid.uuid4().hex[:6]}")
    request = tasks_pb2.StartAttemptRequest(task_id=task.task_id, delivery_count=1, worker_id="w-1")
    first = await registry.StartAttempt(request, metadata=internal())
    again = await registry.StartAttempt(request, metadata=internal())
    assert first.proceed and again.proceed and again.attempt == first.attempt == 1
    duplicate = await registry.StartAttempt(
        tasks_pb2.StartAttemptRequest(task_id=task.task_id, delivery_count=1, worker_id="w-2"), metadata=internal()
    )
    assert not duplicate.proceed and duplicate.reason == "ALREADY_RUNNING"


async def test_service_limits_each_owners_request_rate(stack_settings, api_key, other_api_key):
    """gRPC callers that bypass the gateway are limited per owner by the service itself."""
    from mediatasks.registry.service import start_registry

    limited = await start_registry(stack_settings.model_copy(update={"owner_rate_limit_per_second": 2.0}))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{limited.port}")
    try:
        stub = tasks_pb2_grpc.TaskRegistryStub(channel)
        request = tasks_pb2.ListTasksRequest(limit=1)
        for _ in range(4):  # the burst
            await stub.ListTasks(request, metadata=(("x-api-key", api_key),), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListTasks(request, metadata=(("x-api-key", api_key),), timeout=5)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert reason_of(refused.value) == "RATE_LIMITED"
        await stub.ListTasks(request, metadata=(("x-api-key", other_api_key),), timeout=5)
        # Internal calls (services, workers) are never limited.
        for _ in range(10):
            await stub.ListTasks(request, metadata=internal("alice"), timeout=5)
    finally:
        await channel.close()
        await limited.stop()


async def test_batched_starts_and_completions_are_each_recorded_and_let_held_tasks_in(registry):
    """StartAttempts and CompleteTasks: one call for many, each answered on its own; the
    completions of one shared transaction are one write that lets in as many of the
    owner's held tasks as it ended, and stores their results for the cache."""
    owner = f"batch-{uuid.uuid4().hex[:6]}"
    texts = [f"batched {uuid.uuid4().hex}" for _ in range(5)]
    tasks = []
    for text_ in texts:
        request = tasks_pb2.CreateTaskRequest(task_type="video_caption", owner=owner, cache_key=text_)
        request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text=text_))
        tasks.append(await registry.CreateTask(request, metadata=internal(owner), timeout=10))
    held = [await create(registry, owner, wait_turn=True) for _ in range(3)]
    assert all(task.queued_reason == "owner_concurrency_limit" for task in held)

    starts = await registry.StartAttempts(
        tasks_pb2.StartAttemptsRequest(
            attempts=[tasks_pb2.StartAttemptRequest(task_id=t.task_id, delivery_count=1, worker_id="w") for t in tasks]
            + [tasks_pb2.StartAttemptRequest(task_id=str(uuid.uuid4()), delivery_count=1)]
        ),
        metadata=internal(),
        timeout=10,
    )
    assert [(s.proceed, s.attempt, s.task.task_id) for s in starts.attempts[:5]] == [
        (True, 1, t.task_id) for t in tasks
    ]
    assert not starts.attempts[5].proceed and starts.attempts[5].reason == "UNKNOWN_TASK"

    completions = [
        tasks_pb2.CompleteTaskRequest(
            task_id=t.task_id, attempt=1, provider="local", log_lines=[f"line of {t.task_id}"]
        )
        for t in tasks
    ]
    stale = tasks_pb2.CompleteTaskRequest(task_id=tasks[0].task_id, attempt=7)
    answer = await registry.CompleteTasks(
        tasks_pb2.CompleteTasksRequest(completions=[*completions, stale]), metadata=internal(), timeout=10
    )
    assert [status.code for status in answer.results[:5]] == [0] * 5
    refusal = answer.results[5]
    assert refusal.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    info = error_details_pb2.ErrorInfo()
    assert refusal.details[0].Unpack(info) and info.reason == "STALE_ATTEMPT"
    # Sent again (a lost answer): each completion is recorded once, and answered alike.
    again = await registry.CompleteTasks(
        tasks_pb2.CompleteTasksRequest(completions=completions), metadata=internal(), timeout=10
    )
    assert [status.code for status in again.results] == [0] * 5

    for task in tasks:
        done = await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=task.task_id), metadata=internal(owner))
        assert done.status == tasks_pb2.Task.COMPLETED and done.progress == 100 and done.provider == "local"
        logs = await registry.GetTaskLogs(tasks_pb2.GetTaskLogsRequest(task_id=task.task_id), metadata=internal(owner))
        messages = [entry.message for entry in logs.entries]
        assert f"line of {task.task_id}" in messages
        assert sum(message.startswith("completed attempt 1") for message in messages) == 1
    for task in held:  # five ended, three were held: all three let in
        released = await registry.GetTask(tasks_pb2.GetTaskRequest(task_id=task.task_id), metadata=internal(owner))
        assert released.status == tasks_pb2.Task.QUEUED and released.queued_reason == ""
    # Their results went to the cache: the same input again is answered from it.
    request = tasks_pb2.CreateTaskRequest(task_type="video_caption", owner=owner, cache_key=texts[3])
    request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text=texts[3]))
    cached = await registry.CreateTask(request, metadata=internal(owner), timeout=10)
    assert cached.cache_hit and cached.status == tasks_pb2.Task.COMPLETED


async def test_a_batch_over_the_limit_is_refused_whole(registry):
    too_many = [tasks_pb2.StartAttemptRequest(task_id=str(uuid.uuid4()), delivery_count=1) for _ in range(51)]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await registry.StartAttempts(tasks_pb2.StartAttemptsRequest(attempts=too_many), metadata=internal(), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as outsider:
        await registry.CompleteTasks(tasks_pb2.CompleteTasksRequest(), timeout=10)
    assert outsider.value.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)


async def test_batched_creates_are_each_created_or_refused_on_their_own(registry):
    owner = f"creates-{uuid.uuid4().hex[:6]}"
    full = f"full-{uuid.uuid4().hex[:6]}"
    for _ in range(5):
        await create(registry, full)  # at its limit of 5

    def submission(task_owner: str, *, task_type: str = "video_caption", key: str = "", origin: str = ""):
        request = tasks_pb2.CreateTaskRequest(task_type=task_type, owner=task_owner, idempotency_key=key)
        request.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text=uuid.uuid4().hex))
        return tasks_pb2.TaskSubmission(task=request, origin=origin)

    batch = [
        submission(owner, key="first", origin="https://media.example"),
        submission(full),
        submission(owner, task_type="no_such_type"),
        submission(owner, key="second"),
    ]
    answer = await registry.CreateTasks(
        tasks_pb2.CreateTasksRequest(submissions=batch), metadata=internal(), timeout=10
    )
    first, limited, unknown, second = answer.results
    assert first.error.code == 0 and first.task.status == tasks_pb2.Task.QUEUED and first.task.owner == owner
    assert second.error.code == 0 and second.task.task_id != first.task.task_id
    assert limited.error.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0] and not limited.HasField("task")
    info = error_details_pb2.ErrorInfo()
    assert limited.error.details[0].Unpack(info) and info.reason == "CONCURRENCY_LIMIT"
    assert unknown.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert unknown.error.details[0].Unpack(info) and info.reason == "INVALID_INPUT"
    # Sent again (its answer lost): the keyed submits answer with their tasks, no twins.
    again = await registry.CreateTasks(
        tasks_pb2.CreateTasksRequest(submissions=[batch[0], batch[3]]), metadata=internal(), timeout=10
    )
    assert [result.task.task_id for result in again.results] == [first.task.task_id, second.task.task_id]
    listed = await registry.ListTasks(tasks_pb2.ListTasksRequest(), metadata=internal(owner))
    assert listed.total == 2
