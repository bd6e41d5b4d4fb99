"""Rows to protobuf messages, and the small vocabularies both sides share."""

from __future__ import annotations

import datetime as dt
from typing import overload

from google.protobuf import any_pb2, timestamp_pb2

from mediatasks.core.metadata import metadata_struct
from mediatasks.v1 import common_pb2, tasks_pb2

QUEUED, PROCESSING, COMPLETED, FAILED, CANCELLED = "QUEUED", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED"
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})
ACTIVE = frozenset({QUEUED, PROCESSING})
PRIORITY_RANK = {"urgent": 0, "high": 1, "medium": 2, "low": 3}

EVENT_FOR_STATUS = {
    COMPLETED: "task.completed",
    FAILED: "task.failed",
    CANCELLED: "task.cancelled",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@overload
def timestamp(value: dt.datetime) -> timestamp_pb2.Timestamp: ...
@overload
def timestamp(value: None) -> None: ...
def timestamp(value: dt.datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def error_to_json(error: common_pb2.TaskError) -> dict:
    return {"code": error.code, "reason": error.reason, "message": error.message, "retryable": error.retryable}


def task_to_proto(row, *, include_input: bool = True) -> tasks_pb2.Task:
    """A ``tasks`` row (SQLAlchemy Row or mapping) as a Task message."""
    task = tasks_pb2.Task(
        task_id=str(row.id),
        id=str(row.id),
        task_type=row.task_type,
        status=row.status,  # the enum's name, as stored
        progress=row.progress,
        stage=row.stage,
        priority=row.priority,
        owner=row.owner,
        attempt=row.attempt,
        max_attempts=row.max_attempts,
        provider=row.provider,
        model=row.model,
        cost_usd=row.cost_usd,
        cache_hit=row.cache_hit,
        webhook_url=row.webhook_url,
        metadata=metadata_struct(row.metadata),
        queued_reason=row.queued_reason,
        cancel_confirmed=row.cancel_confirmed,
    )
    if include_input and row.input:
        task.input.CopyFrom(any_pb2.Any.FromString(row.input))
    if row.output:
        task.output.CopyFrom(tasks_pb2.TaskOutput.FromString(row.output))
    if row.error:
        task.error.CopyFrom(common_pb2.TaskError(**row.error))
    for field in ("created_at", "started_at", "updated_at", "completed_at", "expires_at", "next_attempt_at"):
        value = timestamp(getattr(row, field))
        if value is not None:
            getattr(task, field).CopyFrom(value)
    return task
