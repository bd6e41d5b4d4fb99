"""The subtitle service as the runtime runs it (``mediatasks serve subtitle``)."""

from __future__ import annotations

from functools import partial

from mediatasks.core.worker import JobHandler
from mediatasks.media_service import MediaParts, MediaService
from mediatasks.subtitle.handlers import generate_subtitles, times_text_alone
from mediatasks.subtitle.servicer import SubtitleServicer
from mediatasks.v1 import subtitle_pb2_grpc


def _handlers(parts: MediaParts) -> dict[str, JobHandler]:
    return {"subtitle_generation": partial(generate_subtitles, parts.providers)}


SERVICE = MediaService(
    name="subtitle",
    grpc_service="mediatasks.v1.SubtitleService",
    add_to_server=subtitle_pb2_grpc.add_SubtitleServiceServicer_to_server,
    make_servicer=SubtitleServicer,
    make_handlers=_handlers,
    quick_jobs={"subtitle_generation": times_text_alone},
)
