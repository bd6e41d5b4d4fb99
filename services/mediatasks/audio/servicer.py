"""AudioService: validates transcription requests and queues them."""

from __future__ import annotations

from mediatasks.audio.formats import TRANSCRIPT_FORMATS
from mediatasks.audio.transcription import check_request
from mediatasks.core.errors import invalid_input
from mediatasks.media_service import MediaParts
from mediatasks.v1 import audio_pb2_grpc


class AudioServicer(audio_pb2_grpc.AudioServiceServicer):
    def __init__(self, parts: MediaParts) -> None:
        self.parts = parts

    async def Transcribe(self, request, context):
        await self.parts.submitter.check_input(request.audio_url, field="audio_url")
        if request.response_format and request.response_format.lower() not in TRANSCRIPT_FORMATS:
            raise invalid_input(
                f"response_format must be one of {', '.join(TRANSCRIPT_FORMATS)}", field="response_format"
            )
        provider = check_request(request, self.parts.providers)
        return await self.parts.submitter.submit(request, context, provider=provider, model=request.model)
