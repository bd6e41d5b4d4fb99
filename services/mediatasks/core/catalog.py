"""The catalog of task types: the one list every other place derives from.

Each :class:`TaskKind` says which media service validates and runs a task type, the RPC
that submits it, its request and result messages, and the provider operations its jobs may
route through :mod:`mediatasks.providers`. From it come the JetStream subjects and
consumers (:mod:`mediatasks.core.topology`), the services' names and addresses
(:mod:`mediatasks.core.settings`), the provider operations and the providers each service
publishes (:mod:`mediatasks.providers`), the registry's batch routing, and the check that a
service's job handlers are exactly its task types (:func:`check_handlers`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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

# The provider operation that is not a task type of its own: a subtitle job translating.
TRANSLATION = "translation"


@dataclass(frozen=True)
class TaskKind:
    task_type: str
    service: str
    stub: type
    method: str
    request: type[Message]
    result: type[Message]
    # What its jobs may ask a provider to do (names of ``providers.base`` operations).
    provider_operations: tuple[str, ...] = ()


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
            ("image_generation",),
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
            ("video_generation",),
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
            ("video_analysis", "audio_transcription"),
        ),
        TaskKind(
            "audio_transcription",
            "audio",
            audio_pb2_grpc.AudioServiceStub,
            "Transcribe",
            audio_pb2.TranscribeRequest,
            audio_pb2.TranscriptionResult,
            ("audio_transcription",),
        ),
        TaskKind(
            "subtitle_generation",
            "subtitle",
            subtitle_pb2_grpc.SubtitleServiceStub,
            "GenerateSubtitles",
            subtitle_pb2.GenerateSubtitlesRequest,
            subtitle_pb2.SubtitleResult,
            (TRANSLATION, "audio_transcription"),
        ),
    )
}


def kind_of(task_type: str) -> TaskKind:
    try:
        return KINDS[task_type]
    except KeyError:
        raise invalid_input(f"unknown task_type {task_type!r}; one of {', '.join(KINDS)}", field="task_type") from None


# Task types a worker declares at start (background types: :mod:`mediatasks.worker`) are
# not in this catalog: the registry keeps them. Their names become NATS subjects and
# consumer names, so they are held to what both accept.
_DECLARED_NAME = re.compile(r"^[a-z][a-z0-9_]{1,62}$")


def check_declared_type_name(name: str) -> None:
    """Refuse a name a worker may not declare: not ``[a-z][a-z0-9_]{1,62}``, or a media type."""
    if not _DECLARED_NAME.fullmatch(name or ""):
        raise invalid_input(
            f"task type name {name!r} must be 2 to 63 lower-case letters, digits or underscores, starting with a letter",
            field="name",
        )
    if name in KINDS:
        raise invalid_input(f"{name!r} is a media task type; declare another name", field="name")


def submit_rpc(task_type: str) -> tuple[str, type, str, type[Message]]:
    kind = kind_of(task_type)
    return kind.service, kind.stub, kind.method, kind.request


# Media services in the order they are started and listed.
MEDIA_SERVICES: tuple[str, ...] = tuple(dict.fromkeys(kind.service for kind in KINDS.values()))
# Every provider operation some task type may run.
PROVIDER_OPERATIONS: tuple[str, ...] = tuple(
    dict.fromkeys(op for kind in KINDS.values() for op in kind.provider_operations)
)


def task_types_of(service: str) -> tuple[str, ...]:
    """The task types ``service`` validates and runs."""
    return tuple(kind.task_type for kind in KINDS.values() if kind.service == service)


def provider_operations_of(service: str) -> tuple[str, ...]:
    """The provider operations the jobs of ``service`` may call."""
    return tuple(
        dict.fromkeys(op for kind in KINDS.values() if kind.service == service for op in kind.provider_operations)
    )


def kind_for_request(request: Message) -> TaskKind:
    """The task kind whose submit RPC takes ``request`` (request types are unique)."""
    return _BY_REQUEST[type(request)]


def check_handlers(service: str, handled: Iterable[str]) -> None:
    """Refuse a service whose job handlers are not exactly its catalog task types: a
    type without a handler would sit in JetStream for ever; a handler without a type
    would never be fed (no consumer, no submit path)."""
    expected, got = set(task_types_of(service)), set(handled)
    if expected != got:
        missing, unknown = sorted(expected - got), sorted(got - expected)
        raise RuntimeError(
            f"the {service} service's job handlers differ from the catalog "
            f"(no handler for {missing or 'none'}; handlers for unknown task types {unknown or 'none'})"
        )


_BY_REQUEST: dict[type[Message], TaskKind] = {kind.request: kind for kind in KINDS.values()}
if len(_BY_REQUEST) != len(KINDS):
    raise RuntimeError("every task type needs a request message of its own")
