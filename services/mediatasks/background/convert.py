"""Registry tasks as seed 004's background tasks: statuses, priorities and shapes."""

from __future__ import annotations

from google.protobuf import json_format, struct_pb2

from mediatasks.core import topology
from mediatasks.v1 import background_pb2, tasks_pb2

# The background API's names of the platform's priorities.
PRIORITY_NAMES = {"urgent": "critical", "high": "high", "medium": "normal", "low": "low"}


def status_name(task: tasks_pb2.Task) -> str:
    """``pending`` / ``retrying`` (queued again after a failure), ``running``, ``completed``,
    ``failed`` or ``cancelled``."""
    if task.status == tasks_pb2.Task.QUEUED:
        return "retrying" if task.HasField("next_attempt_at") else "pending"
    if task.status == tasks_pb2.Task.PROCESSING:
        return "running"
    return tasks_pb2.Task.Status.Name(task.status).lower()


def priority_name(priority: str) -> str:
    return PRIORITY_NAMES.get(priority, priority)


def background_input(task: tasks_pb2.Task) -> background_pb2.BackgroundInput:
    """The task's name and payload (empty for a task that is not a background one)."""
    packed = background_pb2.BackgroundInput()
    task.input.Unpack(packed)
    return packed


def result_of(task: tasks_pb2.Task) -> struct_pb2.Struct | None:
    result = background_pb2.BackgroundResult()
    if task.output.HasField("result") and task.output.result.Unpack(result):
        return result.result
    return None


def to_background(task: tasks_pb2.Task) -> background_pb2.BackgroundTask:
    """A registry task as the background API shows it."""
    given = background_input(task)
    out = background_pb2.BackgroundTask(
        task_id=task.task_id,
        name=given.name or task.task_type,
        task_type=task.task_type,
        status=status_name(task),
        progress=float(task.progress),
        stage=task.stage,
        priority=priority_name(task.priority),
        retry_count=max(0, task.attempt - 1),
        max_retries=max(0, task.max_attempts - 1),
        queue_position=task.queue_position,
        attempt=task.attempt,
    )
    out.payload.CopyFrom(given.payload)
    result = result_of(task)
    if result is not None:
        out.result.CopyFrom(result)
    if task.HasField("error"):
        out.error.CopyFrom(task.error)
    out.artifacts.extend(task.output.artifacts)
    out.metadata.CopyFrom(task.metadata)
    for name in ("created_at", "started_at", "updated_at", "completed_at", "estimated_completion"):
        if task.HasField(name):
            getattr(out, name).CopyFrom(getattr(task, name))
    if task.HasField("next_attempt_at"):
        out.next_retry_at.CopyFrom(task.next_attempt_at)
    return out


def struct_of(value: dict) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    json_format.ParseDict(value, message)
    return message


def dict_of(message: struct_pb2.Struct) -> dict:
    return json_format.MessageToDict(message)


def resolved_priority(name: str, default: str) -> str | None:
    """The platform priority ``name`` means (``default`` when empty), or None."""
    return topology.priority_of(name or default)
