"""Local video operations on file paths: burn captions, images to video, add audio.

Each operation probes its inputs first (a "video" without a video stream, a corrupt or
truncated file fails at once with ``UNSUPPORTED_MEDIA``), runs one ffmpeg process
through :func:`mediatasks.media.ffmpeg.run_ffmpeg` (progress, timeout, cancellation),
writes the result to a temporary name beside ``out_path`` and renames it into place
only when ffmpeg succeeded, and returns the probed :class:`MediaInfo` of the output.

Outputs are MP4: H.264 (libx264, yuv420p, ``+faststart``) and AAC.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import math
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import grpc
import pysubs2

from mediatasks.core.errors import MediaTasksError, invalid_input, unsupported_media
from mediatasks.media.ffmpeg import (
    DEFAULT_TIMEOUT_SECONDS,
    MediaInfo,
    ProgressCallback,
    input_args,
    probe,
    run_ffmpeg,
    run_ffmpeg_capture,
)

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

DEFAULT_PRESET = "veryfast"
DEFAULT_CRF = 20
AUDIO_BITRATE = "192k"
# Video codecs the MP4 muxer takes as they are, so add_audio can copy instead of encoding.
_MP4_COPYABLE_VIDEO = {"h264", "hevc", "mpeg4", "av1", "vp9"}
MAX_SLIDES = 1000
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000

_HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{6})$")


def parse_color(value: str, *, field: str) -> tuple[int, int, int]:
    """``#RRGGBB`` (``#`` optional) → (r, g, b); anything else is ``INVALID_INPUT``."""
    match = _HEX_COLOR.match(value.strip())
    if not match:
        raise invalid_input(f"{field} must be a colour like #RRGGBB, got {value!r}", field=field)
    digits = match.group(1)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def escape_filter_value(value: str) -> str:
    """Escape a string (e.g. a path) for use as an option value inside a filtergraph.

    ffmpeg parses it twice: the filter's ``key=value:key=value`` list (where ``\\``,
    ``'`` and ``:`` are special), then the graph (``\\ ' [ ] , ;``). Escape for both, in
    that order, so any path works, including ``C:``-style colons and quotes.
    """
    option_level = re.sub(r"([\\':])", r"\\\1", value)
    return re.sub(r"([\\'\[\],;])", r"\\\1", option_level)


