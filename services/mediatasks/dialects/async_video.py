"""Seed 002 (async video orchestrator): ``POST /video/{caption,img2vid,addaudio}/async``,
the synchronous ``POST /video/{caption,img2vid,addaudio}``, ``GET /video/job/{id}``,
``GET /video/job/{id}/result`` and ``POST /job/{id}/cancel``, in the note's shapes.

A job is a native ``video_caption``, ``video_img2vid`` or ``video_add_audio`` task; its
``jobId`` is the task id. States are RunPod's (``IN_QUEUE``, ``IN_PROGRESS``,
``COMPLETED``, ``FAILED``, ``CANCELLED``), times are milliseconds (``delayTime``: created
to started; ``executionTime``: started to finished), outputs are ``output.videos[]`` and
errors a string: ``{"error": "..."}`` with the native HTTP status.

The synchronous endpoints hold the answer until the job ends, for the note's 15 minutes
at most (the registry's wait on the task's events; the gateway's route allows 16), then
answer the job as ``GET /video/job/{id}`` does: finished, or still running.
"""

from __future__ import annotations

from typing import Any

import grpc

from mediatasks.core.auth import caller
from mediatasks.core.errors import MediaTasksError
from mediatasks.dialects.answers import (
    UNFINISHED,
    Registry,
    answer_or_error,
    link_of,
    millis_between,
    refuse_unsupported,
    result_of,
    submit_native,
    supports,
    task_json,
)
from mediatasks.dialects.names import RUNPOD, status_name
from mediatasks.v1 import dialect_async_video_pb2_grpc, tasks_pb2

SYNC_LIMIT_SECONDS = 15 * 60
CAPTION, IMG2VID, ADD_AUDIO = "video_caption", "video_img2vid", "video_add_audio"
JOB_TYPES = (CAPTION, IMG2VID, ADD_AUDIO)
DONE_MESSAGES = {
    CAPTION: "Video captioned successfully",
    IMG2VID: "Images converted successfully",
    ADD_AUDIO: "Audio added successfully",
}
SUBMITTED = "Job submitted successfully. Use statusUrl to check progress."


def error_body(error: MediaTasksError) -> dict[str, Any]:
    return {"error": error.message}


