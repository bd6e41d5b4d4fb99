"""The same task calls over gRPC, for callers that already speak it (or want server streaming
without SSE). It needs ``grpcio`` and the generated stubs (the base install).

::

    from mediatasks.client.grpc_client import GrpcClient

    with GrpcClient("127.0.0.1:8080", api_key="mt_...") as client:   # the gateway routes gRPC too
        task = client.subtitles.generate(text="Hello there.", wait=True)
        for event in client.tasks.stream(task.task_id):
            ...

Task results come back as the same :class:`Task` objects as over REST (the message is
converted to the REST JSON first). Local files are uploaded over gRPC too (a
client-streaming ``UploadArtifact``), and downloads stream (``GetArtifact``).
"""

from __future__ import annotations

import builtins
import hashlib
import mimetypes
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
from google.api import httpbody_pb2
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from mediatasks.client.errors import ApiError, TaskFailed, Unavailable, WaitTimeout, error_class
from mediatasks.client.jobs import job_for, prepare
from mediatasks.client.models import LogEntry, Task, TaskEvent, TaskPage, Upload
from mediatasks.client.namespaces import Audio, Images, Subtitles, Videos
from mediatasks.client.retry import RetryPolicy
from mediatasks.client.transfer import Progress
from mediatasks.v1 import (
    artifacts_pb2,
    artifacts_pb2_grpc,
    audio_pb2,
    audio_pb2_grpc,
    image_pb2,
    image_pb2_grpc,
    subtitle_pb2,
    subtitle_pb2_grpc,
    tasks_pb2,
    tasks_pb2_grpc,
    video_pb2,
    video_pb2_grpc,
)

SERVER_WAIT_LIMIT = 60.0
# Bytes per HttpBody message of an upload (the server's messages may be up to 64 MiB).
UPLOAD_CHUNK_BYTES = 1024 * 1024
_RETRYABLE_CODES = ("UNAVAILABLE", "RESOURCE_EXHAUSTED")
_STUBS: dict[str, Any] = {
    "mediatasks.v1.ImageService": image_pb2_grpc.ImageServiceStub,
    "mediatasks.v1.VideoService": video_pb2_grpc.VideoServiceStub,
    "mediatasks.v1.AudioService": audio_pb2_grpc.AudioServiceStub,
    "mediatasks.v1.SubtitleService": subtitle_pb2_grpc.SubtitleServiceStub,
}
_MODULES = (image_pb2, video_pb2, audio_pb2, subtitle_pb2)


def _request_class(full_name: str) -> type[Message]:
    name = full_name.rsplit(".", 1)[-1]
    for module in _MODULES:
        if hasattr(module, name):
            return getattr(module, name)
    raise LookupError(full_name)