@contextlib.contextmanager
def _atomic_output(out_path: PathLike) -> Iterator[Path]:
    """A temporary path beside ``out_path``; renamed to it only if the block succeeds, so a
    failed or cancelled job never leaves a half-written file under the final name."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".part", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


async def _probe(path: PathLike, *, role: str) -> MediaInfo:
    info = await asyncio.to_thread(probe, path)
    logger.debug("probed %s %s: %s", role, path, info)
    return info


def _require_video(info: MediaInfo, role: str) -> None:
    if not info.has_video or not info.width or not info.height:
        raise unsupported_media(f"the {role} has no video stream")


def _x264_args(preset: str, crf: int) -> list[str]:
    return ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]


# --------------------------------------------------------------------- burn captions

CaptionPosition = Literal["bottom", "top", "center"]
_ALIGNMENT = {"bottom": 2, "top": 8, "center": 5}  # ASS numpad alignment, centred horizontally


@dataclass(frozen=True)
class CaptionStyle:
    """How burned-in captions look. Sizes are pixels of the video's height.

    ``font_size`` 0/None: 5% of the video height. ``margin_v`` None: 6% of the height
    from the chosen edge, except on portrait video, where bottom captions sit 22% up and
    top captions 12% down so they clear the areas vertical platforms cover with their UI
    (see :mod:`mediatasks.video.analysis`, safe zone). Colours are ``#RRGGBB``.
    ``font_name`` is looked up by fontconfig; the default is the DejaVu Sans family
    (Debian package ``fonts-dejavu-core``), and libass falls back to any installed font.
    """

    font_name: str = "DejaVu Sans"
    font_size: float | None = None
    primary_color: str = "#FFFFFF"
    outline_color: str = "#000000"
    outline: float = 2.0
    bold: bool = False
    position: CaptionPosition = "bottom"
    margin_v: int | None = None
    shadow: float = 0.0

    def validate(self) -> None:
        """Raise ``INVALID_INPUT`` for a style that cannot be rendered."""
        parse_color(self.primary_color, field="primary_color")
        parse_color(self.outline_color, field="outline_color")
        if self.position not in _ALIGNMENT:
            raise invalid_input(f"position must be bottom, top or center, got {self.position!r}")
        if self.font_size is not None and not 0 <= self.font_size <= 500:
            raise invalid_input(f"font_size must be between 1 and 500 px, got {self.font_size}")
        if self.margin_v is not None and not 0 <= self.margin_v <= 5000:
            raise invalid_input(f"margin_v must be between 0 and 5000 px, got {self.margin_v}")
        if not 0 <= self.outline <= 50 or not 0 <= self.shadow <= 50:
            raise invalid_input("outline and shadow must be between 0 and 50 px")
        if not self.font_name.strip():
            raise invalid_input("font_name must not be empty")


def _ass_color(hex_color: str, field: str) -> pysubs2.Color:
    r, g, b = parse_color(hex_color, field=field)
    return pysubs2.Color(r, g, b, 0)


def _default_margin_v(style: CaptionStyle, width: int, height: int) -> int:
    if style.margin_v is not None:
        return style.margin_v
    if height > width and style.position == "bottom":
        return round(height * 0.22)
    if height > width and style.position == "top":
        return round(height * 0.12)
    return round(height * 0.06)


def load_subtitles(path: PathLike) -> pysubs2.SSAFile:
    """Parse an SRT, WebVTT or ASS/SSA file (format detected from content); a file that
    is not subtitles raises ``UNSUPPORTED_MEDIA``, one without cues ``INVALID_INPUT``."""
    path = Path(path)
    if not path.is_file():
        raise invalid_input(f"subtitles file not found: {path.name}")
    subs = None
    for encoding in ("utf-8-sig", "cp1252"):  # UTF-8 first; old SRTs are often Windows-1252
        try:
            subs = pysubs2.load(str(path), encoding=encoding)
            break
        except UnicodeDecodeError:
            continue
        except Exception as exc:  # pysubs2 raises several types for unparseable text
            raise unsupported_media(f"{path.name} is not a subtitles file pysubs2 can read: {exc}") from None
    if subs is None:
        raise unsupported_media(f"{path.name} is not text in UTF-8 or Windows-1252")
    if not any(not event.is_comment and event.text.strip() for event in subs.events):
        raise invalid_input(f"{path.name} has no subtitle cues")
    return subs


def _is_ass(subs: pysubs2.SSAFile) -> bool:
    return getattr(subs, "format", None) in ("ass", "ssa")


def apply_caption_style(subs: pysubs2.SSAFile, style: CaptionStyle | None, width: int, height: int) -> pysubs2.SSAFile:
    """Make the subtitles render with ``style`` on a ``width``×``height`` video.

    SRT/VTT cues get one style (``style`` or the default :class:`CaptionStyle`) on an
    ASS canvas the size of the video, so sizes are real pixels. An ASS file keeps its own
    canvas and styles unless ``style`` is given, which then overrides every style (sizes
    scaled to the file's canvas).
    """
    subs = copy.deepcopy(subs)  # the caller's parsed file stays as it was
    if _is_ass(subs):
        if style is None:
            return subs
        canvas_height = float(subs.info.get("PlayResY") or 288)
        targets = list(subs.styles.keys()) or ["Default"]
    else:
        style = style or CaptionStyle()
        subs.info["PlayResX"] = str(width)
        subs.info["PlayResY"] = str(height)
        subs.info["ScaledBorderAndShadow"] = "yes"
        subs.info["WrapStyle"] = "0"
        canvas_height = float(height)
        targets = ["Default"]
        for event in subs.events:
            event.style = "Default"
    style.validate()
    scale = canvas_height / height
    font_size = style.font_size or max(8.0, round(height * 0.05))
    ass_style = pysubs2.SSAStyle(
        fontname=style.font_name,
        fontsize=round(font_size * scale, 2),
        primarycolor=_ass_color(style.primary_color, "primary_color"),
        outlinecolor=_ass_color(style.outline_color, "outline_color"),
        backcolor=pysubs2.Color(0, 0, 0, 128),
        bold=style.bold,
        outline=round(style.outline * scale, 2),
        shadow=round(style.shadow * scale, 2),
        borderstyle=1,
        alignment=pysubs2.Alignment(_ALIGNMENT[style.position]),
        marginl=round(width * 0.05 * scale),
        marginr=round(width * 0.05 * scale),
        marginv=round(_default_margin_v(style, width, height) * scale),
    )
    for name in targets:
        subs.styles[name] = ass_style.copy()
    return subs


async def burn_captions(
    video: PathLike,
    subtitles_path: PathLike,
    out_path: PathLike,
    *,
    style: CaptionStyle | None = None,
    on_progress: ProgressCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    fonts_dir: PathLike | None = None,
    preset: str = DEFAULT_PRESET,
    crf: int = DEFAULT_CRF,
) -> MediaInfo:
    """Render SRT/VTT/ASS captions into ``video`` with libass; write an MP4 to ``out_path``.

    Video: H.264 (libx264 ``preset``/``crf``, yuv420p, faststart). Audio, when the input
    has any, is kept: copied if it is already AAC, otherwise encoded to AAC. Captions are
    converted to ASS first (see :func:`apply_caption_style`), so ``style`` works the
    same for every subtitle format. ``fonts_dir`` adds a directory of font files for
    libass besides the system fonts. Returns the output's :class:`MediaInfo`.
    """
    if style is not None:
        style.validate()
    info = await _probe(video, role="video")
    _require_video(info, "video")
    assert info.width and info.height
    subs = await asyncio.to_thread(load_subtitles, subtitles_path)
    styled = apply_caption_style(subs, style, info.width, info.height)

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".captions-", dir=out.parent) as scratch:
        if _is_ass(subs) and style is None:
            # libass reads the author's file itself: a round trip through pysubs2 could
            # drop what it does not model (embedded fonts, unusual Format lines).
            ass_path = Path(subtitles_path)
        else:
            ass_path = Path(scratch) / "captions.ass"
            await asyncio.to_thread(styled.save, str(ass_path), encoding="utf-8", format_="ass")
        subtitles_filter = f"subtitles=filename={escape_filter_value(str(ass_path))}"
        if fonts_dir is not None:
            subtitles_filter += f":fontsdir={escape_filter_value(str(fonts_dir))}"
        filters = [subtitles_filter]
        if info.width % 2 or info.height % 2:  # yuv420p needs even dimensions
            filters.append("pad=ceil(iw/2)*2:ceil(ih/2)*2")
        args = [*input_args(video), "-vf", ",".join(filters), "-map", "0:v:0"]
        if info.has_audio:
            audio_codec = ["copy"] if info.audio_codec == "aac" else ["aac", "-b:a", AUDIO_BITRATE]
            args += ["-map", "0:a:0", "-c:a", *audio_codec]
        args += _x264_args(preset, crf)
        args += ["-map_metadata", "-1", "-movflags", "+faststart"]
        with _atomic_output(out) as tmp:
            log = await run_ffmpeg_capture(
                [*args, "-f", "mp4", str(tmp)],
                expected_duration=info.video_duration_seconds or info.duration_seconds,
                on_progress=on_progress,
                stage="burning_captions",
                timeout=timeout,
                keep_matching=(_NO_FONT, _MISSING_GLYPH),
            )
            _check_fonts(log)
    return await _probe(out, role="output")


# libass logs these and carries on: with no usable font at all it renders nothing.
_NO_FONT = "failed to find any fallback with glyph 0x0 "
_MISSING_GLYPH = "failed to find any fallback with glyph"


def _check_fonts(log: Sequence[str]) -> None:
    if any(_NO_FONT in line for line in log):
        raise MediaTasksError(
            grpc.StatusCode.INTERNAL,
            "FONTS_MISSING",
            "libass found no usable font, so captions would be invisible: install a font "
            "package on the worker (Debian: fonts-dejavu-core) or pass fonts_dir",
        )
    missing = sorted({line.split("glyph ")[1].split()[0] for line in log if _MISSING_GLYPH in line})
    if missing:
        logger.warning("no installed font has glyphs %s; they render as blanks", ", ".join(missing))


# ------------------------------------------------------------------- images to video


def _fps_fraction(fps: float) -> Fraction:
    """30000/1001-style rates stay exact; 25.0 stays 25."""
    return Fraction(fps).limit_denominator(1001)


def _frame_counts(durations: Sequence[float], fps: Fraction) -> list[int]:
    """Frames per image, rounding the running total (not each item) so the video's total
    length is the sum of the durations to within one frame however many images there are."""
    counts, elapsed, previous_frame = [], 0.0, 0
    for duration in durations:
        elapsed += duration
        boundary = round(elapsed * fps)
        counts.append(boundary - previous_frame)
        previous_frame = boundary
    return counts


def slide_spans(durations: Sequence[float], fps: float) -> list[tuple[float, float]]:
    """When each image of a slideshow shows, in seconds: the frame boundaries
    :func:`images_to_video` cuts at, so the times match the video to the frame."""
    rate = _fps_fraction(fps)
    spans, frame = [], 0
    for count in _frame_counts(durations, rate):
        spans.append((float(frame / rate), float((frame + count) / rate)))
        frame += count
    return spans


async def images_to_video(
    items: Sequence[tuple[PathLike, float]],
    out_path: PathLike,
    *,
    width: int,
    height: int,
    fps: float = 25.0,
    background: str = "#000000",
    on_progress: ProgressCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    preset: str = DEFAULT_PRESET,
    crf: int = DEFAULT_CRF,
) -> MediaInfo:
    """Make a slideshow MP4: each ``(image, seconds)`` shown in order at ``width``×``height``.

    Every image is scaled to fit inside the frame (aspect kept) and padded with
    ``background`` (letterbox/pillarbox), so mixed aspect ratios work. Built with the
    concat *filter*: each image is decoded and scaled once, then repeated for exactly its
    number of frames, so the total duration is the sum of the durations to within one
    frame (the concat demuxer's per-file durations drift). EXIF orientation is honoured.
    """
    if not items:
        raise invalid_input("images_to_video needs at least one image")
    if len(items) > MAX_SLIDES:
        raise invalid_input(f"at most {MAX_SLIDES} images per video, got {len(items)}")
    if width % 2 or height % 2 or not (16 <= width <= 7680 and 16 <= height <= 7680):
        raise invalid_input(f"width and height must be even and 16–7680 px, got {width}x{height}")
    if not (math.isfinite(fps) and 1 <= fps <= 120):
        raise invalid_input(f"fps must be between 1 and 120, got {fps}")
    r, g, b = parse_color(background, field="background")
    durations = [float(duration) for _, duration in items]
    for index, duration in enumerate(durations):
        if not math.isfinite(duration) or duration <= 0:
            raise invalid_input(f"image {index}: duration must be a positive number of seconds")
    rate = _fps_fraction(fps)
    frame_counts = _frame_counts(durations, rate)
    for index, count in enumerate(frame_counts):
        if count < 1:
            raise invalid_input(f"image {index}: {durations[index]:g} s is shorter than one frame at {fps:g} fps")

    for index, (image, _) in enumerate(items):
        info = await _probe(image, role=f"image {index}")
        if not info.has_video or not info.width or not info.height:
            raise unsupported_media(f"image {index} is not an image")
        if info.width * info.height > max_image_pixels:
            raise invalid_input(
                f"image {index} is {info.width}x{info.height}, over the {max_image_pixels / 1e6:g} MP limit",
                max_pixels=str(max_image_pixels),
            )

    color = f"0x{r:02X}{g:02X}{b:02X}"
    rate_expr = f"{rate.numerator}/{rate.denominator}"
    args: list[str] = []
    graph: list[str] = []
    for index, ((image, _), frames) in enumerate(zip(items, frame_counts, strict=True)):
        args += input_args(image)
        graph.append(
            f"[{index}:v:0]trim=end_frame=1,"  # first frame only (animated GIF, WebP)
            f"scale={width}:{height}:force_original_aspect_ratio=decrease:force_divisible_by=2,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color={color},setsar=1,format=yuv420p,"
            f"loop=loop={frames - 1}:size=1:start=0,setpts=N/(({rate_expr})*TB)[v{index}]"
        )
    inputs = "".join(f"[v{index}]" for index in range(len(items)))
    graph.append(f"{inputs}concat=n={len(items)}:v=1:a=0[out]")
    args += ["-filter_complex", ";".join(graph), "-map", "[out]"]
    args += _x264_args(preset, crf)
    # -frames:v caps the output at exactly the frames asked for: a source frame that
    # carries a duration of its own (a GIF's delay) would otherwise be padded by cfr.
    args += ["-r", rate_expr, "-fps_mode", "cfr", "-frames:v", str(sum(frame_counts)), "-movflags", "+faststart"]

    total_seconds = sum(frame_counts) / rate
    with _atomic_output(out_path) as tmp:
        await run_ffmpeg(
            [*args, "-f", "mp4", str(tmp)],
            expected_duration=float(total_seconds),
            on_progress=on_progress,
            stage="encoding",
            timeout=timeout,
        )
    return await _probe(out_path, role="output")


# ------------------------------------------------------------------------- add audio

AudioFitMode = Literal["pad", "trim", "loop"]


async def add_audio(
    video: PathLike,
    audio: PathLike,
    out_path: PathLike,
    *,
    mode: AudioFitMode = "pad",
    replace: bool = True,
    volume: float = 1.0,
    on_progress: ProgressCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    preset: str = DEFAULT_PRESET,
    crf: int = DEFAULT_CRF,
) -> MediaInfo:
    """Put ``audio`` on ``video``; the output lasts exactly as long as the video.

    ``mode``: ``pad`` fills a short audio track with silence (and cuts a long one),
    ``trim`` only cuts a long one, ``loop`` repeats a short one. ``replace=False`` mixes
    the new audio over the video's own audio (if it has any) instead of replacing it.
    ``volume`` scales the new audio (1.0 = unchanged). The video stream is copied when MP4
    can hold it as is, otherwise encoded to H.264; audio is encoded to AAC.
    """
    if mode not in ("pad", "trim", "loop"):
        raise invalid_input(f"mode must be pad, trim or loop, got {mode!r}")
    if not (math.isfinite(volume) and 0 <= volume <= 10):
        raise invalid_input(f"volume must be between 0 and 10, got {volume}")
    video_info = await _probe(video, role="video")
    _require_video(video_info, "video")
    audio_info = await _probe(audio, role="audio")
    if not audio_info.has_audio:
        raise unsupported_media("the audio input has no audio stream")
    duration = video_info.video_duration_seconds or video_info.duration_seconds
    if not duration:
        raise unsupported_media("the video's duration is unknown")

    end = f"{duration:.6f}"
    new_audio = f"[1:a:0]asetpts=PTS-STARTPTS,volume={volume:g}"
    if mode == "pad":
        new_audio += f",apad=whole_dur={end}"
    new_audio += f",atrim=end={end}"
    if not replace and video_info.has_audio:
        graph = (
            f"{new_audio}[new];"
            f"[0:a:0]asetpts=PTS-STARTPTS,apad=whole_dur={end},atrim=end={end}[own];"
            # normalize=0: each input keeps its level instead of being halved
            f"[own][new]amix=inputs=2:duration=first:normalize=0[aout]"
        )
    else:
        graph = f"{new_audio}[aout]"

    args = input_args(video)
    if mode == "loop":
        args += ["-stream_loop", "-1"]
    args += [*input_args(audio), "-filter_complex", graph, "-map", "0:v:0", "-map", "[aout]"]
    if video_info.video_codec in _MP4_COPYABLE_VIDEO:  # rotation metadata is copied too
        args += ["-c:v", "copy"]
    else:
        args += _x264_args(preset, crf)
    args += ["-c:a", "aac", "-b:a", AUDIO_BITRATE, "-t", end, "-movflags", "+faststart"]

    with _atomic_output(out_path) as tmp:
        await run_ffmpeg(
            [*args, "-f", "mp4", str(tmp)],
            expected_duration=duration,
            on_progress=on_progress,
            stage="muxing",
            timeout=timeout,
        )
    return await _probe(out_path, role="output")


__all__ = [
    "CaptionStyle",
    "add_audio",
    "apply_caption_style",
    "burn_captions",
    "escape_filter_value",
    "images_to_video",
    "load_subtitles",
    "parse_color",
]
