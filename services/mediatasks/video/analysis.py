"""Local video analysis: facts, aspect ratio, key frames, loudness, transcript, safe zone.

:func:`analyze_video` probes the file once, then runs the independent steps at the same
time, so an analysis takes about as long as its slowest step: key-frame extraction, loudness
measurement, audio extraction + transcription, and the subtitle safe-zone check. If one
step fails the others are cancelled (their ffmpeg processes killed) and the error is
raised. The result is a JSON-serialisable dict (no ``inf``/``NaN``).

Subtitle safe zone (the rule implemented by :func:`check_subtitle_safe_zone`)
-----------------------------------------------------------------------------
Vertical-video platforms (TikTok, Reels, Shorts) draw their UI over the frame. Of the
frame's height, the top 10% (status bar, tabs, account line) and the bottom 20%
(caption, music ticker, buttons, navigation) are reserved. A cue is *safe* when its
estimated text box lies entirely between 10% and 80% of the height. The box is
estimated the way libass lays a cue out: the ASS canvas (``PlayResX``/``PlayResY``,
libass defaults 384×288 when absent, ffmpeg's SRT defaults: 16 px Arial, ``MarginV``
10), the cue's style or ``{\\an}``/``{\\pos}`` override for alignment and anchor, its
vertical margin, its font size (``{\\fs}`` overrides) with a line height of 1.2 × size plus
the outline, and the number of lines (explicit ``\\N`` breaks, plus wrapping estimated at
0.55 × font size per character over the width between the side margins). Collisions
between simultaneous cues and horizontal placement are not checked. The same rule is
applied to any aspect ratio, but it is meant for 9:16; the result says whether the
video is 9:16.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import os
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import pysubs2

from mediatasks.core.errors import invalid_input, unsupported_media
from mediatasks.media.ffmpeg import (
    DEFAULT_TIMEOUT_SECONDS,
    MediaInfo,
    ProgressCallback,
    ProgressReporter,
    input_args,
    probe,
    run_ffmpeg,
    run_ffmpeg_capture,
)
from mediatasks.video.operations import CaptionStyle, apply_caption_style, load_subtitles

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
Transcriber = Callable[[Path], Awaitable[Any]]

SAFE_TOP_FRACTION = 0.10
SAFE_BOTTOM_FRACTION = 0.20
DEFAULT_ASPECT_TOLERANCE = 0.02
MAX_FRAME_COUNT = 50
# ebur128 reports -70 LUFS (its absolute gate) when every block is below the gate:
# EBU R128 leaves integrated loudness undefined then, so we report None and silent=True.
SILENCE_GATE_LUFS = -70.0

_STANDARD_RATIOS = ("16:9", "9:16", "4:3", "3:4", "1:1", "4:5", "5:4", "3:2", "2:3", "21:9")


# ---------------------------------------------------------------------- aspect ratio


def parse_ratio(text: str) -> Fraction:
    """``"9:16"``, ``"9/16"`` or ``"0.5625"`` → width/height; bad text is ``INVALID_INPUT``."""
    try:
        if ":" in text or "/" in text:
            width, height = re.split(r"[:/]", text.strip(), maxsplit=1)
            value = Fraction(int(width), int(height))
        else:
            value = Fraction(text.strip()).limit_denominator(1000)
    except (ValueError, ZeroDivisionError):
        raise invalid_input(f"aspect ratio must look like 9:16, got {text!r}") from None
    if value <= 0:
        raise invalid_input(f"aspect ratio must be positive, got {text!r}")
    return value


def describe_aspect_ratio(
    width: int,
    height: int,
    *,
    pixel_aspect_ratio: float = 1.0,
    targets: Sequence[str] = ("9:16",),
    tolerance: float = DEFAULT_ASPECT_TOLERANCE,
) -> dict[str, Any]:
    """The displayed aspect ratio, reduced (``1080x1920`` → ``"9:16"``), as a float, the
    nearest common ratio, and for each target whether it matches within ``tolerance``
    (relative difference, default 2%)."""
    exact = Fraction(width, height) * Fraction(pixel_aspect_ratio).limit_denominator(10000)
    value = float(exact)
    nearest = min(_STANDARD_RATIOS, key=lambda r: abs(math.log(value / float(parse_ratio(r)))))
    matches = {}
    for target in targets:
        target_value = float(parse_ratio(target))
        difference = abs(value - target_value) / target_value
        matches[target] = {
            "matches": difference <= tolerance,
            "target_value": round(target_value, 6),
            "relative_difference": round(difference, 6),
        }
    return {
        "ratio": f"{exact.numerator}:{exact.denominator}",
        "value": round(value, 6),
        "nearest_standard": nearest,
        "orientation": "portrait" if value < 1 else "landscape" if value > 1 else "square",
        "tolerance": tolerance,
        "targets": matches,
    }


# --------------------------------------------------------------------- safe zone


@dataclasses.dataclass(frozen=True)
class _Canvas:
    width: float
    height: float


def _canvas(subs: pysubs2.SSAFile) -> _Canvas:
    """The ASS canvas size the way libass resolves missing PlayRes values."""
    x = float(subs.info.get("PlayResX") or 0)
    y = float(subs.info.get("PlayResY") or 0)
    if not x and not y:
        return _Canvas(384, 288)
    if not y:
        return _Canvas(x, 1024 if x == 1280 else x * 3 / 4)
    if not x:
        return _Canvas(1280 if y == 1024 else y * 4 / 3, y)
    return _Canvas(x, y)


_TAG_BLOCK = re.compile(r"\{([^}]*)\}")
_AN = re.compile(r"\\an([1-9])")
_LEGACY_A = re.compile(r"\\a(\d{1,2})(?![a-z])")
_POS = re.compile(r"\\(?:pos|move)\(\s*([-\d.]+)\s*,\s*([-\d.]+)")
_FS = re.compile(r"\\fs([\d.]+)")
_LEGACY_TO_NUMPAD = {1: 1, 2: 2, 3: 3, 5: 7, 6: 8, 7: 9, 9: 4, 10: 5, 11: 6}


def _cue_layout(event: pysubs2.SSAEvent, style: pysubs2.SSAStyle) -> tuple[int, tuple | None, float]:
    """(alignment 1–9, \\pos anchor or None, font size) for one cue, overrides applied."""
    tags = " ".join(_TAG_BLOCK.findall(event.text))
    alignment = int(style.alignment)
    if match := _AN.search(tags):
        alignment = int(match.group(1))
    elif (match := _LEGACY_A.search(tags)) and int(match.group(1)) in _LEGACY_TO_NUMPAD:
        alignment = _LEGACY_TO_NUMPAD[int(match.group(1))]
    position = None
    if match := _POS.search(tags):
        position = (float(match.group(1)), float(match.group(2)))
    font_size = float(style.fontsize)
    if match := _FS.search(tags):
        font_size = float(match.group(1))
    return alignment, position, font_size


def _line_count(event: pysubs2.SSAEvent, font_size: float, usable_width: float) -> int:
    plain = _TAG_BLOCK.sub("", event.text).replace("\\n", "\\N")
    chars_per_line = max(1, int(usable_width / (0.55 * font_size)))
    return sum(max(1, math.ceil(len(line) / chars_per_line)) for line in plain.split("\\N"))


def check_subtitle_safe_zone(
    subs: pysubs2.SSAFile,
    *,
    top_fraction: float = SAFE_TOP_FRACTION,
    bottom_fraction: float = SAFE_BOTTOM_FRACTION,
) -> dict[str, Any]:
    """Check every cue against the vertical safe area (see the module docstring).

    ``subs`` should be styled as it will be rendered (e.g. via
    :func:`~mediatasks.video.operations.apply_caption_style`). Fractions in the result
    are of the frame height, 0 at the top.
    """
    canvas = _canvas(subs)
    safe_top, safe_bottom = top_fraction, 1.0 - bottom_fraction
    violations = []
    checked = 0
    for index, event in enumerate(subs.events):
        if event.is_comment or not _TAG_BLOCK.sub("", event.text).strip():
            continue
        checked += 1
        style = subs.styles.get(event.style) or pysubs2.SSAStyle()
        alignment, position, font_size = _cue_layout(event, style)
        margin_v = event.marginv or style.marginv
        margin_l = event.marginl or style.marginl
        margin_r = event.marginr or style.marginr
        lines = _line_count(event, font_size, canvas.width - margin_l - margin_r)
        box_height = lines * font_size * 1.2 + 2 * float(style.outline)
        row = (alignment - 1) // 3  # 0 bottom, 1 middle, 2 top
        if position is not None:
            anchor = position[1]
            top = {0: anchor - box_height, 1: anchor - box_height / 2, 2: anchor}[row]
        elif row == 0:
            top = canvas.height - margin_v - box_height
        elif row == 2:
            top = float(margin_v)
        else:
            top = (canvas.height - box_height) / 2
        top_fraction_cue = top / canvas.height
        bottom_fraction_cue = (top + box_height) / canvas.height
        problems = []
        if top_fraction_cue < safe_top:
            problems.append(f"enters the top {top_fraction:.0%} reserved area")
        if bottom_fraction_cue > safe_bottom:
            problems.append(f"enters the bottom {bottom_fraction:.0%} reserved area")
        if problems:
            violations.append(
                {
                    "index": index,
                    "start_seconds": event.start / 1000,
                    "end_seconds": event.end / 1000,
                    "text": event.plaintext[:200],
                    "top_fraction": round(top_fraction_cue, 4),
                    "bottom_fraction": round(bottom_fraction_cue, 4),
                    "problem": "; ".join(problems),
                }
            )
    return {
        "rule": {
            "reserved_top_fraction": top_fraction,
            "reserved_bottom_fraction": bottom_fraction,
            "description": (
                f"each cue's estimated text box must lie between {top_fraction:.0%} and "
                f"{1 - bottom_fraction:.0%} of the frame height (vertical-video platform UI)"
            ),
        },
        "cues_checked": checked,
        "violations": violations[:100],
        "violation_count": len(violations),
        "ok": not violations,
    }


# ------------------------------------------------------------------------ the steps


async def extract_frames(
    path: PathLike,
    workdir: PathLike,
    duration: float | None,
    count: int,
    *,
    on_progress: ProgressCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> list[dict[str, Any]]:
    """``count`` JPEG frames at evenly spaced times (the middle of ``count`` equal slices,
    so never the black first frame nor past the end), with one ffmpeg process that seeks
    to each time (cheap on long files: no full decode)."""
    if not duration or duration <= 0:
        times = [0.0]
    else:
        times = [duration * (index + 0.5) / count for index in range(count)]
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    args: list[str] = []
    for at in times:
        args += ["-ss", f"{at:.3f}", *input_args(path)]
    outputs = []
    for index, at in enumerate(times):
        target = workdir / f"frame_{index:03d}.jpg"
        outputs.append((target, at))
        # yuvj420p (full range) fixed up front: if a seek lands past the last frame, the
        # encoder still opens and that one output is just empty instead of failing all.
        args += ["-map", f"{index}:v:0", "-vf", "format=yuvj420p", "-frames:v", "1"]
        args += ["-q:v", "3", "-update", "1"]
        args += ["-f", "image2", str(target)]
    await run_ffmpeg(args, on_progress=on_progress, stage="extracting_frames", timeout=timeout)
    frames = []
    for target, at in outputs:
        if target.is_file() and target.stat().st_size > 0:
            frames.append({"path": str(target), "time_seconds": round(at, 3)})
        else:  # a seek past the last decodable frame: report, don't fail the analysis
            logger.warning("no frame could be extracted at %.3fs from %s", at, path)
    return frames


_SUMMARY_VALUE = re.compile(r"^\s*(I|LRA|Peak):\s+(-?inf|-?[\d.]+)\s+(LUFS|LU|dBFS)")


async def measure_loudness(
    path: PathLike,
    duration: float | None,
    *,
    on_progress: ProgressCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Integrated loudness (LUFS), loudness range (LU) and true peak (dBTP) of the first
    audio stream, with ffmpeg's EBU R128 scanner (``ebur128=peak=true``). Silence gives
    ``integrated_lufs: None`` and ``silent: True``; a -inf peak is ``None``."""
    tail = await run_ffmpeg_capture(
        [*input_args(path), "-map", "0:a:0", "-af", "ebur128=peak=true:framelog=verbose",
         "-f", "null", "-"],
        expected_duration=duration,
        on_progress=on_progress,
        stage="measuring_loudness",
        timeout=timeout,
    )  # fmt: skip
    try:
        summary = tail[max(i for i, line in enumerate(tail) if line.rstrip().endswith("Summary:")) :]
    except ValueError:
        raise unsupported_media("ffmpeg printed no loudness summary for the audio") from None
    values: dict[str, float] = {}
    for line in summary:
        if (match := _SUMMARY_VALUE.match(line)) and match.group(1) not in values:
            values[match.group(1)] = float(match.group(2))
    integrated = values.get("I")
    silent = integrated is None or integrated <= SILENCE_GATE_LUFS
    peak = values.get("Peak")
    return {
        "integrated_lufs": None if silent else integrated,
        "loudness_range_lu": None if silent else values.get("LRA"),
        "true_peak_dbtp": peak if peak is not None and math.isfinite(peak) else None,
        "silent": silent,
    }


