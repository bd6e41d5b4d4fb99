"""The audio service as the runtime runs it (``mediatasks serve audio``)."""

from __future__ import annotations

from functools import partial

from mediatasks.audio.servicer import AudioServicer
from mediatasks.audio.transcription import transcribe_job
from mediatasks.core.worker import JobHandler
from mediatasks.media_service import MediaParts, MediaService
from mediatasks.v1 import audio_pb2_grpc


def _handlers(parts: MediaParts) -> dict[str, JobHandler]:
    return {"audio_transcription": partial(transcribe_job, parts.providers)}


SERVICE = MediaService(
    name="audio",
    grpc_service="mediatasks.v1.AudioService",
    add_to_server=audio_pb2_grpc.add_AudioServiceServicer_to_server,
    make_servicer=AudioServicer,
    make_handlers=_handlers,
)
