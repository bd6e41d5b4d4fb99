"""Which service, RPC and messages belong to each task type."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message

from mediatasks.core.errors import invalid_input
from mediatasks.v1 import (
    audio_pb2,
    audio_pb2_grpc,
    image_pb2,
    image_pb2_grpc,
    subtitle_pb2,
    subtitle_pb2_grpc,
    video_pb2,
    video_pb2_grpc,
)


@dataclass(frozen=True)
class TaskKind:
    task_type: str
    service: str
    stub: type
    method: str
    request: type[Message]
    result: type[Message]


KINDS: dict[str, TaskKind] = {
    kind.task_type: kind
    for kind in (
        TaskKind(
            "image_generation",
            "image",
            image_pb2_grpc.ImageServiceStub,
            "GenerateImage",
            image_pb2.GenerateImageRequest,
            image_pb2.GenerateImageResult,
        ),
        TaskKind(
            "image_transform",
            "image",
            image_pb2_grpc.ImageServiceStub,
            "TransformImage",
            image_pb2.TransformImageRequest,
            image_pb2.TransformImageResult,
        ),
        TaskKind(
            "video_generation",
            "video",
            video_pb2_grpc.VideoServiceStub,
            "GenerateVideo",
            video_pb2.GenerateVideoRequest,
            video_pb2.VideoResult,
        ),
        TaskKind(
            "video_caption",
            "video",
            video_pb2_grpc.VideoServiceStub,
            "BurnCaptions",
            video_pb2.BurnCaptionsRequest,
            video_pb2.VideoResult,
        ),
        TaskKind(
            "video_img2vid",
            "video",
            video_pb2_grpc.VideoServiceStub,
            "ImagesToVideo",
            video_pb2.ImagesToVideoRequest,
            video_pb2.VideoResult,
        ),
        TaskKind(
            "video_add_audio",
            "video",
            video_pb2_grpc.VideoServiceStub,
            "AddAudio",
            video_pb2.AddAudioRequest,
            video_pb2.VideoResult,
        ),
        TaskKind(
            "video_analysis",
            "video",
            video_pb2_grpc.VideoServiceStub,
            "AnalyzeVideo",
            video_pb2.AnalyzeVideoRequest,
            video_pb2.VideoAnalysisResult,
        ),
        TaskKind(
            "audio_transcription",
            "audio",
            audio_pb2_grpc.AudioServiceStub,
            "Transcribe",
            audio_pb2.TranscribeRequest,
            audio_pb2.TranscriptionResult,
        ),
        TaskKind(
            "subtitle_generation",
            "subtitle",
            subtitle_pb2_grpc.SubtitleServiceStub,
            "GenerateSubtitles",
            subtitle_pb2.GenerateSubtitlesRequest,
            subtitle_pb2.SubtitleResult,
        ),
    )
}


def kind_of(task_type: str) -> TaskKind:
    try:
        return KINDS[task_type]
    except KeyError:
        raise invalid_input(f"unknown task_type {task_type!r}; one of {', '.join(KINDS)}", field="task_type") from None


def submit_rpc(task_type: str) -> tuple[str, type, str, type[Message]]:
    kind = kind_of(task_type)
    return kind.service, kind.stub, kind.method, kind.request
