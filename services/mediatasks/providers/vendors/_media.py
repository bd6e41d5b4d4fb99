"""Small media helpers adapters need: stills from a video, sniffing image types, a
vendor's generated video streamed to its file."""

from __future__ import annotations

import io
import logging
import mimetypes
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from mediatasks.core.errors import invalid_input, unsupported_media
from mediatasks.providers.vendors import errors

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

log = logging.getLogger(__name__)

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"RIFF", "image/webp"),
    (b"GIF8", "image/gif"),
)


def sniff_image_type(data: bytes, default: str = "application/octet-stream") -> str:
    """The MIME type of encoded image bytes, from their signature."""
    for signature, mime in _SIGNATURES:
        if data.startswith(signature):
            if mime == "image/webp" and data[8:12] != b"WEBP":
                continue
            return mime
    return default


# A generated video larger than this is refused (minutes of 4K are under it).
MAX_GENERATED_VIDEO_BYTES = 4 * 1024**3
# How much of a download is read at a time.
DOWNLOAD_CHUNK_BYTES = 1024 * 1024


def video_destination(output_path: str) -> Path:
    """Where a generated video goes: ``output_path``, or a new temporary file."""
    if output_path:
        return Path(output_path)
    handle, name = tempfile.mkstemp(prefix="mediatasks-video-", suffix=".mp4")
    os.close(handle)
    return Path(name)


async def write_video(
    provider: str, chunks: AsyncIterator[bytes], dest: Path, limit: int = MAX_GENERATED_VIDEO_BYTES
) -> int:
    """Write a vendor's video download to ``dest`` as it arrives (memory stays one chunk
    whatever the video's size); its size. An empty or oversized download is the vendor's
    bad answer."""
    size = 0
    try:
        with dest.open("wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise errors.bad_response(provider, f"the generated video is over {limit} bytes")
                out.write(chunk)
        if not size:
            raise errors.bad_response(provider, "the generated video is empty")
    except BaseException:
        dest.unlink(missing_ok=True)  # a part of a video is of no use to anyone
        raise
    return size


def guess_mime(path: str, default: str = "application/octet-stream") -> str:
    mime, _ = mimetypes.guess_type(path)
    return mime or default


def extract_jpeg_frames(path: str, count: int = 4, max_side: int = 512) -> list[bytes]:
    """Up to ``count`` JPEG stills spread evenly over a video (blocking; run in a thread).

    Raises ``UNSUPPORTED_MEDIA`` for a file PyAV cannot decode or without a video stream.
    """
    import av  # lazy: only analysis without frames given needs it

    source = Path(path)
    if not source.is_file():
        raise invalid_input(f"video file not found: {source.name}")
    try:
        with av.open(str(source), mode="r") as container:
            if not container.streams.video:
                raise unsupported_media(f"{source.name} has no video stream")
            stream = container.streams.video[0]
            duration = _duration_seconds(container, stream)
            targets = [duration * (i + 0.5) / count for i in range(count)] if duration else [0.0]
            frames: list[bytes] = []
            for target in targets:
                frame = _frame_at(container, stream, target)
                if frame is None:
                    continue
                image = frame.to_image()
                image.thumbnail((max_side, max_side))
                buffer = io.BytesIO()
                image.convert("RGB").save(buffer, format="JPEG", quality=80)
                frames.append(buffer.getvalue())
    except (av.error.FFmpegError, OSError) as error:
        raise unsupported_media(f"cannot decode video {source.name}: {error}") from error
    if not frames:
        raise unsupported_media(f"no decodable frame in {source.name}")
    return frames


def _duration_seconds(container: InputContainer, stream: VideoStream) -> float:
    if container.duration:
        return float(container.duration) / 1_000_000  # av.time_base
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return 0.0


def _frame_at(container: InputContainer, stream: VideoStream, seconds: float) -> VideoFrame | None:
    offset = int(seconds / float(stream.time_base)) if stream.time_base else 0
    container.seek(offset, stream=stream, any_frame=False, backward=True)
    for frame in container.decode(stream):
        if frame.time is None or frame.time >= seconds - 0.05:
            return frame
    return None