async def extract_speech_audio(
    path: PathLike,
    target: PathLike,
    duration: float | None,
    *,
    on_progress: ProgressCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Path:
    """The first audio stream as 16 kHz mono 16-bit WAV (what speech recognisers take)."""
    await run_ffmpeg(
        [*input_args(path), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", "16000",
         "-c:a", "pcm_s16le", "-f", "wav", os.fspath(target)],
        expected_duration=duration,
        on_progress=on_progress,
        stage="extracting_audio",
        timeout=timeout,
    )  # fmt: skip
    return Path(target)


def _jsonable(value: Any) -> Any:
    """Transcripts come back as whatever the transcriber returns: make them JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif hasattr(value, "model_dump"):
        value = value.model_dump()
    elif hasattr(value, "to_dict"):
        value = value.to_dict()
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


async def _gather_or_cancel(steps: dict[str, Coroutine[Any, Any, Any]]) -> dict[str, Any]:
    """Run coroutines concurrently; on the first failure cancel the rest (so their ffmpeg
    processes are killed), wait for them, and raise that failure."""
    tasks = {name: asyncio.ensure_future(step) for name, step in steps.items()}
    try:
        done, pending = await asyncio.wait(tasks.values(), return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:  # we were cancelled: cancel every step and wait for them
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        raise
    failures = [error for task in done if not task.cancelled() and (error := task.exception()) is not None]
    if failures:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        raise failures[0]
    return {name: task.result() for name, task in tasks.items()}


class _CombinedProgress:
    """One 0–100 progress for several steps running at once (weighted mean)."""

    def __init__(self, callback: ProgressCallback | None, weights: dict[str, float]) -> None:
        self._reporter = ProgressReporter(callback, "analyzing")
        self._weights = weights
        self._done = dict.fromkeys(weights, 0.0)

    def for_step(self, name: str) -> Callable[[float, str], Awaitable[None]]:
        async def update(percent: float, _stage: str) -> None:
            self._done[name] = percent
            total = sum(self._weights.values())
            overall = sum(self._done[key] * weight for key, weight in self._weights.items())
            await self._reporter.report(overall / total)

        return update

    async def finish(self) -> None:
        await self._reporter.report(100.0, force=True)


async def _timed(timings: dict[str, float], name: str, step: Awaitable[Any]) -> Any:
    started = time.monotonic()
    try:
        return await step
    finally:
        timings[name] = round(time.monotonic() - started, 3)


async def analyze_video(
    path: PathLike,
    workdir: PathLike,
    *,
    target_aspect_ratios: Sequence[str] = ("9:16",),
    frame_count: int = 3,
    transcribe: Transcriber | None = None,
    subtitles_path: PathLike | None = None,
    caption_style: CaptionStyle | None = None,
    aspect_tolerance: float = DEFAULT_ASPECT_TOLERANCE,
    on_progress: ProgressCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Analyse a local video; frames and the speech WAV are written into ``workdir``.

    Returns a JSON-serialisable dict: ``media`` (probe facts), ``aspect_ratio`` (see
    :func:`describe_aspect_ratio`, one entry per target), ``frames`` (JPEG paths and
    times), ``loudness`` (``None`` without audio), ``transcript`` (what ``transcribe``
    returned for the 16 kHz mono WAV, made JSON; ``None`` when not asked or no audio),
    ``subtitle_safe_zone`` (when ``subtitles_path`` is given; rendered as
    ``caption_style`` would burn it if given, else with the file's own styles) and
    ``timings`` (seconds per step). Steps run concurrently; see the module docstring.
    """
    if not 1 <= frame_count <= MAX_FRAME_COUNT:
        raise invalid_input(f"frame_count must be between 1 and {MAX_FRAME_COUNT}")
    targets = list(target_aspect_ratios)
    for target in targets:
        parse_ratio(target)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    started = time.monotonic()

    info: MediaInfo = await _timed(timings, "probe", asyncio.to_thread(probe, path))
    if not info.has_video or not info.width or not info.height:
        raise unsupported_media("the video has no video stream")
    duration = info.duration_seconds

    weights = {"frames": 1.0}
    if info.has_audio:
        weights["loudness"] = 2.0
    if info.has_audio and transcribe is not None:
        weights["transcript"] = 4.0
    progress = _CombinedProgress(on_progress, weights)

    steps: dict[str, Coroutine[Any, Any, Any]] = {
        "frames": _timed(
            timings,
            "frames",
            extract_frames(
                path,
                workdir,
                info.video_duration_seconds or duration,  # audio may outlast the picture
                frame_count,
                on_progress=progress.for_step("frames"),
                timeout=timeout,
            ),
        )
    }
    if info.has_audio:
        steps["loudness"] = _timed(
            timings,
            "loudness",
            measure_loudness(path, duration, on_progress=progress.for_step("loudness"), timeout=timeout),
        )
    if info.has_audio and transcribe is not None:

        async def transcript_step() -> Any:
            report = progress.for_step("transcript")

            async def extraction_progress(percent: float, stage: str) -> None:
                await report(percent * 0.3, stage)  # extraction is the cheap 30%

            wav = await extract_speech_audio(
                path, workdir / "speech_16k_mono.wav", duration,
                on_progress=extraction_progress, timeout=timeout,
            )  # fmt: skip
            result = await asyncio.wait_for(transcribe(wav), timeout)
            await report(100.0, "transcribing")
            return _jsonable(result)

        steps["transcript"] = _timed(timings, "transcript", transcript_step())
    if subtitles_path is not None:

        def safe_zone_step() -> dict[str, Any]:
            subs = load_subtitles(subtitles_path)
            assert info.width and info.height
            if caption_style is not None:  # as burn_captions would render it
                subs = apply_caption_style(subs, caption_style, info.width, info.height)
            elif getattr(subs, "format", "") not in ("ass", "ssa"):
                # plain SRT/VTT as ffmpeg/libass render them by default (384x288 canvas)
                subs.styles["Default"] = pysubs2.SSAStyle(
                    fontname="Arial", fontsize=16, outline=1, shadow=0, marginv=10
                )
                for event in subs.events:
                    event.style = "Default"
            return check_subtitle_safe_zone(subs)

        steps["subtitle_safe_zone"] = _timed(timings, "subtitle_safe_zone", asyncio.to_thread(safe_zone_step))

    results = await _gather_or_cancel(steps)
    await progress.finish()
    timings["total"] = round(time.monotonic() - started, 3)

    aspect = describe_aspect_ratio(
        info.width,
        info.height,
        pixel_aspect_ratio=info.pixel_aspect_ratio,
        targets=targets,
        tolerance=aspect_tolerance,
    )
    subtitle_report = results.get("subtitle_safe_zone")
    if subtitle_report is not None:
        subtitle_report["video_is_9_16"] = abs(aspect["value"] - 9 / 16) / (9 / 16) <= aspect_tolerance
    return {
        "media": _jsonable(info.to_dict()),
        "duration_seconds": duration,
        "resolution": {"width": info.width, "height": info.height},
        "fps": info.fps,
        "video_codec": info.video_codec,
        "audio_codec": info.audio_codec,
        "aspect_ratio": aspect,
        "frames": results["frames"],
        "loudness": results.get("loudness"),
        "transcript": results.get("transcript"),
        "subtitle_safe_zone": subtitle_report,
        "timings": timings,
    }
