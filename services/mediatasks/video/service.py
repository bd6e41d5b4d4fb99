"""The video service as the runtime runs it (``mediatasks serve video``)."""

from __future__ import annotations

from functools import partial

from mediatasks.core.worker import JobHandler
from mediatasks.media_service import MediaParts, MediaService
from mediatasks.v1 import video_pb2_grpc
from mediatasks.video import handlers
from mediatasks.video.generation import generate
from mediatasks.video.servicer import VideoServicer


def _handlers(parts: MediaParts) -> dict[str, JobHandler]:
    return {
        "video_caption": handlers.caption,
        "video_img2vid": handlers.slideshow,
        "video_add_audio": handlers.mux_audio,
        "video_analysis": partial(handlers.analyze, parts.providers),
        "video_generation": partial(generate, parts.providers),
    }


SERVICE = MediaService(
    name="video",
    grpc_service="mediatasks.v1.VideoService",
    add_to_server=video_pb2_grpc.add_VideoServiceServicer_to_server,
    make_servicer=VideoServicer,
    make_handlers=_handlers,
)
