"""VideoService: validates video requests and queues them."""

from __future__ import annotations

import re

import pysubs2

from mediatasks.core.errors import invalid_input
from mediatasks.core.limits import check_output_seconds, check_slideshow_size
from mediatasks.media_service import MediaParts
from mediatasks.v1 import video_pb2_grpc
from mediatasks.video.analysis import parse_ratio
from mediatasks.video.generation import check_analysis_request, check_generation_request
from mediatasks.video.operations import parse_color
from mediatasks.video.styles import caption_style_of

MAX_SIDE = 4096
AUDIO_MODES = ("", "pad", "trim", "loop")
DEFAULT_SLIDESHOW_FPS = 25
# Inline subtitles travel inside the task's input (stored in the registry): larger files
# belong in an upload, referenced by subtitles_url.
MAX_INLINE_SUBTITLES_CHARS = 1_000_000
MAX_OUTPUT_PATH = 200
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")


def _check_dimensions(width: int, height: int, fps: int) -> None:
    if not 0 <= width <= MAX_SIDE or not 0 <= height <= MAX_SIDE:
        raise invalid_input(f"width and height must be between 16 and {MAX_SIDE}", field="width")
    if (width and width < 16) or (height and height < 16) or width % 2 or height % 2:
        raise invalid_input("width and height must be even numbers of at least 16 (H.264)", field="width")
    if fps and not 1 <= fps <= 120:
        raise invalid_input("fps must be between 1 and 120", field="fps")


def check_output_path(path: str) -> None:
    """A folder to file an output under: relative, of plain segments, at most 200 characters."""
    if not path:
        return
    segments = path.strip("/").split("/")
    if (
        len(path) > MAX_OUTPUT_PATH
        or path.startswith("/")
        or not all(_PATH_SEGMENT.fullmatch(part) and part not in (".", "..") for part in segments)
    ):
        raise invalid_input(
            f"path must be a relative folder of at most {MAX_OUTPUT_PATH} characters, its segments letters, "
            "digits, '.', '_' or '-' (for example videos/output)",
            field="path",
        )


def _check_inline_subtitles(text: str) -> None:
    """Parse inline subtitle text at submit, so a typo is a 400 now rather than a failed
    task later (the job parses it again with the same library)."""
    if not text.strip():
        raise invalid_input("subtitles (inline text) is empty", field="subtitles")
    if len(text) > MAX_INLINE_SUBTITLES_CHARS:
        raise invalid_input(
            f"subtitles (inline text) is longer than {MAX_INLINE_SUBTITLES_CHARS} characters: "
            "upload the file and pass subtitles_url",
            field="subtitles",
        )
    try:
        parsed = pysubs2.SSAFile.from_string(text)
    except Exception as exc:  # pysubs2 raises several types for unparseable text
        raise invalid_input(f"subtitles is not SRT, WebVTT or ASS text: {exc}", field="subtitles") from None
    if not any(not event.is_comment and event.text.strip() for event in parsed.events):
        raise invalid_input("subtitles (inline text) has no cues", field="subtitles")


class VideoServicer(video_pb2_grpc.VideoServiceServicer):
    def __init__(self, parts: MediaParts) -> None:
        self.parts = parts

    async def GenerateVideo(self, request, context):
        provider = check_generation_request(request, self.parts.providers)
        await self.parts.submitter.check_input(request.image_url, field="image_url", required=False)
        return await self.parts.submitter.submit(request, context, provider=provider, model=request.model)

    async def BurnCaptions(self, request, context):
        check_output_path(request.path)
        await self.parts.submitter.check_input(request.video_url, field="video_url")
        if bool(request.subtitles_url) == bool(request.subtitles):
            raise invalid_input("give exactly one of subtitles_url and subtitles (inline text)", field="subtitles_url")
        if request.subtitles:
            _check_inline_subtitles(request.subtitles)
        await self.parts.submitter.check_input(request.subtitles_url, field="subtitles_url", required=False)
        caption_style_of(request.style).validate()
        return await self.parts.submitter.submit(request, context)

    async def ImagesToVideo(self, request, context):
        check_output_path(request.path)
        if not request.images:
            raise invalid_input("images must hold at least one image", field="images")
        check_slideshow_size(len(request.images), self.parts.settings)
        _check_dimensions(request.width, request.height, request.fps)
        if request.background:
            parse_color(request.background, field="background")
        fps = request.fps or DEFAULT_SLIDESHOW_FPS
        for index, image in enumerate(request.images):
            if not 0 < image.duration <= 3600:
                raise invalid_input(f"images[{index}].duration must be > 0 and <= 3600 seconds", field="images")
            if image.duration * fps < 1:
                raise invalid_input(
                    f"images[{index}].duration {image.duration:g} s is shorter than one frame at {fps} fps",
                    field="images",
                )
            await self.parts.submitter.check_input(image.image_url, field=f"images[{index}].image_url")
        check_output_seconds(sum(image.duration for image in request.images), self.parts.settings, "the slideshow")
        return await self.parts.submitter.submit(request, context)

    async def AddAudio(self, request, context):
        check_output_path(request.path)
        await self.parts.submitter.check_input(request.video_url, field="video_url")
        await self.parts.submitter.check_input(request.audio_url, field="audio_url")
        if request.mode.lower() not in AUDIO_MODES:
            raise invalid_input("mode must be pad, trim or loop", field="mode")
        if request.volume and not 0 < request.volume <= 10:
            raise invalid_input("volume must be > 0 and <= 10", field="volume")
        return await self.parts.submitter.submit(request, context)

    async def AnalyzeVideo(self, request, context):
        await self.parts.submitter.check_input(request.video_url, field="video_url")
        await self.parts.submitter.check_input(request.subtitles_url, field="subtitles_url", required=False)
        for ratio in request.target_aspect_ratios:
            parse_ratio(ratio)
        if request.frame_count and not 1 <= request.frame_count <= 20:
            raise invalid_input("frame_count must be between 1 and 20", field="frame_count")
        provider = check_analysis_request(request, self.parts.providers)
        return await self.parts.submitter.submit(request, context, provider=provider)
