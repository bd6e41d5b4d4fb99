"""One entry per job type: its method name on the client, REST route, gRPC method and the
file inputs it takes (a local path is uploaded first; a URL or artifact id passes as is).

The SDK's namespaces (``client.videos.caption(...)``) and the CLI's ``submit <type>`` are
both built from this table, so a new job type is one entry here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_ARTIFACT_ID = re.compile(r"^[0-9a-f]{32}$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class FileInput:
    """A job argument that names a file: ``url_field`` gets its URL or artifact id;
    ``text_field``, when set, takes the argument's text inline when it is neither."""

    url_field: str
    text_field: str = ""


@dataclass(frozen=True)
class JobMethod:
    namespace: str
    name: str
    task_type: str
    path: str
    grpc_service: str
    grpc_method: str
    request_message: str
    files: dict[str, FileInput] = field(default_factory=dict)
    # A list argument of files, each becoming ``{item_field: ref}`` (slideshow images).
    file_list: tuple[str, str] = ("", "")


JOBS: tuple[JobMethod, ...] = (
    JobMethod(
        "images",
        "generate",
        "image_generation",
        "/api/v1/media/images/generate",
        "mediatasks.v1.ImageService",
        "GenerateImage",
        "mediatasks.v1.GenerateImageRequest",
    ),
    JobMethod(
        "images",
        "transform",
        "image_transform",
        "/api/v1/media/images/transform",
        "mediatasks.v1.ImageService",
        "TransformImage",
        "mediatasks.v1.TransformImageRequest",
        {"image": FileInput("image_url")},
    ),
    JobMethod(
        "videos",
        "generate",
        "video_generation",
        "/api/v1/media/videos/generate",
        "mediatasks.v1.VideoService",
        "GenerateVideo",
        "mediatasks.v1.GenerateVideoRequest",
        {"image": FileInput("image_url")},
    ),
    JobMethod(
        "videos",
        "caption",
        "video_caption",
        "/api/v1/media/videos/caption",
        "mediatasks.v1.VideoService",
        "BurnCaptions",
        "mediatasks.v1.BurnCaptionsRequest",
        {"video": FileInput("video_url"), "subtitles": FileInput("subtitles_url", text_field="subtitles")},
    ),
    JobMethod(
        "videos",
        "img2vid",
        "video_img2vid",
        "/api/v1/media/videos/img2vid",
        "mediatasks.v1.VideoService",
        "ImagesToVideo",
        "mediatasks.v1.ImagesToVideoRequest",
        file_list=("images", "image_url"),
    ),
    JobMethod(
        "videos",
        "add_audio",
        "video_add_audio",
        "/api/v1/media/videos/add-audio",
        "mediatasks.v1.VideoService",
        "AddAudio",
        "mediatasks.v1.AddAudioRequest",
        {"video": FileInput("video_url"), "audio": FileInput("audio_url")},
    ),
    JobMethod(
        "videos",
        "analyze",
        "video_analysis",
        "/api/v1/media/videos/analyze",
        "mediatasks.v1.VideoService",
        "AnalyzeVideo",
        "mediatasks.v1.AnalyzeVideoRequest",
        {"video": FileInput("video_url"), "subtitles": FileInput("subtitles_url")},
    ),
    JobMethod(
        "audio",
        "transcribe",
        "audio_transcription",
        "/api/v1/media/audio/transcribe",
        "mediatasks.v1.AudioService",
        "Transcribe",
        "mediatasks.v1.TranscribeRequest",
        {"audio": FileInput("audio_url")},
    ),
    JobMethod(
        "subtitles",
        "generate",
        "subtitle_generation",
        "/api/v1/media/subtitles/generate",
        "mediatasks.v1.SubtitleService",
        "GenerateSubtitles",
        "mediatasks.v1.GenerateSubtitlesRequest",
        {"media": FileInput("media_url"), "subtitles": FileInput("subtitles_url")},
    ),
)
BY_TASK_TYPE = {job.task_type: job for job in JOBS}


def job_for(task_type: str) -> JobMethod:
    """The entry of a task type (``video_caption``) or a ``namespace.name`` (``videos.caption``)."""
    if task_type in BY_TASK_TYPE:
        return BY_TASK_TYPE[task_type]
    for job in JOBS:
        if f"{job.namespace}.{job.name}" == task_type:
            return job
    known = ", ".join(sorted(BY_TASK_TYPE))
    raise ValueError(f"unknown task type {task_type!r}; one of: {known}")


def is_remote(value: str) -> bool:
    """A URL or an artifact id: something the server fetches itself."""
    return value.startswith(("https://", "http://")) or bool(_ARTIFACT_ID.match(value))


def local_file(value: Any) -> Path | None:
    """The path a job argument names, if it is an existing local file."""
    if isinstance(value, Path):
        if not value.is_file():
            raise FileNotFoundError(value)
        return value
    if isinstance(value, str) and not is_remote(value) and "\n" not in value and os.path.isfile(value):
        return Path(value)
    return None


@dataclass
class PreparedRequest:
    """A job request body with the local files it still has to upload (field path -> file)."""

    body: dict[str, Any]
    uploads: list[tuple[tuple[str | int, ...], Path]]

    def fill(self, location: tuple[str | int, ...], artifact_id: str) -> None:
        target: Any = self.body
        for key in location[:-1]:
            target = target[key]
        target[location[-1]] = artifact_id


def prepare(job: JobMethod, arguments: dict[str, Any]) -> PreparedRequest:
    """The request body of ``job`` from SDK keyword arguments: file arguments become their
    URL fields (or are marked for upload), everything else is a request field as named in
    the proto (``priority``, ``metadata``, ``format``...)."""
    body: dict[str, Any] = {}
    uploads: list[tuple[tuple[str | int, ...], Path]] = []
    for name, value in arguments.items():
        if value is None:
            continue
        if name in job.files:
            spec = job.files[name]
            path = local_file(value)
            if path is not None:
                body[spec.url_field] = ""
                uploads.append(((spec.url_field,), path))
            elif spec.text_field and isinstance(value, str) and not is_remote(value):
                body[spec.text_field] = value
            else:
                body[spec.url_field] = str(value)
        elif job.file_list[0] and name == job.file_list[0]:
            list_field, item_field = job.file_list
            items: list[dict[str, Any]] = []
            for index, item in enumerate(value):
                entry = dict(item) if isinstance(item, dict) else {item_field: item}
                path = local_file(entry.get(item_field))
                if path is not None:
                    uploads.append(((list_field, index, item_field), path))
                else:
                    entry[item_field] = str(entry.get(item_field, ""))
                items.append(entry)
            body[list_field] = items
        else:
            body[name] = value
    return PreparedRequest(body, uploads)
