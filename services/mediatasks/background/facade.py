"""BackgroundService: seed 004's ``/api/background/`` surface over registry tasks.

It runs inside the registry process and is handed the registry's parts (its TaskRegistry
servicer for reads, cancels, logs and streams; its task store for creation; the store of
declared task types), so a background task is a registry task like any media one: the
same fencing, retries, heartbeats, dead letters, events, webhooks and statistics.

What is its own: submit-time validation of a payload against the type's declared JSON
schema, the typed submits of the built-in types, the declaration of task types by
workers, queue statistics per (type, priority) and the cleanup of old finished tasks.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import uuid
from collections.abc import AsyncIterator
from typing import Any, Protocol

import grpc
import jsonschema  # type: ignore[import-untyped]
from google.protobuf import json_format

from mediatasks.background.convert import PRIORITY_NAMES, dict_of, priority_name, struct_of, to_background
from mediatasks.background.settings import BackgroundSettings
from mediatasks.core import metrics, topology
from mediatasks.core.auth import ALL_OWNERS, Principal, caller, current_principal
from mediatasks.core.catalog import check_declared_type_name
from mediatasks.core.errors import MediaTasksError, invalid_input
from mediatasks.core.inputs import check_url
from mediatasks.core.server import request_headers, set_http_status
from mediatasks.core.submit import MAX_IDEMPOTENCY_KEY, prefer_wait
from mediatasks.v1 import background_pb2, background_pb2_grpc, common_pb2, tasks_pb2

log = logging.getLogger(__name__)

MAX_RETRIES = 9  # the registry allows 10 attempts per task
MAX_PAYLOAD_BYTES = 1024 * 1024
DEFAULT_CLEANUP_DAYS = 7
MAX_BULK_DOCUMENTS = 100
# What seed 004's schedule-daily runs.
DAILY_ANALYTICS_TYPE = "analytics_processing"
_UNFINISHED = (tasks_pb2.Task.QUEUED, tasks_pb2.Task.PROCESSING)


class _Registry(Protocol):
    """The part of the registry's TaskRegistry servicer the façade uses."""

    store: Any
    relay: Any
    workers: Any
    artifacts: Any

    async def GetTask(self, request: tasks_pb2.GetTaskRequest, context: Any) -> tasks_pb2.Task: ...
    async def CancelTask(self, request: tasks_pb2.CancelTaskRequest, context: Any) -> tasks_pb2.Task: ...
    async def GetTaskLogs(self, request: tasks_pb2.GetTaskLogsRequest, context: Any) -> Any: ...
    def WatchTask(self, request: tasks_pb2.WatchTaskRequest, context: Any) -> AsyncIterator[tasks_pb2.TaskEvent]: ...
    async def wait_for_end(self, task_id: str, owner: str | None, timeout: float) -> tasks_pb2.Task: ...
    async def _decorate(self, task: tasks_pb2.Task) -> tasks_pb2.Task: ...
    async def _health(self) -> tasks_pb2.Health: ...


def _require_internal(principal: Principal) -> None:
    if not principal.internal:
        raise MediaTasksError(
            grpc.StatusCode.PERMISSION_DENIED, "INTERNAL_ONLY", "declaring task types is for mediatasks workers only"
        )


