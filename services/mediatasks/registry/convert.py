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
    set_time(ts, value)
    return ts


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def set_time(ts: timestamp_pb2.Timestamp, value: dt.datetime) -> None:
    """``ts.FromDatetime(value)`` in integer arithmetic (a naive value is UTC, as there):
    protobuf's own goes through a time tuple and timegm, several times per task built."""
    delta = (value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)) - _EPOCH
    ts.seconds = delta.days * 86400 + delta.seconds
    ts.nanos = delta.microseconds * 1000


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
        value = getattr(row, field)
        if value is not None:
            set_time(getattr(task, field), value)
    return task
