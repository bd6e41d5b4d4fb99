"""Seed 000 (video analysis): ``POST /analyze-video``, ``GET/DELETE /video/tasks/{id}``,
``GET /video/tasks``, in the note's shapes.

A task is a native ``video_analysis`` task. Its answer carries lowercase statuses,
``metadata.current_step`` (the platform's stage), ``result.score`` (the LLM score, which
the product always computes unless the client sends ``llm_score: false``) and failures as
the note's codes (``PROCESSING_TIMEOUT`` for any timeout). Errors answer
``{"detail": {"code": "TASK_NOT_FOUND", "message": ...}}`` with the native HTTP status
(404, 410 ``TASK_EXPIRED``, 400, 429, 503).
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import json_format

from mediatasks.core.errors import MediaTasksError
from mediatasks.dialects.answers import Registry, answer_or_error, link_of, result_of, submit_native, task_json
from mediatasks.dialects.names import ANALYSIS_STEPS, LOWERCASE, TIMEOUT_REASONS, native_status, status_name
from mediatasks.v1 import dialect_video_analysis_pb2_grpc, tasks_pb2

TASK_TYPE = "video_analysis"
DEFAULT_LIMIT = 20


def error_body(error: MediaTasksError) -> dict[str, Any]:
    return {"detail": {"code": error.reason, "message": error.message}}


def native_body(request: Any) -> dict[str, Any]:
    """The native AnalyzeVideo body of a seed 000 submit."""
    body: dict[str, Any] = {
        "url_video": request.video_url,
        "llm_score": request.llm_score if request.HasField("llm_score") else True,
    }
    for name in ("subtitles_url", "frame_count", "transcribe", "prompt", "webhook_url", "webhook_secret", "priority"):
        value = getattr(request, name)
        if value:
            body["url_srt" if name == "subtitles_url" else name] = value
    if request.target_aspect_ratios:
        body["target_aspect_ratios"] = list(request.target_aspect_ratios)
    if request.events:
        body["webhook_events"] = list(request.events)
    if request.HasField("metadata"):
        body["metadata"] = json_format.MessageToDict(request.metadata)
    return body


def analysis_result(task: dict[str, Any]) -> dict[str, Any]:
    """result.score and the rest of the LLM score at the top, the probe report beside."""
    result = result_of(task)
    report = dict(result.get("report", {}).get("fields") or {})
    scored = report.pop("llm_score", None) or {}
    return {
        **scored,
        "score": scored.get("score"),
        "analysis": report,
        "frames": [link_of(frame) for frame in result.get("frames", [])],
    }


def seed_task(task: tasks_pb2.Task) -> dict[str, Any]:
    """A native task in seed 000's shape."""
    native = task_json(task)
    metadata = dict(native.get("metadata") or {})
    metadata["current_step"] = ANALYSIS_STEPS.get(task.stage, task.stage)
    document: dict[str, Any] = {
        "task_id": task.task_id,
        "status": status_name(LOWERCASE, task.status),
        "progress": task.progress,
        "created_at": native.get("created_at"),
        "updated_at": native.get("updated_at"),
        "estimated_completion": native.get("estimated_completion"),
        "metadata": metadata,
    }
    if task.status == tasks_pb2.Task.COMPLETED:
        document["result"] = analysis_result(native)
        duration = document["result"]["analysis"].get("duration_seconds")
        if duration is not None:
            metadata["video_duration"] = duration
    if task.status == tasks_pb2.Task.FAILED:
        code = "PROCESSING_TIMEOUT" if task.error.reason in TIMEOUT_REASONS else task.error.reason
        document["error"] = task.error.message
        document["error_code"] = code
    return document


class VideoAnalysisDialect(dialect_video_analysis_pb2_grpc.VideoAnalysisDialectServicer):
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def AnalyzeVideo(self, request, context):
        async def call():
            task = await submit_native(self.registry, TASK_TYPE, native_body(request))
            return 202, seed_task(task)

        return await answer_or_error(context, call, error_body)

    async def _own(self, task_id: str, context) -> tasks_pb2.Task:
        task = await self.registry.GetTask(tasks_pb2.GetTaskRequest(task_id=task_id), context)
        if task.task_type != TASK_TYPE:
            # Another product's task is no video analysis: unknown here, as the seed says.
            raise MediaTasksError(
                grpc.StatusCode.NOT_FOUND, "TASK_NOT_FOUND", f"task {task_id} is no video analysis task"
            )
        return task

    async def GetVideoTask(self, request, context):
        async def call():
            return 200, seed_task(await self._own(request.task_id, context))

        return await answer_or_error(context, call, error_body)

    async def CancelVideoTask(self, request, context):
        async def call():
            await self._own(request.task_id, context)
            cancel = tasks_pb2.CancelTaskRequest(task_id=request.task_id, reason="cancelled by the client")
            return 200, seed_task(await self.registry.CancelTask(cancel, context))

        return await answer_or_error(context, call, error_body)

    async def ListVideoTasks(self, request, context):
        async def call():
            listing = tasks_pb2.ListTasksRequest(
                task_type=TASK_TYPE,
                status=native_status(LOWERCASE, request.status) if request.status else "",
                limit=request.limit or DEFAULT_LIMIT,
                offset=request.offset,
                sort=request.sort,
            )
            page = await self.registry.ListTasks(listing, context)
            return 200, {
                "total": page.total,
                "limit": page.limit,
                "offset": page.offset,
                "items": [seed_task(task) for task in page.items],
            }

        return await answer_or_error(context, call, error_body)