def spec_values(spec: background_pb2.TaskTypeSpec) -> dict[str, Any]:
    """A declared type's row values, after checking everything about it."""
    check_declared_type_name(spec.name)
    schema = dict_of(spec.payload_schema) if spec.HasField("payload_schema") else {}
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise invalid_input(f"task type {spec.name}: payload_schema is not a JSON schema: {exc.message}") from None
    priority = topology.priority_of(spec.default_priority)
    if priority is None:
        raise invalid_input(f"task type {spec.name}: unknown default_priority {spec.default_priority!r}")
    retry = spec.retry
    if not 0 <= retry.max_retries <= MAX_RETRIES:
        raise invalid_input(f"task type {spec.name}: max_retries must be between 0 and {MAX_RETRIES}")
    for name in ("base_delay_seconds", "backoff_factor", "max_delay_seconds"):
        value = getattr(retry, name)
        if not math.isfinite(value) or value < 0:
            raise invalid_input(f"task type {spec.name}: retry.{name} must be a finite number, at least 0")
    if retry.backoff_factor and retry.backoff_factor < 1:
        raise invalid_input(f"task type {spec.name}: retry.backoff_factor must be at least 1")
    return {
        "name": spec.name,
        "description": spec.description,
        "payload_schema": schema,
        "default_priority": priority,
        "max_retries": retry.max_retries,
        "base_delay_seconds": retry.base_delay_seconds or 60.0,
        "backoff_factor": retry.backoff_factor or 2.0,
        "max_delay_seconds": retry.max_delay_seconds or 3600.0,
        "builtin": spec.builtin,
    }


def schedule_of(row: Any) -> background_pb2.DailySchedule:
    schedule = background_pb2.DailySchedule(
        schedule_id=row.id.hex,
        name=row.name,
        task_type=row.task_type,
        hour_utc=row.hour_utc,
        minute=row.minute,
        priority=priority_name(row.priority) if row.priority else "",
        last_task_id=row.last_task_id,
    )
    schedule.payload.CopyFrom(struct_of(row.payload or {}))
    schedule.next_run_at.FromDatetime(row.next_run_at)
    if row.last_run_at is not None:
        schedule.last_run_at.FromDatetime(row.last_run_at)
    return schedule


def spec_of(row: Any) -> background_pb2.TaskTypeSpec:
    spec = background_pb2.TaskTypeSpec(
        name=row.name,
        description=row.description,
        default_priority=priority_name(row.default_priority),
        builtin=row.builtin,
        retry=background_pb2.RetryPolicySpec(
            max_retries=row.max_retries,
            base_delay_seconds=row.base_delay_seconds,
            backoff_factor=row.backoff_factor,
            max_delay_seconds=row.max_delay_seconds,
        ),
    )
    spec.payload_schema.CopyFrom(struct_of(row.payload_schema or {}))
    spec.updated_at.FromDatetime(row.updated_at)
    return spec


def check_payload(schema: dict, payload: dict, task_type: str) -> None:
    """INVALID_INPUT naming the first place where ``payload`` breaks the type's schema."""
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(payload))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(the payload)"
        raise invalid_input(f"payload of {task_type} at {where}: {error.message}", field=f"payload.{where}")


