"""``client.images``, ``client.videos``, ``client.audio``, ``client.subtitles``: one method
per job type, shared by the sync and async clients (an async client's methods return
awaitables). File arguments take a local path, an https URL or an artifact id; every
other keyword is a request field as the API names it (``priority``, ``metadata``,
``webhook_url``, ``format``...); ``wait=True`` returns the finished task."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

R = TypeVar("R")


class _Jobs(Generic[R]):
    def __init__(self, submit: Callable[..., R]) -> None:
        self._submit = submit


class Images(_Jobs[R]):
    def generate(self, prompt: str, *, wait: bool | float = False, **fields: Any) -> R:
        """An image from a text prompt (a cloud provider)."""
        return self._submit("image_generation", prompt=prompt, wait=wait, **fields)

    def transform(
        self, image: Any, operations: list[dict[str, Any]], *, wait: bool | float = False, **fields: Any
    ) -> R:
        """Resize, crop, rotate or convert an image (``operations=[{"op": "resize", "width": 320}]``)."""
        return self._submit("image_transform", image=image, operations=operations, wait=wait, **fields)


class Videos(_Jobs[R]):
    def generate(self, prompt: str, *, wait: bool | float = False, **fields: Any) -> R:
        """A video from a prompt (``image=`` for image-to-video)."""
        return self._submit("video_generation", prompt=prompt, wait=wait, **fields)

    def caption(self, video: Any, subtitles: Any, *, wait: bool | float = False, **fields: Any) -> R:
        """Burn subtitles into a video; ``subtitles`` is a file, a URL, an artifact id or SRT/VTT text."""
        return self._submit("video_caption", video=video, subtitles=subtitles, wait=wait, **fields)

    def img2vid(self, images: list[Any], *, wait: bool | float = False, **fields: Any) -> R:
        """A slideshow: each image a file/URL/id or ``{"image_url": ..., "duration": 2.0}``."""
        return self._submit("video_img2vid", images=images, wait=wait, **fields)

    def add_audio(self, video: Any, audio: Any, *, wait: bool | float = False, **fields: Any) -> R:
        """Put an audio track on a video (``mode="replace"`` or ``"mix"``)."""
        return self._submit("video_add_audio", video=video, audio=audio, wait=wait, **fields)

    def analyze(self, video: Any, *, wait: bool | float = False, **fields: Any) -> R:
        """Probe a video: aspect ratio, frames, transcript, subtitle safe zone."""
        return self._submit("video_analysis", video=video, wait=wait, **fields)


class Audio(_Jobs[R]):
    def transcribe(self, audio: Any, *, wait: bool | float = False, **fields: Any) -> R:
        """Speech to text (``response_format="srt"`` for subtitles)."""
        return self._submit("audio_transcription", audio=audio, wait=wait, **fields)


class Subtitles(_Jobs[R]):
    def generate(
        self,
        *,
        text: str | None = None,
        media: Any = None,
        subtitles: Any = None,
        wait: bool | float = False,
        **fields: Any,
    ) -> R:
        """Timed subtitles from ``text``, from the speech of ``media``, or ``subtitles`` aligned/translated."""
        return self._submit("subtitle_generation", text=text, media=media, subtitles=subtitles, wait=wait, **fields)
