"""Seed 003 (SRT + media): multipart ``POST /process/srt_media/`` (and its legacy
``/sync``), ``GET /tasks/{id}/status``, ``GET /tasks/{id}/result``, ``DELETE
/tasks/{id}`` and ``GET /users/me/tasks``, in the note's shapes.

A submit streams its two parts (``srt_file``, ``media_file``) into the artifact store as
they arrive (any size; each is an upload of the caller, cleaned up like any) and makes a
native ``subtitle_generation`` task that aligns the SRT's text to the media's speech; the
result's ``paragraphs`` are the aligned paragraphs. States are the note's (``pending``
before a worker starts), stages ``queued``, ``transcribing``, ``aligning``,
``completed`` (the platform's own stage names pass through otherwise). The note's
``processing_llm`` stage never shows: the platform's alignment runs no LLM step. Errors
answer ``{"detail": "..."}`` with the native HTTP status and the note's messages for 404,
429 and 503 (another owner's task is 404 too: tenancy never says whose a task is).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.api import httpbody_pb2

from mediatasks.core.artifacts import ArtifactStore, guess_content_type
from mediatasks.core.auth import caller
from mediatasks.core.errors import MediaTasksError, invalid_input
from mediatasks.core.settings import Settings
from mediatasks.dialects.answers import UNFINISHED, Registry, answer_or_error, result_of, submit_native, task_json
from mediatasks.dialects.multipart import MultipartReader, boundary_of
from mediatasks.dialects.names import SRT_MEDIA, status_name
from mediatasks.v1 import common_pb2, dialect_srt_media_pb2_grpc, tasks_pb2

log = logging.getLogger(__name__)

TASK_TYPE = "subtitle_generation"
PARTS = ("srt_file", "media_file")
SYNC_LIMIT_SECONDS = 15 * 60
LIST_LIMIT = 200
# The platform's stage names that the note names otherwise.
STAGES = {"waiting_for_worker": "queued", "segmenting": "aligning", "uploading": "aligning"}
_ACTIVE_STATES = ("QUEUED", "PROCESSING")
_FINISHED_STATES = ("COMPLETED", "FAILED", "CANCELLED")


def error_body_for(settings: Settings):
    def error_body(error: MediaTasksError) -> dict[str, Any]:
        messages = {
            "TASK_NOT_FOUND": "Task not found",
            "CONCURRENCY_LIMIT": f"Maximum {settings.owner_concurrency_limit} concurrent tasks per user exceeded",
            "SERVER_BUSY": "Server is busy, please try again later",
        }
        return {"detail": messages.get(error.reason, error.message)}

    return error_body


def stage_of(task: tasks_pb2.Task) -> str:
    if task.status == tasks_pb2.Task.COMPLETED:
        return "completed"
    if task.status == tasks_pb2.Task.QUEUED:
        return "queued"
    return STAGES.get(task.stage, task.stage)


def task_status(task: tasks_pb2.Task) -> dict[str, Any]:
    """``GET /tasks/{id}/status``."""
    native = task_json(task)
    document: dict[str, Any] = {
        "task_id": task.task_id,
        "status": status_name(SRT_MEDIA, task.status),
        "stage": stage_of(task),
        "progress": task.progress,
        "created_at": native.get("created_at"),
        "updated_at": native.get("updated_at"),
    }
    if task.status == tasks_pb2.Task.FAILED:
        document["error_message"] = task.error.message
    return document


def task_result(task: tasks_pb2.Task) -> tuple[int, dict[str, Any]]:
    """``GET /tasks/{id}/result``: 200 with the paragraphs once completed, 202 before,
    200 with the error once failed or cancelled."""
    if task.status in UNFINISHED:
        return 202, {**task_status(task), "detail": "Task is not completed yet"}
    document: dict[str, Any] = {"task_id": task.task_id, "status": status_name(SRT_MEDIA, task.status)}
    if task.status == tasks_pb2.Task.COMPLETED:
        result = result_of(task_json(task))
        document["result"] = {
            "paragraphs": result.get("paragraphs", []),
            "subtitles": result.get("content", ""),
            "format": result.get("format", ""),
        }
    else:
        document["error_message"] = task.error.message
    return 200, document


async def _data_of(messages: AsyncIterator[httpbody_pb2.HttpBody], content_types: list[str]) -> AsyncIterator[bytes]:
    async for message in messages:
        if not content_types:
            content_types.append(message.content_type)
        if message.data:
            yield message.data


class SrtMediaDialect(dialect_srt_media_pb2_grpc.SrtMediaDialectServicer):
    def __init__(self, registry: Registry, artifacts: ArtifactStore, uploads: Any, settings: Settings) -> None:
        self.registry = registry
        self.artifacts = artifacts
        self.uploads = uploads
        self.settings = settings
        self.error_body = error_body_for(settings)

    async def _store_parts(self, messages: AsyncIterator[httpbody_pb2.HttpBody]) -> dict[str, common_pb2.Artifact]:
        """Each part into the artifact store as it streams; all or nothing is kept."""
        owner = caller().owner
        content_types: list[str] = []
        data = _data_of(messages, content_types)
        try:
            head = await anext(data)
        except StopAsyncIteration:
            raise invalid_input("the body is empty: send srt_file and media_file as multipart/form-data") from None

        async def body() -> AsyncIterator[bytes]:
            yield head
            async for chunk in data:
                yield chunk

        reader = MultipartReader(body(), boundary_of(content_types[0] if content_types else ""))
        stored: dict[str, common_pb2.Artifact] = {}
        try:
            while (part := await reader.next_part()) is not None:
                if part.name not in PARTS or part.name in stored:
                    raise invalid_input(
                        f"unexpected form field {part.name!r}: send srt_file and media_file once each", field=part.name
                    )
                filename = part.filename or part.name
                content_type = part.content_type
                if content_type in ("", "application/octet-stream"):
                    content_type = guess_content_type(filename)
                artifact = await self.artifacts.put_stream(
                    part.chunks(),
                    owner=owner,
                    filename=filename,
                    content_type=content_type,
                    role="upload",
                    limit=self.settings.max_upload_bytes,
                )
                stored[part.name] = artifact
                await self.uploads.record_stored(artifact, owner)
            missing = [name for name in PARTS if name not in stored]
            if missing:
                raise invalid_input(f"the form has no {' and no '.join(missing)}", field=missing[0])
        except BaseException:
            if stored:
                await self.artifacts.delete_many([artifact.artifact_id for artifact in stored.values()])
            raise
        return stored

    async def _submit(self, messages) -> tasks_pb2.Task:
        stored = await self._store_parts(messages)
        body = {"media_url": stored["media_file"].artifact_id, "url_srt": stored["srt_file"].artifact_id}
        return await submit_native(self.registry, TASK_TYPE, body)

    async def SubmitSrtMedia(self, request_iterator, context):
        async def call():
            task = await self._submit(request_iterator)
            return 202, {
                "task_id": task.task_id,
                "status": status_name(SRT_MEDIA, task.status),
                "message": "Task created successfully. Use the task_id to track progress.",
            }

        return await answer_or_error(context, call, self.error_body)

    async def RunSrtMedia(self, request_iterator, context):
        async def call():
            task = await self._submit(request_iterator)
            if task.status in UNFINISHED:
                task = await self.registry.wait_for_end(task.task_id, caller().owner, SYNC_LIMIT_SECONDS)
            return task_result(task)

        return await answer_or_error(context, call, self.error_body)

    async def _task(self, task_id: str, context) -> tasks_pb2.Task:
        task = await self.registry.GetTask(tasks_pb2.GetTaskRequest(task_id=task_id), context)
        if task.task_type != TASK_TYPE:
            raise MediaTasksError(grpc.StatusCode.NOT_FOUND, "TASK_NOT_FOUND", f"task {task_id} is no SRT task")
        return task

    async def GetSrtTaskStatus(self, request, context):
        async def call():
            return 200, task_status(await self._task(request.task_id, context))

        return await answer_or_error(context, call, self.error_body)

    async def GetSrtTaskResult(self, request, context):
        async def call():
            return task_result(await self._task(request.task_id, context))

        return await answer_or_error(context, call, self.error_body)

    async def CancelSrtTask(self, request, context):
        async def call():
            await self._task(request.task_id, context)
            cancel = tasks_pb2.CancelTaskRequest(task_id=request.task_id, reason="cancelled by the client")
            task = await self.registry.CancelTask(cancel, context)
            return 200, {**task_status(task), "message": "Task cancelled successfully"}

        return await answer_or_error(context, call, self.error_body)

    async def _listed(self, states: tuple[str, ...], context) -> tuple[list[dict[str, Any]], int]:
        items: list[dict[str, Any]] = []
        total = 0
        for state in states:
            listing = tasks_pb2.ListTasksRequest(task_type=TASK_TYPE, status=state, limit=LIST_LIMIT)
            page = await self.registry.ListTasks(listing, context)
            total += page.total
            items += [task_status(task) for task in page.items]
        return items, total

    async def ListMySrtTasks(self, request, context):
        async def call():
            active, total_active = await self._listed(_ACTIVE_STATES, context)
            completed, total_completed = await self._listed(_FINISHED_STATES, context)
            return 200, {
                "user_id": caller().owner,
                "active_tasks": active,
                "completed_tasks": completed if request.include_completed else [],
                "total_active": total_active,
                "total_completed": total_completed,
            }

        return await answer_or_error(context, call, self.error_body)
