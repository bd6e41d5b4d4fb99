"""Real (tiny) media the fakes answer with: PNGs from Pillow, MP4s from ffmpeg."""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

# What the fake transcribers answer for speech in these languages (the pangram of each), so
# a test can tell that a request in that language reached them and came back in it.
TRANSCRIPTS_BY_LANGUAGE = {
    "fr": "portez ce vieux whisky au juge blond qui fume",
    "es": "el veloz murciélago hindú comía feliz cardillo y kiwi",
    "pt": "um pequeno jabuti xereta viu dez cegonhas felizes",
    "de": "zwölf boxkämpfer jagen viktor quer über den großen sylter deich",
}

# Fake videos are real H.264 MP4s of the requested length, rendered at a tenth of the
# requested size so that tests on small machines stay fast.
VIDEO_SCALE = 10


def color_for(text: str) -> tuple[int, int, int]:
    """A colour derived from ``text``, so different prompts give different images."""
    digest = hashlib.sha256(text.encode()).digest()
    return digest[0], digest[1], digest[2]


@functools.lru_cache(maxsize=64)
def image_bytes(width: int, height: int, color: tuple[int, int, int] = (40, 120, 200), fmt: str = "png") -> bytes:
    """A solid-colour image encoded as ``fmt`` (png, jpeg, webp)."""
    from PIL import Image  # lazy: Pillow comes with the optional `media` extra

    image = Image.new("RGB", (max(1, width), max(1, height)), color)
    buffer = io.BytesIO()
    image.save(buffer, format={"jpg": "JPEG"}.get(fmt.lower(), fmt.upper()))
    return buffer.getvalue()


@functools.lru_cache(maxsize=16)
def mp4_bytes(width: int, height: int, seconds: float) -> bytes:
    """An H.264 MP4 test pattern of ``seconds`` at a tenth of ``width`` x ``height``."""
    import imageio_ffmpeg  # lazy: imageio-ffmpeg comes with the optional `media` extra

    w = max(16, (width // VIDEO_SCALE) // 2 * 2)
    h = max(16, (height // VIDEO_SCALE) // 2 * 2)
    with tempfile.TemporaryDirectory(prefix="fake-video-") as tmp:
        out = Path(tmp) / "video.mp4"
        subprocess.run(
            [
                imageio_ffmpeg.get_ffmpeg_exe(),
                "-nostdin", "-hide_banner", "-loglevel", "error",
                "-f", "lavfi", "-i", f"testsrc=size={w}x{h}:rate=10:duration={seconds:g}",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                "-movflags", "+faststart", str(out),
            ],
            check=True,
            timeout=60,
            capture_output=True,
        )  # fmt: skip
        return out.read_bytes()


def media_duration(data: bytes, default: float = 3.0) -> float:
    """The duration of encoded audio/video bytes (PyAV), or ``default`` when unknown."""
    try:
        import av  # lazy: PyAV (the optional `media` extra) loads FFmpeg's native libraries

        with av.open(io.BytesIO(data), mode="r") as container:
            if container.duration:
                return float(container.duration) / 1_000_000
            for stream in container.streams:
                if stream.duration and stream.time_base:
                    return float(stream.duration * stream.time_base)
    except Exception as error:  # a fake must answer anyway; the default is documented
        log.debug("cannot probe fake upload: %s", error)
    return default


def spread_words(text: str, duration: float) -> list[tuple[str, float, float]]:
    """``text``'s words with start/end seconds spread evenly over ``duration``."""
    words = text.split()
    if not words:
        return []
    step = max(duration, 0.1) / len(words)
    return [(word, round(i * step, 3), round((i + 0.9) * step, 3)) for i, word in enumerate(words)]


def spoken_text(default: str, by_language: dict[str, str], language: str | None) -> str:
    """What a fake transcriber hears: the sentence of the language asked for, if it has one."""
    code = (language or "").strip().lower().replace("_", "-").split("-", 1)[0]
    return by_language.get(code, default)


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of encoded image bytes, or None when they are no image."""
    from PIL import Image  # lazy: Pillow comes with the optional `media` extra

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (OSError, ValueError):
        return None