def as_json(message: Message) -> dict[str, Any]:
    """A message as the gateway prints it (proto field names, zero values, enum names)."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _status_details(call: grpc.Call) -> status_pb2.Status | None:
    for key, value in call.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def api_error(error: grpc.RpcError) -> ApiError:
    """The typed exception of a failed call, from its ``google.rpc.Status`` details."""
    if not isinstance(error, grpc.Call):
        return ApiError("UNKNOWN", "", str(error))
    code = error.code()
    message = error.details() or code.name
    reason, retry_after = "", None
    metadata: dict[str, str] = {}
    status = _status_details(error)
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_after = retry.retry_delay.ToTimedelta().total_seconds()
    cls = error_class(code.name, reason)
    return cls(code.name, reason, message, metadata=metadata, retry_after=retry_after)


class GrpcClient:
    """A mediatasks client over gRPC: ``target`` is the gateway (it routes gRPC by service)
    or a service's own address; ``credentials`` makes it a TLS channel."""

    def __init__(
        self,
        target: str,
        api_key: str | None = None,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._metadata: tuple[tuple[str, str], ...] = (("x-api-key", api_key),) if api_key else ()
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._channel = (
            grpc.secure_channel(target, credentials) if credentials is not None else grpc.insecure_channel(target)
        )
        self.registry = tasks_pb2_grpc.TaskRegistryStub(self._channel)
        self.artifacts = artifacts_pb2_grpc.ArtifactServiceStub(self._channel)
        self.tasks = GrpcTasks(self)
        self.images = Images(self.submit)
        self.videos = Videos(self.submit)
        self.audio = Audio(self.submit)
        self.subtitles = Subtitles(self.submit)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> GrpcClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def call(
        self, method: Any, request: Message, *, metadata: tuple[tuple[str, str], ...] = (), timeout: float | None = None
    ) -> Any:
        """One unary call with retries on UNAVAILABLE / RESOURCE_EXHAUSTED (waiting what
        the server's RetryInfo asks); other errors raise their :class:`ApiError`."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return method(request, metadata=self._metadata + metadata, timeout=timeout or self.timeout)
            except grpc.RpcError as exc:
                error = api_error(exc)
                if attempt >= self.retry.attempts or error.code not in _RETRYABLE_CODES:
                    raise error from exc
                time.sleep(self.retry.delay(attempt, error.retry_after))

    def submit(
        self,
        task_type: str,
        *,
        wait: bool | float = False,
        raise_on_failure: bool = False,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Task:
        """As :meth:`mediatasks.client.Client.submit`, over gRPC (file arguments must be
        URLs or artifact ids)."""
        job = job_for(task_type)
        prepared = prepare(job, fields)
        for location, path in prepared.uploads:
            prepared.fill(location, self.upload(path).artifact_id)
        request = json_format.ParseDict(prepared.body, _request_class(job.request_message)())
        metadata = [("idempotency-key", idempotency_key or str(uuid.uuid4()))]
        deadline = None if wait is True or not wait else time.monotonic() + float(wait)
        if wait:
            hold = SERVER_WAIT_LIMIT if deadline is None else min(SERVER_WAIT_LIMIT, float(wait))
            metadata.append(("prefer", f"wait={max(1, int(hold))}"))
        stub = _STUBS[job.grpc_service](self._channel)
        answer = self.call(
            getattr(stub, job.grpc_method), request, metadata=tuple(metadata), timeout=SERVER_WAIT_LIMIT + 15
        )
        task = Task.from_json(as_json(answer))
        if wait and not task.finished:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            task = self.tasks.wait(task.task_id, timeout=remaining)
        if raise_on_failure and task.status in ("FAILED", "CANCELLED"):
            raise TaskFailed(task)
        return task

    # --- files ----------------------------------------------------------------------

    def upload(
        self,
        path: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
        content_type: str | None = None,
        chunk_size: int = UPLOAD_CHUNK_BYTES,
    ) -> Upload:
        """Store a local file as an artifact over one client-streaming call (chunks read
        from disk as they are sent, never the whole file); its SHA-256 is checked against
        what the server stored."""
        source = Path(path)
        total = source.stat().st_size
        kind = content_type or mimetypes.guess_type(source.name)[0] or "application/octet-stream"
        digest = hashlib.sha256()

        def chunks() -> Iterator[httpbody_pb2.HttpBody]:
            sent = 0
            with source.open("rb") as handle:
                while block := handle.read(chunk_size):
                    digest.update(block)
                    sent += len(block)
                    yield httpbody_pb2.HttpBody(content_type=kind if sent == len(block) else "", data=block)
                    if progress:
                        progress(sent, total)

        # Not retried: a stream cannot be replayed (the REST client's tus upload resumes).
        metadata = self._metadata + (("x-filename", source.name),)
        try:
            stored = self.artifacts.UploadArtifact(chunks(), metadata=metadata, timeout=None)
        except grpc.RpcError as exc:
            raise api_error(exc) from exc
        if stored.sha256 != digest.hexdigest():
            raise ApiError("DATA_LOSS", "CHECKSUM_MISMATCH", f"the server stored {stored.sha256} for {source.name}")
        return Upload(
            artifact_id=stored.artifact_id,
            size_bytes=int(stored.size_bytes),
            sha256=stored.sha256,
            content_type=stored.content_type,
        )

    def download(self, artifact_id: str, path: str | os.PathLike[str], *, progress: Progress | None = None) -> Path:
        """Stream an artifact to ``path`` over one server-streaming call."""
        target = Path(path)
        partial = target.with_name(target.name + ".part")
        received = 0
        try:
            call = self.artifacts.GetArtifact(
                artifacts_pb2.GetArtifactRequest(artifact_id=artifact_id), metadata=self._metadata, timeout=None
            )
            with partial.open("wb") as out:
                for message in call:
                    out.write(message.data)
                    received += len(message.data)
                    if progress:
                        progress(received, None)
        except grpc.RpcError as exc:
            partial.unlink(missing_ok=True)
            raise api_error(exc) from exc
        partial.replace(target)
        return target


class GrpcTasks:
    """``client.tasks`` over gRPC: the same methods as over REST."""

    def __init__(self, client: GrpcClient) -> None:
        self._client = client
        self._registry = client.registry

    def _task(self, method: Any, request: Message) -> Task:
        return Task.from_json(as_json(self._client.call(method, request)))

    def get(self, task_id: str) -> Task:
        return self._task(self._registry.GetTask, tasks_pb2.GetTaskRequest(task_id=task_id))

    def list_page(
        self,
        *,
        task_type: str | None = None,
        status: str | None = None,
        sort: str | None = None,
        limit: int = 50,
        page_token: str | None = None,
    ) -> TaskPage:
        request = tasks_pb2.ListTasksRequest(
            task_type=task_type or "", status=status or "", sort=sort or "", limit=limit, page_token=page_token or ""
        )
        return TaskPage.from_json(as_json(self._client.call(self._registry.ListTasks, request)))

    def list(
        self,
        *,
        task_type: str | None = None,
        status: str | None = None,
        sort: str | None = None,
        page_size: int = 50,
        max_items: int | None = None,
    ) -> Iterator[Task]:
        token: str | None = None
        yielded = 0
        while True:
            page = self.list_page(task_type=task_type, status=status, sort=sort, limit=page_size, page_token=token)
            for task in page.items:
                if max_items is not None and yielded >= max_items:
                    return
                yielded += 1
                yield task
            if not page.next_page_token or not page.items:
                return
            token = page.next_page_token

    def wait(self, task_id: str, *, timeout: float | None = None, raise_on_failure: bool = False) -> Task:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = SERVER_WAIT_LIMIT if deadline is None else deadline - time.monotonic()
            hold = max(0.1, min(SERVER_WAIT_LIMIT, remaining))
            answer = self._client.call(
                self._registry.WaitTask,
                tasks_pb2.WaitTaskRequest(task_id=task_id, timeout_seconds=hold),
                timeout=hold + 15,
            )
            task = Task.from_json(as_json(answer))
            if task.finished:
                if raise_on_failure and task.status != "COMPLETED":
                    raise TaskFailed(task)
                return task
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(task, timeout or 0.0)

    def stream(
        self, task_id: str, *, after: int = 0, reconnect: bool = True, timeout: float | None = None
    ) -> Iterator[TaskEvent]:
        """WatchTask from sequence ``after``; an UNAVAILABLE stream resumes after the last
        event seen. Past ``timeout`` seconds without the end, :class:`WaitTimeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last, failures = after, 0
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise WaitTimeout(self.get(task_id), timeout or 0.0)
            request = tasks_pb2.WatchTaskRequest(task_id=task_id, after_sequence=last)
            try:
                for message in self._registry.WatchTask(request, metadata=self._client._metadata, timeout=remaining):
                    event = TaskEvent.from_json(as_json(message))
                    if event.sequence and event.sequence <= last:
                        continue
                    last, failures = event.sequence or last, 0
                    yield event
                    if event.task.finished:
                        return
            except grpc.RpcError as exc:
                error = api_error(exc)
                if deadline is not None and error.code == "DEADLINE_EXCEEDED":
                    continue  # the loop's deadline check ends it
                failures += 1
                if not reconnect or not isinstance(error, Unavailable) or failures >= self._client.retry.attempts:
                    raise error from exc
                time.sleep(self._client.retry.delay(failures, error.retry_after))
                continue
            if self.get(task_id).finished or not reconnect:
                return

    def cancel(self, task_id: str, *, reason: str = "") -> Task:
        return self._task(self._registry.CancelTask, tasks_pb2.CancelTaskRequest(task_id=task_id, reason=reason))

    def delete(self, task_id: str) -> Task:
        return self._task(self._registry.DeleteTask, tasks_pb2.DeleteTaskRequest(task_id=task_id))

    def retry(self, task_id: str) -> Task:
        return self._task(self._registry.RetryTask, tasks_pb2.RetryTaskRequest(task_id=task_id))

    def logs(self, task_id: str, *, limit: int | None = None) -> builtins.list[LogEntry]:
        answer = self._client.call(
            self._registry.GetTaskLogs, tasks_pb2.GetTaskLogsRequest(task_id=task_id, limit=limit or 0)
        )
        return [LogEntry.from_json(as_json(entry)) for entry in answer.entries]

    def result(self, task_id: str) -> dict[str, Any] | None:
        answer = self._client.call(self._registry.GetTaskResult, tasks_pb2.GetTaskResultRequest(task_id=task_id))
        if answer.status in (tasks_pb2.Task.QUEUED, tasks_pb2.Task.PROCESSING):
            return None
        return as_json(answer)
