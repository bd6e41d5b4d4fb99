"""VideoService: validates video requests and queues them."""

from __future__ import annotations

from mediatasks.core.errors import invalid_input
from mediatasks.core.media_service import MediaParts
from mediatasks.video.analysis import parse_ratio
from mediatasks.video.styles import caption_style_of
from mediatasks.v1 import video_pb2_grpc

MAX_SLIDES = 500
MAX_SIDE = 4096
AUDIO_MODES = ("", "pad", "trim", "loop")


def _check_dimensions(width: int, height: int, fps: int) -> None:
    if not 0 <= width <= MAX_SIDE or not 0 <= height <= MAX_SIDE:
        raise invalid_input(f"width and height must be between 16 and {MAX_SIDE}", field="width")
    if (width and width < 16) or (height and height < 16) or width % 2 or height % 2:
        raise invalid_input("width and height must be even numbers of at least 16 (H.264)", field="width")
    if fps and not 1 <= fps <= 120:
        raise invalid_input("fps must be between 1 and 120", field="fps")


class VideoServicer(video_pb2_grpc.VideoServiceServicer):
    def __init__(self, parts: MediaParts) -> None:
        self.parts = parts

    async def GenerateVideo(self, request, context):
        from mediatasks.video.generation import check_generation_request

        provider = check_generation_request(request, self.parts.providers)
        return await self.parts.submitter.submit("video_generation", request, context, provider=provider,
                                                 model=request.model)

    async def BurnCaptions(self, request, context):
        await self.parts.submitter.check_input(request.video_url, field="video_url")
        if bool(request.subtitles_url) == bool(request.subtitles):
            raise invalid_input("give exactly one of subtitles_url and subtitles (inline text)", field="subtitles_url")
        await self.parts.submitter.check_input(request.subtitles_url, field="subtitles_url", required=False)
        caption_style_of(request.style).validate()
        return await self.parts.submitter.submit("video_caption", request, context)

    async def ImagesToVideo(self, request, context):
        if not 1 <= len(request.images) <= MAX_SLIDES:
            raise invalid_input(f"images must hold 1 to {MAX_SLIDES} items", field="images")
        for index, image in enumerate(request.images):
            if not 0 < image.duration <= 3600:
                raise invalid_input(f"images[{index}].duration must be > 0 and <= 3600 seconds", field="images")
            await self.parts.submitter.check_input(image.image_url, field=f"images[{index}].image_url")
        _check_dimensions(request.width, request.height, request.fps)
        return await self.parts.submitter.submit("video_img2vid", request, context)

    async def AddAudio(self, request, context):
        await self.parts.submitter.check_input(request.video_url, field="video_url")
        await self.parts.submitter.check_input(request.audio_url, field="audio_url")
        if request.mode.lower() not in AUDIO_MODES:
            raise invalid_input("mode must be pad, trim or loop", field="mode")
        if request.volume and not 0 < request.volume <= 10:
            raise invalid_input("volume must be > 0 and <= 10", field="volume")
        return await self.parts.submitter.submit("video_add_audio", request, context)

    async def AnalyzeVideo(self, request, context):
        await self.parts.submitter.check_input(request.video_url, field="video_url")
        await self.parts.submitter.check_input(request.subtitles_url, field="subtitles_url", required=False)
        for ratio in request.target_aspect_ratios:
            parse_ratio(ratio)
        if request.frame_count and not 1 <= request.frame_count <= 20:
            raise invalid_input("frame_count must be between 1 and 20", field="frame_count")
        provider = ""
        if request.llm_score:
            from mediatasks.video.generation import check_llm_score_request

            provider = check_llm_score_request(request, self.parts.providers)
        return await self.parts.submitter.submit("video_analysis", request, context, provider=provider)