class BackgroundServicer(background_pb2_grpc.BackgroundServiceServicer):
    def __init__(
        self, registry: _Registry, task_types: Any, settings: BackgroundSettings, schedules: Any = None
    ) -> None:
        """``schedules`` keeps the daily schedules (the registry's ScheduleStore)."""
        self.registry = registry
        self.task_types = task_types
        self.settings = settings
        self.schedules = schedules

    # --- submitting -------------------------------------------------------------------

    async def _checked(self, task_type: str, payload: dict, priority: str) -> tuple[Any, str]:
        """The declared type's row and the resolved priority, once the payload passed the
        type's schema."""
        if not task_type:
            raise invalid_input("task_type is required", field="task_type")
        spec = await self.task_types.get(task_type)
        if spec is None:
            known = ", ".join(row.name for row in await self.task_types.all()) or "none yet"
            raise invalid_input(
                f"unknown task_type {task_type!r}; registered types: {known} (a worker declares its types when it starts)",
                field="task_type",
            )
        check_payload(spec.payload_schema or {}, payload, task_type)
        resolved = topology.priority_of(priority or spec.default_priority)
        if resolved is None:
            names = ", ".join([*PRIORITY_NAMES.values(), *topology.PRIORITIES])
            raise invalid_input(f"priority must be one of {names}", field="priority")
        return spec, resolved

    async def create_for(
        self,
        owner: str,
        *,
        task_type: str,
        name: str,
        payload: dict,
        priority: str,
        metadata: dict[str, Any] | None = None,
        webhook_url: str = "",
        webhook_secret: str = "",
        idempotency_key: str,
    ) -> tasks_pb2.Task:
        """Create a task of a declared type for ``owner``, its payload checked against the
        type's schema (REST submits and the daily schedules both come here)."""
        spec, resolved = await self._checked(task_type, payload, priority)
        if webhook_url:
            await check_url(webhook_url, self.settings, field="webhook_url")
        packed = background_pb2.BackgroundInput(name=name or task_type)
        packed.payload.CopyFrom(struct_of(payload))
        if packed.ByteSize() > MAX_PAYLOAD_BYTES:
            raise invalid_input(f"the payload is over {MAX_PAYLOAD_BYTES} bytes", field="payload")
        options = common_pb2.SubmitOptions(
            priority=resolved,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            max_attempts=spec.max_retries + 1,
            metadata=metadata or {},
        )
        create = tasks_pb2.CreateTaskRequest(
            task_type=task_type,
            owner=owner,
            options=options,
            idempotency_key=idempotency_key,
        )
        create.input.Pack(packed)
        task, _ = await self.registry.store.create(create)  # its rows go to the relay at commit
        metrics.TASK_TRANSITIONS.labels(task.task_type, tasks_pb2.Task.Status.Name(task.status), task.provider).inc()
        return task

    async def _submit(
        self,
        context: grpc.aio.ServicerContext,
        *,
        task_type: str,
        name: str,
        payload: dict,
        priority: str,
        metadata: dict[str, Any] | None = None,
        webhook_url: str = "",
        webhook_secret: str = "",
        key_suffix: str = "",
    ) -> background_pb2.BackgroundTask:
        principal = caller()
        request_metadata = request_headers(context)
        client_key = request_metadata.get("idempotency-key", "")
        if len(client_key) > MAX_IDEMPOTENCY_KEY or not client_key.isprintable():
            raise invalid_input(
                f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY} printable characters", field="idempotency-key"
            )
        task = await self.create_for(
            principal.owner,
            task_type=task_type,
            name=name,
            payload=payload,
            priority=priority,
            metadata=metadata,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            idempotency_key=client_key + key_suffix if client_key else f"auto:{uuid.uuid4().hex}",
        )
        wait = prefer_wait(request_metadata)
        if wait and task.status in _UNFINISHED:
            task = await self.registry.wait_for_end(task.task_id, principal.owner, wait)
        else:
            task = await self.registry._decorate(task)
        if task.status in _UNFINISHED and not key_suffix:
            await set_http_status(context, 202)
        return to_background(task)

    async def SubmitTask(self, request, context):
        payload = json_format.MessageToDict(request.payload) if request.HasField("payload") else {}
        return await self._submit(
            context,
            task_type=request.task_type,
            name=request.name,
            payload=payload,
            priority=request.priority,
            metadata=json_format.MessageToDict(request.metadata),
            webhook_url=request.webhook_url,
            webhook_secret=request.webhook_secret,
        )

    # --- daily schedules ----------------------------------------------------------------

    async def ScheduleDailyAnalytics(self, request, context):
        if self.schedules is None:
            raise MediaTasksError(grpc.StatusCode.UNIMPLEMENTED, "NO_SCHEDULER", "this server keeps no schedules")
        if not 0 <= request.hour_utc <= 23:
            raise invalid_input("hour_utc must be between 0 and 23", field="hour_utc")
        if not 0 <= request.minute <= 59:
            raise invalid_input("minute must be between 0 and 59", field="minute")
        name = request.name or "daily-analytics"
        if len(name) > 200 or not name.isprintable():
            raise invalid_input("name must be at most 200 printable characters", field="name")
        payload = json_format.MessageToDict(request.payload) if request.HasField("payload") else {}
        # Checked now, so a bad payload is a 400 today rather than a failed run tomorrow.
        _spec, priority = await self._checked(DAILY_ANALYTICS_TYPE, payload, request.priority)
        row = await self.schedules.upsert(
            owner=caller().owner,
            name=name,
            task_type=DAILY_ANALYTICS_TYPE,
            payload=payload,
            priority=priority if request.priority else "",
            hour=request.hour_utc,
            minute=request.minute,
            run_now=request.run_now,
        )
        return schedule_of(row)

    async def ListSchedules(self, request, context):
        if self.schedules is None:
            return background_pb2.ListSchedulesResponse()
        rows = await self.schedules.list(caller().owner)
        return background_pb2.ListSchedulesResponse(schedules=[schedule_of(row) for row in rows])

    async def DeleteSchedule(self, request, context):
        if self.schedules is None:
            raise MediaTasksError(grpc.StatusCode.NOT_FOUND, "SCHEDULE_NOT_FOUND", "no such schedule")
        return schedule_of(await self.schedules.delete(caller().owner, request.schedule_id))

    async def run_schedule(self, owner: str, task_type: str, name: str, payload: dict, priority: str, key: str) -> str:
        """One scheduled run (the registry's DailyScheduler calls it): the task's id."""
        task = await self.create_for(
            owner, task_type=task_type, name=name, payload=payload, priority=priority, idempotency_key=key
        )
        return task.task_id

    async def SubmitDocumentProcessing(self, request, context):
        return await self._submit_document(request, context)

    async def _submit_document(self, request, context, *, key_suffix: str = ""):
        payload: dict[str, Any] = {"document_id": request.document_id, "content": request.content}
        if request.chunk_size:
            payload["chunk_size"] = request.chunk_size
        if request.chunk_overlap:
            payload["chunk_overlap"] = request.chunk_overlap
        return await self._submit(
            context,
            task_type="document_processing",
            name=f"document {request.document_id}",
            payload=payload,
            priority=request.priority,
            metadata=json_format.MessageToDict(request.metadata),
            key_suffix=key_suffix,
        )

    async def ProcessDocumentsBulk(self, request, context):
        if not 1 <= len(request.documents) <= MAX_BULK_DOCUMENTS:
            raise invalid_input(f"send 1 to {MAX_BULK_DOCUMENTS} documents", field="documents")
        response = background_pb2.ProcessDocumentsBulkResponse()
        for index, document in enumerate(request.documents):
            item = response.results.add(index=index, document_id=document.document_id)
            if not document.priority:
                document.priority = request.priority
            try:
                # Each item is its own submit; a per-item idempotency key is the client's
                # key with the index (the shared header alone would make every item one task).
                item.task.CopyFrom(await self._submit_document(document, context, key_suffix=f":{index}"))
            except MediaTasksError as error:
                item.error.CopyFrom(
                    common_pb2.TaskError(code=error.code.name, reason=error.reason, message=error.message)
                )
        if any(item.HasField("task") for item in response.results):
            await set_http_status(context, 202)
        return response

    async def SubmitWebhookDelivery(self, request, context):
        payload = {
            "webhook_url": request.webhook_url,
            "data": json_format.MessageToDict(request.data),
            "headers": dict(request.headers),
            "sign_payload": request.sign_payload,
        }
        return await self._submit(
            context,
            task_type="webhook_delivery",
            name=f"webhook to {request.webhook_url}"[:200],
            payload=payload,
            priority=request.priority,
        )

    async def SubmitN8nSync(self, request, context):
        payload = {"target": "n8n", "sync_type": request.sync_type, "data": json_format.MessageToDict(request.data)}
        return await self._submit(
            context,
            task_type="external_sync",
            name=f"n8n {request.sync_type}"[:200],
            payload=payload,
            priority=request.priority,
        )

    async def TriggerN8nWorkflow(self, request, context):
        return await self.SubmitN8nSync(request, context)

    # --- one task -----------------------------------------------------------------------

    async def GetTask(self, request, context):
        task = await self.registry.GetTask(tasks_pb2.GetTaskRequest(task_id=request.task_id), context)
        return to_background(task)

    async def GetTaskLogs(self, request, context):
        logs = await self.registry.GetTaskLogs(
            tasks_pb2.GetTaskLogsRequest(task_id=request.task_id, limit=request.limit), context
        )
        response = background_pb2.BackgroundTaskLogs(task_id=request.task_id)
        for entry in logs.entries:
            response.logs.add(
                timestamp=entry.timestamp, level=entry.level, message=entry.message, attempt=entry.attempt
            )
        return response

    async def StreamTask(self, request, context):
        watch = tasks_pb2.WatchTaskRequest(task_id=request.task_id, after_sequence=request.after_sequence)
        async for event in self.registry.WatchTask(watch, context):
            yield background_pb2.BackgroundTaskUpdate(
                event_type=event.event_type, task=to_background(event.task), sequence=event.sequence
            )

    async def CancelTask(self, request, context):
        task = await self.registry.CancelTask(
            tasks_pb2.CancelTaskRequest(task_id=request.task_id, reason=request.reason), context
        )
        return to_background(task)

    # --- operators ----------------------------------------------------------------------

    def _scope(self) -> str | None:
        """None (every owner) for an admin or an internal call naming every owner; else the caller."""
        principal = caller()
        if principal.internal and principal.owner == ALL_OWNERS:
            return None
        if principal.kind in ("api_key", "jwt") and principal.owner in self.settings.admins():
            return None
        return principal.owner

    async def GetQueueStats(self, request, context):
        owner = self._scope()
        response = background_pb2.QueueStats(all_owners=owner is None)
        for name in PRIORITY_NAMES.values():
            response.pending_by_priority[name] = 0
        for count in await self.task_types.queue_counts(owner):
            priority = priority_name(count.priority)
            response.queues.add(
                task_type=count.task_type,
                priority=priority,
                pending=count.pending,
                running=count.running,
                oldest_pending_age_seconds=round(count.oldest_pending_age_seconds, 3),
            )
            response.pending_by_priority[priority] += count.pending
        for task_type, live in (await self.registry.workers.counts()).items():
            response.workers[task_type] = live
        return response

    async def CleanupQueue(self, request, context):
        days = request.max_age_days or DEFAULT_CLEANUP_DAYS
        if not 1 <= days <= 3650:
            raise invalid_input("max_age_days must be between 1 and 3650", field="max_age_days")
        owner = self._scope()
        older_than = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
        deleted, artifact_ids = await self.task_types.delete_finished(owner, older_than)
        if artifact_ids:
            await self.registry.artifacts.delete_many(artifact_ids)
        log.info("cleanup by %s removed %d finished task(s) older than %d day(s)", caller().owner, deleted, days)
        return background_pb2.CleanupQueueResponse(
            deleted_tasks=deleted, deleted_artifacts=len(artifact_ids), all_owners=owner is None
        )

    async def GetHealth(self, request, context):
        health = await self.registry._health()
        response = background_pb2.BackgroundHealth(status="healthy" if health.status == "ok" else "degraded")
        if current_principal.get() is None:
            # Anonymous callers (uptime checks) learn healthy or degraded only, as the
            # platform's own health answers them.
            return response
        response.dependencies.update(health.dependencies)
        live = await self.registry.workers.counts()
        for row in await self.task_types.all():
            response.workers[row.name] = live.get(row.name, 0)
            if not live.get(row.name):
                response.types_without_workers.append(row.name)
        return response

    # --- task types ---------------------------------------------------------------------

    async def ListTaskTypes(self, request, context):
        return background_pb2.ListTaskTypesResponse(task_types=[spec_of(row) for row in await self.task_types.all()])

    async def RegisterTaskTypes(self, request, context):
        _require_internal(caller())
        if not request.task_types:
            raise invalid_input("declare at least one task type", field="task_types")
        names = [spec.name for spec in request.task_types]
        if len(set(names)) != len(names):
            raise invalid_input("each task type is declared once", field="task_types")
        rows = await self.task_types.upsert([spec_values(spec) for spec in request.task_types])
        log.info("task types declared: %s", ", ".join(names))
        return background_pb2.RegisterTaskTypesResponse(task_types=[spec_of(row) for row in rows])