def _outputs(task_type: str, request: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The output naming fields every job takes: passed on where the native request has
    them, refused (400 naming the field) where it has not yet."""
    for name in ("output_filename", "path", "webhook_url"):
        value = getattr(request, name)
        refuse_unsupported(task_type, name, value)
        if value:
            body[name] = value
    return body


def caption_body(request: Any) -> dict[str, Any]:
    return _outputs(CAPTION, request, {"url_video": request.url_video, "url_srt": request.url_srt})


def add_audio_body(request: Any) -> dict[str, Any]:
    return _outputs(ADD_AUDIO, request, {"url_video": request.url_video, "url_audio": request.url_audio})


def img2vid_body(request: Any) -> dict[str, Any]:
    images = [{"id": image.id, "image_url": image.image_url, "duracao": image.duracao} for image in request.images]
    body: dict[str, Any] = {"images": images}
    # The note's img2vid makes one video per image (ids echoed); the native slideshow does
    # when it has that mode.
    if supports(IMG2VID, "one_video_per_image"):
        body["one_video_per_image"] = True
    return _outputs(IMG2VID, request, body)


def videos_of(task: dict[str, Any]) -> list[dict[str, Any]]:
    """``output.videos[]``: each produced video with the client's id when it has one."""
    result = result_of(task)
    produced = result.get("videos") or ([{"video": result["video"]}] if "video" in result else [])
    videos = []
    for index, item in enumerate(produced):
        artifact = item.get("video", item)
        videos.append(
            {
                "id": item.get("id") or f"video_{index + 1}",
                "video_url": link_of(artifact),
                "filename": artifact.get("filename", ""),
            }
        )
    return videos


def job_status(task: tasks_pb2.Task) -> dict[str, Any]:
    """``GET /video/job/{id}``."""
    native = task_json(task)
    document: dict[str, Any] = {
        "id": task.task_id,
        "status": status_name(RUNPOD, task.status),
        "delayTime": millis_between(native.get("created_at"), native.get("started_at")),
    }
    if task.HasField("started_at"):
        document["executionTime"] = millis_between(native.get("started_at"), native.get("completed_at"))
    if task.status == tasks_pb2.Task.COMPLETED:
        document["output"] = {"videos": videos_of(native), "message": DONE_MESSAGES.get(task.task_type, "Done")}
    elif task.status == tasks_pb2.Task.FAILED:
        document["error"] = task.error.message
    return document


def submitted(task: tasks_pb2.Task) -> dict[str, Any]:
    document = {
        "jobId": task.task_id,
        "status": status_name(RUNPOD, task.status),
        "statusUrl": f"/video/job/{task.task_id}",
        "resultUrl": f"/video/job/{task.task_id}/result",
        "message": SUBMITTED,
    }
    if task.task_type == IMG2VID:
        document["estimatedTime"] = "2-10 minutes depending on image count"
    return document


def job_result(task: tasks_pb2.Task) -> tuple[int, dict[str, Any]]:
    """``GET /video/job/{id}/result``: 202 while the job runs, 200 once it has ended."""
    status = job_status(task)
    if task.status in UNFINISHED:
        return 202, {
            "jobId": task.task_id,
            "status": status["status"],
            "message": "Job is in queue" if task.status == tasks_pb2.Task.QUEUED else "Job is in progress",
            "statusUrl": f"/video/job/{task.task_id}",
        }
    document: dict[str, Any] = {"jobId": task.task_id, "status": status["status"]}
    if "output" in status:
        document["result"] = status["output"]
    if "error" in status:
        document["error"] = status["error"]
    document["delayTime"] = status["delayTime"]
    document["executionTime"] = status.get("executionTime", 0)
    return 200, document


class AsyncVideoDialect(dialect_async_video_pb2_grpc.AsyncVideoDialectServicer):
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def _submit(self, context, task_type: str, build, request, *, wait: bool):
        async def call():
            task = await submit_native(self.registry, task_type, build(request))
            if not wait:
                return 202, submitted(task)
            if task.status in UNFINISHED:
                task = await self.registry.wait_for_end(task.task_id, caller().owner, SYNC_LIMIT_SECONDS)
            return (202 if task.status in UNFINISHED else 200), job_status(task)

        return await answer_or_error(context, call, error_body)

    async def SubmitCaption(self, request, context):
        return await self._submit(context, CAPTION, caption_body, request, wait=False)

    async def SubmitImg2Vid(self, request, context):
        return await self._submit(context, IMG2VID, img2vid_body, request, wait=False)

    async def SubmitAddAudio(self, request, context):
        return await self._submit(context, ADD_AUDIO, add_audio_body, request, wait=False)

    async def RunCaption(self, request, context):
        return await self._submit(context, CAPTION, caption_body, request, wait=True)

    async def RunImg2Vid(self, request, context):
        return await self._submit(context, IMG2VID, img2vid_body, request, wait=True)

    async def RunAddAudio(self, request, context):
        return await self._submit(context, ADD_AUDIO, add_audio_body, request, wait=True)

    async def _job(self, job_id: str, context) -> tasks_pb2.Task:
        task = await self.registry.GetTask(tasks_pb2.GetTaskRequest(task_id=job_id), context)
        if task.task_type not in JOB_TYPES:
            raise MediaTasksError(grpc.StatusCode.NOT_FOUND, "TASK_NOT_FOUND", f"job {job_id} not found")
        return task

    async def GetJob(self, request, context):
        async def call():
            return 200, job_status(await self._job(request.job_id, context))

        return await answer_or_error(context, call, error_body)

    async def GetJobResult(self, request, context):
        async def call():
            return job_result(await self._job(request.job_id, context))

        return await answer_or_error(context, call, error_body)

    async def CancelJob(self, request, context):
        async def call():
            await self._job(request.job_id, context)
            cancel = tasks_pb2.CancelTaskRequest(task_id=request.job_id, reason="cancelled by the client")
            await self.registry.CancelTask(cancel, context)
            return 200, {"message": "Job cancelled successfully", "jobId": request.job_id}

        return await answer_or_error(context, call, error_body)
