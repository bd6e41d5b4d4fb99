"""Each dialect's answers from native tasks: names, casing, times, results, error bodies."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest
from google.protobuf import struct_pb2
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.settings import Settings
from mediatasks.dialects import async_video, srt_media, video_analysis
from mediatasks.dialects.answers import http_status_of, millis_between
from mediatasks.dialects.names import LOWERCASE, RUNPOD, SRT_MEDIA, native_status
from mediatasks.v1 import common_pb2, subtitle_pb2, tasks_pb2, video_pb2
from mediatasks.v1 import dialect_video_analysis_pb2 as pb

T0 = dt.datetime(2026, 1, 15, 10, 30, tzinfo=dt.UTC)


def task(task_type: str, status: int, result=None, **fields) -> tasks_pb2.Task:
    message = tasks_pb2.Task(task_id="550e8400-e29b-41d4-a716-446655440000", task_type=task_type, status=status)
    message.created_at.FromDatetime(T0)
    message.updated_at.FromDatetime(T0 + dt.timedelta(seconds=9))
    if status != tasks_pb2.Task.QUEUED:
        message.started_at.FromDatetime(T0 + dt.timedelta(seconds=2))
    if status in (tasks_pb2.Task.COMPLETED, tasks_pb2.Task.FAILED, tasks_pb2.Task.CANCELLED):
        message.completed_at.FromDatetime(T0 + dt.timedelta(seconds=9))
    if result is not None:
        message.output.result.Pack(result)
    for name, value in fields.items():
        if name == "error":
            message.error.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def analysis_result() -> video_pb2.VideoAnalysisResult:
    fields = struct_pb2.Struct()
    fields.update({"duration_seconds": 45.2, "llm_score": {"score": 8.7, "creative_score": {"hook": 9}}})
    result = video_pb2.VideoAnalysisResult(report=common_pb2.Report(fields=fields))
    result.frames.add(artifact_id="f1", url="/api/v1/media/artifacts/f1")
    return result


def test_every_native_state_has_a_name_in_every_dialect():
    for names in (LOWERCASE, RUNPOD, SRT_MEDIA):
        assert set(names) == set(tasks_pb2.Task.Status.values()) - {tasks_pb2.Task.STATUS_UNSPECIFIED}
    assert SRT_MEDIA[tasks_pb2.Task.QUEUED] == "pending" and RUNPOD[tasks_pb2.Task.PROCESSING] == "IN_PROGRESS"


def test_list_filter_takes_the_dialect_names_only():
    assert native_status(LOWERCASE, "completed") == "COMPLETED"
    with pytest.raises(MediaTasksError) as caught:
        native_status(LOWERCASE, "COMPLETED")
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT and "cancelled" in caught.value.message


def test_seed000_completed_task_has_its_score_on_top():
    document = video_analysis.seed_task(
        task("video_analysis", tasks_pb2.Task.COMPLETED, analysis_result(), progress=100, stage="encoding")
    )
    assert document["status"] == "completed" and document["progress"] == 100
    assert document["result"]["score"] == 8.7 and document["result"]["creative_score"] == {"hook": 9.0}
    assert document["result"]["analysis"] == {"duration_seconds": 45.2}
    assert document["result"]["frames"] == ["/api/v1/media/artifacts/f1"]
    assert document["metadata"]["current_step"] == "encoding" and document["metadata"]["video_duration"] == 45.2
    assert document["created_at"] == "2026-01-15T10:30:00Z"


def test_seed000_timeouts_fail_as_processing_timeout():
    error = common_pb2.TaskError(code="DEADLINE_EXCEEDED", reason="FFMPEG_TIMEOUT", message="ffmpeg ran too long")
    document = video_analysis.seed_task(task("video_analysis", tasks_pb2.Task.FAILED, error=error))
    assert document["status"] == "failed" and document["error_code"] == "PROCESSING_TIMEOUT"
    assert document["error"] == "ffmpeg ran too long" and "result" not in document


def test_seed000_submit_scores_unless_told_not_to():
    body = video_analysis.native_body(pb.AnalyzeVideoDialectRequest(video_url="v", events=["task.failed"]))
    assert body == {"url_video": "v", "llm_score": True, "webhook_events": ["task.failed"]}
    assert (
        video_analysis.native_body(pb.AnalyzeVideoDialectRequest(video_url="v", llm_score=False))["llm_score"] is False
    )


def test_seed002_job_states_times_and_videos():
    video = common_pb2.Artifact(artifact_id="a", url="/api/v1/media/artifacts/a", filename="out.mp4")
    done = async_video.job_status(task("video_caption", tasks_pb2.Task.COMPLETED, video_pb2.VideoResult(video=video)))
    assert done == {
        "id": "550e8400-e29b-41d4-a716-446655440000",
        "status": "COMPLETED",
        "delayTime": 2000,
        "executionTime": 7000,
        "output": {
            "videos": [{"id": "video_1", "video_url": "/api/v1/media/artifacts/a", "filename": "out.mp4"}],
            "message": "Video captioned successfully",
        },
    }
    queued = async_video.job_status(task("video_caption", tasks_pb2.Task.QUEUED))
    assert queued["status"] == "IN_QUEUE" and "executionTime" not in queued and queued["delayTime"] > 0
    status, result = async_video.job_result(task("video_caption", tasks_pb2.Task.PROCESSING))
    assert status == 202 and result["message"] == "Job is in progress" and result["statusUrl"].startswith("/video/job/")
    failed = task("video_caption", tasks_pb2.Task.FAILED, error=common_pb2.TaskError(message="404 Not Found"))
    assert async_video.job_status(failed)["error"] == "404 Not Found"


def test_seed002_submitted_answer():
    answer = async_video.submitted(task("video_img2vid", tasks_pb2.Task.QUEUED))
    job = "550e8400-e29b-41d4-a716-446655440000"
    assert answer["jobId"] == job and answer["status"] == "IN_QUEUE"
    assert answer["statusUrl"] == f"/video/job/{job}" and answer["resultUrl"] == f"/video/job/{job}/result"
    assert answer["estimatedTime"]


def test_seed003_status_result_and_errors():
    result = subtitle_pb2.SubtitleResult(format="srt", content="1\n...")
    result.paragraphs.add(start=0.0, end=1.5, text="Hello")
    status, document = srt_media.task_result(task("subtitle_generation", tasks_pb2.Task.COMPLETED, result))
    assert status == 200 and document["status"] == "completed"
    assert document["result"]["paragraphs"] == [{"start": 0.0, "end": 1.5, "text": "Hello", "cues": []}]
    pending = srt_media.task_status(task("subtitle_generation", tasks_pb2.Task.QUEUED, stage="waiting_for_worker"))
    assert pending["status"] == "pending" and pending["stage"] == "queued"
    assert srt_media.task_result(task("subtitle_generation", tasks_pb2.Task.PROCESSING))[0] == 202

    body = srt_media.error_body_for(Settings(owner_concurrency_limit=5))
    limit = MediaTasksError(grpc.StatusCode.RESOURCE_EXHAUSTED, "CONCURRENCY_LIMIT", "owner at limit")
    assert body(limit) == {"detail": "Maximum 5 concurrent tasks per user exceeded"} and http_status_of(limit) == 429
    busy = MediaTasksError(grpc.StatusCode.UNAVAILABLE, "SERVER_BUSY", "queue full", http_status=503)
    assert body(busy) == {"detail": "Server is busy, please try again later"} and http_status_of(busy) == 503


def test_http_status_follows_the_native_mapping():
    expired = MediaTasksError(grpc.StatusCode.NOT_FOUND, "TASK_EXPIRED", "gone", http_status=410)
    assert http_status_of(expired) == 410
    assert http_status_of(MediaTasksError(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_INPUT", "bad")) == 400
    assert http_status_of(MediaTasksError(grpc.StatusCode.INTERNAL, "INTERNAL", "oops")) == 500


def test_millis_between():
    assert millis_between("2026-01-15T10:30:00Z", "2026-01-15T10:30:01.5Z") == 1500
    assert millis_between(None, None) == 0
