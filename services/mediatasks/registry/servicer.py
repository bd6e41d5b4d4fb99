"""TaskRegistry: the gRPC face of the task store."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time

import grpc
from google.protobuf import json_format
from google.rpc import status_pb2
from nats.js.api import ConsumerConfig, DeliverPolicy
from sqlalchemy import text

from mediatasks.core import metrics, topology
from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.auth import ALL_OWNERS, Principal, caller, current_principal
from mediatasks.core.catalog import submit_rpc
from mediatasks.core.clients import ANSWER_ALONE, BATCH_PATIENCE_SECONDS, REGISTRY_BATCH_LIMIT, InternalChannel
from mediatasks.core.coalescing import answered_within
from mediatasks.core.errors import MediaTasksError, invalid_input
from mediatasks.core.server import error_status, request_headers, request_origin, set_http_status
from mediatasks.core.settings import Settings
from mediatasks.core.submit import ORIGIN_HEADERS
from mediatasks.registry.convert import ACTIVE, task_to_proto, timestamp, utcnow
from mediatasks.registry.links import DownloadLinks
from mediatasks.registry.live_workers import LiveWorkers
from mediatasks.registry.outbox import OutboxRelay
from mediatasks.registry.store import TaskStore, parse_task_id, task_error, total_capped
from mediatasks.v1 import tasks_pb2, tasks_pb2_grpc

log = logging.getLogger(__name__)

_TERMINAL_EVENTS = frozenset({"task.completed", "task.failed", "task.cancelled"})
_PROGRESS_EVENT_INTERVAL = 1.0
_BATCH_LIMIT = 50
# Set on a ListTasks answer whose total is the count cap, not the exact count.
TOTAL_CAPPED_HEADER = "x-total-capped"


def _owner_scope(principal: Principal) -> str | None:
    """Owner filter for reads: only an internal call that names every owner (``*``)
    sees every task; a missing or empty owner never widens what a caller sees."""
    if principal.internal and principal.owner == ALL_OWNERS:
        return None
    return principal.owner


# A batched request still running when its call answers: the caller sends it alone.
_ALONE_STATUS = error_status(
    MediaTasksError(grpc.StatusCode.UNAVAILABLE, ANSWER_ALONE, "still running: send this request alone")
)


def _check_batch(size: int, field: str) -> None:
    if size > REGISTRY_BATCH_LIMIT:
        raise invalid_input(f"at most {REGISTRY_BATCH_LIMIT} {field} a call, not {size}", field=field)


def _require_internal(principal: Principal) -> None:
    if not principal.internal:
        raise MediaTasksError(
            grpc.StatusCode.PERMISSION_DENIED, "INTERNAL_ONLY", "this call is for mediatasks services only"
        )


class TaskRegistryServicer(tasks_pb2_grpc.TaskRegistryServicer):
    def __init__(
        self,
        store: TaskStore,
        relay: OutboxRelay,
        settings: Settings,
        nc,
        js,
        webhooks,
        artifacts: ArtifactStore,
        links: DownloadLinks,
    ) -> None:
        self.artifacts = artifacts
        self.links = links
        self.store = store
        self.webhooks = webhooks
        self.relay = relay
        self.settings = settings
        self.nc = nc
        self.js = js
        self.workers = LiveWorkers(js)
        self._last_progress_event: dict[str, float] = {}
        self._media_channels: dict[str, InternalChannel] = {}
        self._sweeps: set[asyncio.Task] = set()

    def _base(self, context) -> str:
        """Where download links point: the configured public origin, else the gateway
        origin the request came through (forwarded by Envoy, or by a media service)."""
        return self.links.base_url(request_origin(context))

    async def _decorate(self, task: tasks_pb2.Task) -> tasks_pb2.Task:
        """Honest waiting: the stage of a queued task whose type has no live worker, and
        an estimated completion from recent durations."""
        if task.status == tasks_pb2.Task.QUEUED:
            live = await self.workers.counts()
            if not live.get(task.task_type) and task.stage == "queued":
                task.stage = "waiting_for_worker"
            mean = await self.store.mean_duration(task.task_type)
            if mean:
                per_slot = max(1, live.get(task.task_type, 0) * self.settings.worker_concurrency)
                eta = utcnow() + dt.timedelta(seconds=mean * (task.queue_position / per_slot + 1))
                task.estimated_completion.CopyFrom(timestamp(eta))
        elif task.status == tasks_pb2.Task.PROCESSING and task.HasField("started_at"):
            mean = await self.store.mean_duration(task.task_type)
            if mean:
                started = task.started_at.ToDatetime(dt.UTC)
                task.estimated_completion.CopyFrom(timestamp(started + dt.timedelta(seconds=mean)))
        return task

    # --- creation -------------------------------------------------------------------

    async def CreateTask(self, request, context):
        _require_internal(caller())
        return await self._create(request, request_origin(context))

    async def CreateTasks(self, request, context):
        _require_internal(caller())
        _check_batch(len(request.submissions), "submissions")

        async def one(submission: tasks_pb2.TaskSubmission) -> tasks_pb2.TaskSubmissionResult:
            try:
                task = await self._create(submission.task, submission.origin)
            except MediaTasksError as refusal:
                # Each refusal is its submit's own (a full owner limit, a full queue); an
                # outage is not a MediaTasksError here and fails the whole call.
                return tasks_pb2.TaskSubmissionResult(error=error_status(refusal), http_status=refusal.http_status or 0)
            return tasks_pb2.TaskSubmissionResult(task=task)

        answers = await answered_within([one(submission) for submission in request.submissions], BATCH_PATIENCE_SECONDS)
        return tasks_pb2.CreateTasksResponse(
            results=[
                tasks_pb2.TaskSubmissionResult(error=_ALONE_STATUS) if answer is None else answer for answer in answers
            ]
        )

    async def _create(self, request: tasks_pb2.CreateTaskRequest, origin: str) -> tasks_pb2.Task:
        """Create the task; ``origin``: where its submit came to (the answer's and the
        webhook's download links point there unless a public base URL is set)."""
        # The store hands each commit's outbox rows to the relay (see .handoff).
        task, _ = await self.store.create(request, origin)
        metrics.TASK_TRANSITIONS.labels(task.task_type, tasks_pb2.Task.Status.Name(task.status), task.provider).inc()
        # A cache hit answers with its output at once.
        return await self.links.fill_task(task, self.links.base_url(origin))

    def _media_channel(self, service: str) -> InternalChannel:
        if service not in self._media_channels:
            self._media_channels[service] = InternalChannel(self.settings, self.settings.service_addr(service))
        return self._media_channels[service]

    async def BatchCreate(self, request, context):
        principal = caller()
        if not 1 <= len(request.tasks) <= _BATCH_LIMIT:
            raise invalid_input(f"a batch holds 1 to {_BATCH_LIMIT} tasks", field="tasks")
        response = tasks_pb2.BatchCreateResponse()
        headers = request_headers(context)
        forwarded = tuple((name, headers[name]) for name in ORIGIN_HEADERS if headers.get(name))

        async def one(index: int, item: tasks_pb2.BatchItem) -> tasks_pb2.BatchItemResult:
            result = tasks_pb2.BatchItemResult(index=index)
            try:
                service, stub_class, method, request_class = submit_rpc(item.task_type)
                body = json_format.MessageToDict(item.input_data)
                if item.priority:
                    body["priority"] = item.priority
                # A batch never refuses an item for the owner's concurrency limit: items
                # past it are accepted and wait their turn, in batch order.
                body["wait_turn"] = True
                try:
                    typed = json_format.ParseDict(body, request_class())
                except json_format.ParseError as exc:
                    raise invalid_input(f"tasks[{index}].input_data: {exc}") from None
                channel = self._media_channel(service)
                stub = stub_class(channel.channel)
                # The gateway's forwarded origin goes along, for absolute download links.
                task = await channel.call(getattr(stub, method), typed, owner=principal.owner, extra_metadata=forwarded)
                result.task.CopyFrom(task)
            except MediaTasksError as error:
                result.error.CopyFrom(task_error(error.code.name, error.reason, error.message))
            return result

        # One after another, so held items queue in the order the client gave them.
        for index, item in enumerate(request.tasks):
            response.results.append(await one(index, item))
        return response

    # --- reads ----------------------------------------------------------------------

    async def GetTask(self, request, context):
        task = await self.store.get(request.task_id, _owner_scope(caller()))
        await self.links.fill_task(task, self._base(context))
        return await self._decorate(task)

    async def ListTasks(self, request, context):
        response = await self.store.list(_owner_scope(caller()), request)
        if total_capped(response):
            # Envoy passes initial metadata on as a response header of the same name.
            await context.send_initial_metadata(((TOTAL_CAPPED_HEADER, "true"),))
        base = self._base(context)
        for task in response.items:
            await self.links.fill_task(task, base)
        return response

    async def GetTaskResult(self, request, context):
        task = await self.store.get(request.task_id, _owner_scope(caller()))
        response = tasks_pb2.GetTaskResultResponse(
            task_id=task.task_id, status=task.status, progress=task.progress, stage=task.stage
        )
        if task.status == tasks_pb2.Task.COMPLETED:
            await self.links.fill_output(task.output, self._base(context))
            response.result.CopyFrom(task.output)
        elif task.HasField("error"):
            response.error.CopyFrom(task.error)
        if task.status in (tasks_pb2.Task.QUEUED, tasks_pb2.Task.PROCESSING):
            response.task.CopyFrom(await self._decorate(task))
            await set_http_status(context, 202)
        return response

    async def WaitTask(self, request, context):
        timeout = request.timeout_seconds or 30.0
        if not 0 < timeout <= 60:
            raise invalid_input("timeout_seconds must be between 0 and 60", field="timeout_seconds")
        task = await self.wait_for_end(request.task_id, _owner_scope(caller()), timeout)
        return await self.links.fill_task(task, self._base(context))

    async def wait_for_end(self, task_id: str, owner: str | None, timeout: float) -> tasks_pb2.Task:
        # The id becomes a NATS subject: anything but a task id (a wildcard, a dot) is an
        # unknown task, never a subscription to other tasks' events.
        task_id = str(parse_task_id(task_id))
        ended = asyncio.Event()

        async def on_event(msg) -> None:
            event = tasks_pb2.TaskEvent.FromString(msg.data)
            if event.event_type in _TERMINAL_EVENTS:
                ended.set()

        # Subscribe before reading, so an end between the read and the wait is not missed.
        sub = await self.nc.subscribe(topology.event_subject(task_id), cb=on_event)
        try:
            task = await self.store.get(task_id, owner)
            if task.status in (tasks_pb2.Task.QUEUED, tasks_pb2.Task.PROCESSING):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), timeout=timeout)
                task = await self.store.get(task_id, owner)
        finally:
            await sub.unsubscribe()
        return await self._decorate(task)

    async def WatchTask(self, request, context):
        owner = _owner_scope(caller())
        task = await self.store.get(request.task_id, owner)
        after = request.after_sequence
        for key, value in context.invocation_metadata() or ():
            if key == "last-event-id" and value.strip().isdigit():
                after = int(value.strip())
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if after else DeliverPolicy.ALL,
            opt_start_seq=after + 1 if after else None,
        )
        base = self._base(context)
        sub = await self.js.subscribe(
            topology.event_subject(task.task_id), ordered_consumer=True, config=config, stream=topology.EVENTS_STREAM
        )
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=1.0)
                except TimeoutError:
                    # No event for a while: if the task has ended and we have streamed
                    # everything, the stream is complete.
                    current = await self.store.get(task.task_id, owner)
                    pending = sub.pending_msgs if hasattr(sub, "pending_msgs") else 0
                    if current.status not in (tasks_pb2.Task.QUEUED, tasks_pb2.Task.PROCESSING) and not pending:
                        return
                    continue
                event = tasks_pb2.TaskEvent.FromString(msg.data)
                event.sequence = msg.metadata.sequence.stream
                await self.links.fill_task(event.task, base)
                yield event
                if event.event_type in _TERMINAL_EVENTS:
                    return
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def GetTaskLogs(self, request, context):
        rows = await self.store.logs(request.task_id, _owner_scope(caller()), request.limit)
        response = tasks_pb2.GetTaskLogsResponse()
        for row in rows:
            entry = response.entries.add(level=row.level, message=row.message, attempt=row.attempt)
            entry.timestamp.CopyFrom(timestamp(row.ts))
        return response

    async def GetStatistics(self, request, context):
        window = request.window_seconds or 86400.0
        if window <= 0:
            raise invalid_input("window_seconds must be positive", field="window_seconds")
        return await self.store.statistics(_owner_scope(caller()), window)

    # --- client actions -------------------------------------------------------------

    async def CancelTask(self, request, context):
        task, running = await self.store.cancel(request.task_id, _owner_scope(caller()), request.reason)
        if running:
            # Core NATS: only the worker running the task listens; ReportProgress also
            # answers cancel_requested, in case this message is missed.
            await self.nc.publish(topology.cancel_subject(task.task_id), b"cancel")
        metrics.TASK_TRANSITIONS.labels(task.task_type, "CANCELLED", task.provider).inc()
        return task

    async def DeleteTask(self, request, context):
        owner = _owner_scope(caller())
        row = await self.store.get_row(request.task_id, owner)
        if row.status in ACTIVE:
            return await self.CancelTask(tasks_pb2.CancelTaskRequest(task_id=request.task_id), context)
        task, artifact_ids = await self.store.delete(request.task_id, owner)
        if artifact_ids:
            await self.artifacts.delete_many(artifact_ids)
        return task

    async def RetryTask(self, request, context):
        task = await self.store.retry(request.task_id, _owner_scope(caller()))
        return task

    # --- dead letters ---------------------------------------------------------------

    async def ListDeadLetters(self, request, context):
        rows = await self.store.dead_letters(_owner_scope(caller()), request.task_type, request.limit)
        response = tasks_pb2.ListDeadLettersResponse()
        for row in rows:
            task = task_to_proto(row, include_input=False)
            item = response.items.add(
                task_id=task.task_id, task_type=task.task_type, reason=task.error.message, deliveries=row.attempt
            )
            item.dead_lettered_at.CopyFrom(timestamp(row.dead_lettered_at))
        return response

    async def RequeueDeadLetter(self, request, context):
        return await self.RetryTask(tasks_pb2.RetryTaskRequest(task_id=request.task_id), context)

    # --- worker side ----------------------------------------------------------------

    async def StartAttempt(self, request, context):
        _require_internal(caller())
        return await self._start_attempt(request)

    async def StartAttempts(self, request, context):
        _require_internal(caller())
        _check_batch(len(request.attempts), "attempts")
        # Each start joins the same shared transactions as single calls do; an outage
        # raises and fails the call, which the worker sends again.
        answers = await answered_within([self._start_attempt(one) for one in request.attempts], BATCH_PATIENCE_SECONDS)
        return tasks_pb2.StartAttemptsResponse(
            attempts=[
                tasks_pb2.StartAttemptResponse(proceed=False, reason=ANSWER_ALONE) if answer is None else answer
                for answer in answers
            ]
        )

    async def _start_attempt(self, request: tasks_pb2.StartAttemptRequest) -> tasks_pb2.StartAttemptResponse:
        response = await self.store.start_attempt(request)
        if response.proceed:
            metrics.TASK_TRANSITIONS.labels(response.task.task_type, "PROCESSING", response.task.provider).inc()
        return response

    async def ReportProgress(self, request, context):
        _require_internal(caller())
        now = time.monotonic()
        last = self._last_progress_event.get(request.task_id, 0.0)
        emit = now - last >= _PROGRESS_EVENT_INTERVAL
        cancel, evented = await self.store.report_progress(request, emit_event=emit)
        if evented is not None:
            self._last_progress_event[request.task_id] = now
        return tasks_pb2.ReportProgressResponse(cancel_requested=cancel)

    async def CompleteTask(self, request, context):
        _require_internal(caller())
        return await self._complete(request)

    async def CompleteTasks(self, request, context):
        _require_internal(caller())
        _check_batch(len(request.completions), "completions")

        async def one(completion: tasks_pb2.CompleteTaskRequest) -> status_pb2.Status:
            try:
                await self._complete(completion)
            except MediaTasksError as refusal:
                if refusal.retryable:
                    raise  # not this completion's answer: the call fails and is sent again
                return error_status(refusal)
            return status_pb2.Status()

        answers = await answered_within([one(completion) for completion in request.completions], BATCH_PATIENCE_SECONDS)
        return tasks_pb2.CompleteTasksResponse(
            results=[_ALONE_STATUS if answer is None else answer for answer in answers]
        )

    async def _complete(self, request: tasks_pb2.CompleteTaskRequest) -> tasks_pb2.Task:
        task = await self.store.complete(request)
        if request.HasField("start"):  # started with its completion (a quick job)
            metrics.TASK_TRANSITIONS.labels(task.task_type, "PROCESSING", task.provider).inc()
        if request.attempt > 1:  # earlier attempts may have died with outputs stored
            kept = [artifact.artifact_id for artifact in request.output.artifacts]
            self._sweep_outputs(request.task_id, range(1, request.attempt), kept)
        self._last_progress_event.pop(request.task_id, None)
        metrics.TASK_TRANSITIONS.labels(task.task_type, "COMPLETED", task.provider).inc()
        if request.cost_usd:
            metrics.PROVIDER_COST.labels(task.provider).inc(request.cost_usd)
        return task

    async def FailTask(self, request, context):
        _require_internal(caller())
        response = await self.store.fail(request)
        # A failed attempt's outputs never become a result; when the task failed for good,
        # neither do those of attempts that died without reporting.
        first = request.attempt if response.requeued else 1
        self._sweep_outputs(request.task_id, range(first, request.attempt + 1), ())
        self._last_progress_event.pop(request.task_id, None)
        status = "QUEUED" if response.requeued else tasks_pb2.Task.Status.Name(response.task.status)
        metrics.TASK_TRANSITIONS.labels(response.task.task_type, status, response.task.provider).inc()
        return response

    def _sweep_outputs(self, task_id: str, attempts: range, kept) -> None:
        """Delete, in the background, what these attempts of the task stored (outputs are
        named after their attempt; see ArtifactStore.for_attempt)."""

        async def sweep() -> None:
            try:
                removed = await self.artifacts.delete_attempt_outputs(task_id, attempts, kept)
                if removed:
                    log.info("removed %d outputs of unfinished attempts of %s", removed, task_id)
            except Exception as exc:  # the store is down: those outputs stay (logged)
                log.warning("cleaning the outputs of %s failed: %s", task_id, exc)

        task = asyncio.create_task(sweep())
        self._sweeps.add(task)
        task.add_done_callback(self._sweeps.discard)

    # --- platform -------------------------------------------------------------------

    async def ListProviders(self, request, context):
        response = tasks_pb2.ListProvidersResponse()
        try:
            entries = await topology.kv_entries(self.js, topology.PROVIDERS_BUCKET)
        except Exception as error:  # NATS away: the answer would be wrong, not empty
            raise MediaTasksError(
                grpc.StatusCode.UNAVAILABLE,
                "DEPENDENCY_UNAVAILABLE",
                f"provider statuses unavailable: {error}",
                retryable=True,
            ) from None
        for key in sorted(entries):
            if entries[key]:
                status = json_format.Parse(entries[key], tasks_pb2.ProviderStatus(), ignore_unknown_fields=True)
                response.providers.append(status)
        return response

    async def GetHealth(self, request, context):
        health = await self._health()
        if current_principal.get() is None:
            # Anonymous callers (load balancers, uptime checks) learn up or degraded only:
            # dependency errors and worker counts are for operators with a credential.
            return tasks_pb2.Health(status=health.status, version=health.version)
        return health

    async def _health(self) -> tasks_pb2.Health:
        health = tasks_pb2.Health(status="ok", version="0.1.0")
        try:
            async with self.store.reads.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=3.0)
            health.dependencies["postgresql"] = "ok"
        except Exception as exc:
            health.dependencies["postgresql"] = f"error: {exc}"
            health.status = "degraded"
        if self.nc.is_connected:
            try:
                await asyncio.wait_for(self.js.account_info(), timeout=3.0)
                health.dependencies["nats"] = "ok"
            except Exception as exc:
                health.dependencies["nats"] = f"error: {exc}"
                health.status = "degraded"
        else:
            health.dependencies["nats"] = "disconnected"
            health.status = "degraded"
        try:
            parked, reason = await asyncio.wait_for(self.relay.parked_summary(), timeout=3.0)
            health.dependencies["outbox"] = f"{parked} parked message(s); newest: {reason}" if parked else "ok"
            if parked:
                health.status = "degraded"
        except Exception as exc:  # the database check above already says why
            health.dependencies["outbox"] = f"unknown: {exc}"
        for task_type, count in (await self.workers.counts()).items():
            health.workers[task_type] = count
        return health

    # --- webhooks -------------------------------------------------------------------

    async def ListWebhookDeliveries(self, request, context):
        return await self.webhooks.list_deliveries(request.task_id, _owner_scope(caller()))

    async def RedeliverWebhook(self, request, context):
        return await self.webhooks.redeliver(request.delivery_id, _owner_scope(caller()))
