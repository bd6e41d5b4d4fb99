"""What every dialect shares: JSON answers with any HTTP status, errors in a dialect's
body shape, native submits through the media services, and the task as plain JSON.

A dialect answers a ``google.api.HttpBody`` it writes itself, because its shapes (camelCase
ids, error bodies such as ``{"detail": ...}``) are not the platform's proto JSON. An error
is such an answer too, with the error's HTTP status: the gateway's Lua filter applies
``x-http-status`` to a successful gRPC answer marked ``x-mediatasks-dialect``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import grpc
from google.api import httpbody_pb2
from google.protobuf import json_format

from mediatasks.core.auth import caller
from mediatasks.core.catalog import submit_rpc
from mediatasks.core.errors import MediaTasksError, invalid_input
from mediatasks.core.server import set_http_status

# Registers the result types, so a task's output (an Any) prints as JSON.
from mediatasks.v1 import audio_pb2, image_pb2, subtitle_pb2, tasks_pb2, video_pb2  # noqa: F401

DIALECT_HEADER = "x-mediatasks-dialect"
UNFINISHED = (tasks_pb2.Task.QUEUED, tasks_pb2.Task.PROCESSING)

_HTTP_OF_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class Registry(Protocol):
    """The part of the registry's TaskRegistry servicer the dialects use."""

    async def GetTask(self, request: tasks_pb2.GetTaskRequest, context: Any) -> tasks_pb2.Task: ...
    async def ListTasks(self, request: tasks_pb2.ListTasksRequest, context: Any) -> Any: ...
    async def CancelTask(self, request: tasks_pb2.CancelTaskRequest, context: Any) -> tasks_pb2.Task: ...
    async def wait_for_end(self, task_id: str, owner: str | None, timeout: float) -> tasks_pb2.Task: ...
    def _media_channel(self, service: str) -> Any: ...


def http_status_of(error: MediaTasksError) -> int:
    """The HTTP status the native API gives ``error`` (its own override first)."""
    return error.http_status or _HTTP_OF_CODE.get(error.code, 500)


async def answer(
    context: grpc.aio.ServicerContext, document: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()
) -> httpbody_pb2.HttpBody:
    """``document`` as the JSON body of an answer with ``status``."""
    if status != 200 or headers:
        await set_http_status(context, status, ((DIALECT_HEADER, "1"), *headers))
    return httpbody_pb2.HttpBody(content_type="application/json", data=json.dumps(document).encode())


ErrorBody = Callable[[MediaTasksError], Any]


async def answer_or_error(
    context: grpc.aio.ServicerContext, call: Callable[[], Awaitable[tuple[int, Any]]], error_body: ErrorBody
) -> httpbody_pb2.HttpBody:
    """Run ``call`` (which returns a status and a document); a project error becomes the
    dialect's error body with its HTTP status (and Retry-After when it says when)."""
    try:
        status, document = await call()
    except MediaTasksError as error:
        headers: tuple[tuple[str, str], ...] = ()
        if error.retry_after_seconds is not None:
            headers = (("retry-after", str(max(1, math.ceil(error.retry_after_seconds)))),)
        return await answer(context, error_body(error), http_status_of(error), headers)
    return await answer(context, document, status)


async def submit_native(registry: Registry, task_type: str, body: dict[str, Any]) -> tasks_pb2.Task:
    """Create a task of ``task_type`` from its native JSON body, through the media service
    that validates that type (as the caller's owner), exactly as a native submit would."""
    service, stub_class, method, request_class = submit_rpc(task_type)
    try:
        typed = json_format.ParseDict(body, request_class())
    except json_format.ParseError as exc:
        raise invalid_input(str(exc)) from None
    channel = registry._media_channel(service)
    return await channel.call(getattr(stub_class(channel.channel), method), typed, owner=caller().owner)


def refuse_unsupported(task_type: str, field: str, value: Any) -> None:
    """A field the native request of ``task_type`` cannot carry yet is refused, naming it,
    never dropped; once the native request has it, the caller passes it on."""
    if value and not supports(task_type, field):
        raise invalid_input(f"{field} is not supported for {task_type} yet", field=field)


def supports(task_type: str, field: str) -> bool:
    return field in submit_rpc(task_type)[3].DESCRIPTOR.fields_by_name


def task_json(task: tasks_pb2.Task) -> dict[str, Any]:
    """The native task as JSON, as the gateway prints it (proto field names, zero values
    printed: a paragraph starting at 0.0 has its start), the output's result unpacked."""
    return json_format.MessageToDict(task, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def result_of(task: dict[str, Any]) -> dict[str, Any]:
    """The typed result of a native task's JSON, without its ``@type``."""
    result = dict(task.get("output", {}).get("result") or {})
    result.pop("@type", None)
    return result


def link_of(artifact: dict[str, Any]) -> str:
    """The link a client downloads an artifact with: the credential-free one when the
    platform gives it, else the REST path."""
    return str(artifact.get("download_url") or artifact.get("url") or "")


def millis_between(start: str | None, end: str | None) -> int:
    """Milliseconds from ``start`` to ``end`` (RFC 3339 strings; a missing end is now)."""
    if not start:
        return 0
    began = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
    ended = dt.datetime.fromisoformat(end.replace("Z", "+00:00")) if end else dt.datetime.now(dt.UTC)
    return max(0, round((ended - began).total_seconds() * 1000))
