"""SubtitleService: validates subtitle requests and queues them."""

from __future__ import annotations

from mediatasks.core.errors import invalid_input
from mediatasks.media.cues import normalize_format
from mediatasks.media_service import MediaParts
from mediatasks.subtitle.rules import check_timing_mode, rules_of
from mediatasks.subtitle.speech import check_speech_request
from mediatasks.subtitle.translation import check_translation_request, target_language
from mediatasks.v1 import subtitle_pb2_grpc

MAX_TEXT_CHARS = 200_000


class SubtitleServicer(subtitle_pb2_grpc.SubtitleServiceServicer):
    def __init__(self, parts: MediaParts) -> None:
        self.parts = parts

    async def GenerateSubtitles(self, request, context):
        if not (request.text.strip() or request.media_url or request.subtitles_url):
            raise invalid_input("give text, media_url, or subtitles_url with media_url", field="text")
        if request.text and request.subtitles_url:
            raise invalid_input("give either text or subtitles_url, not both", field="text")
        if request.subtitles_url and not request.media_url:
            if not request.target_language:
                raise invalid_input("subtitles_url needs media_url to align to (or target_language)", field="media_url")
        if len(request.text) > MAX_TEXT_CHARS:
            raise invalid_input(f"text is longer than {MAX_TEXT_CHARS} characters", field="text")
        check_timing_mode(request)
        normalize_format(request.format or "srt")
        rules_of(request)  # raises INVALID_INPUT for out-of-range layout rules
        # A language nothing can transcribe or align is refused now, not after the task
        # has been queued.
        translates = target_language(request) is not None
        speech_provider = check_speech_request(request, self.parts.providers, translates=translates)
        provider = check_translation_request(request, self.parts.providers) or speech_provider
        await self.parts.submitter.check_input(request.media_url, field="media_url", required=False)
        await self.parts.submitter.check_input(request.subtitles_url, field="subtitles_url", required=False)
        return await self.parts.submitter.submit(request, context, provider=provider)
