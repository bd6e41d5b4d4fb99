"""Video jobs that run locally with ffmpeg: captions, slideshows, audio, analysis."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

from google.protobuf import json_format
from PIL import Image

from mediatasks.core.limits import check_output_seconds, check_slideshow_pixels
from mediatasks.core.worker import JobContext, JobResult, fetch_input, stage_progress, store_output
from mediatasks.media.ffmpeg import MediaInfo, probe
from mediatasks.providers.base import AUDIO_TRANSCRIPTION, CallContext
from mediatasks.providers.contracts import TranscriptionRequest, TranscriptionResult
from mediatasks.providers.jobs import pinned_provider
from mediatasks.providers.operations import combine_calls, pin_for, transcribe
from mediatasks.providers.router import ProviderRouter
from mediatasks.v1 import common_pb2, video_pb2
from mediatasks.video.analysis import analyze_video
from mediatasks.video.generation import analysis_operations, llm_score
from mediatasks.video.operations import AudioFitMode, add_audio, burn_captions, images_to_video, slide_spans
from mediatasks.video.styles import caption_style_of


def _video_result(artifact: common_pb2.Artifact, info: MediaInfo) -> video_pb2.VideoResult:
    return video_pb2.VideoResult(
        video=artifact,
        duration_seconds=info.duration_seconds or 0.0,
        width=info.width or 0,
        height=info.height or 0,
        fps=info.fps or 0.0,
    )


def _output_name(requested: str, default: str) -> str:
    name = Path(requested or default).name
    return name if name.lower().endswith(".mp4") else f"{name}.mp4"


def header_pixels(path: Path) -> int:
    """An image's pixel count from its header (nothing is decoded); 0 if Pillow cannot
    read it (the slideshow step then reports the bad image)."""
    try:
        with Image.open(path) as image:
            return image.width * image.height
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return 0


async def check_input_duration(ctx: JobContext, path: Path, what: str) -> None:
    """Fail (OUTPUT_TOO_LONG) before any encoding when the output would be too long."""
    info = await asyncio.to_thread(probe, path)
    if info.duration_seconds:
        check_output_seconds(info.duration_seconds, ctx.settings, what)


async def caption(ctx: JobContext) -> JobResult:
    """The ``video_caption`` job."""
    request = ctx.input(video_pb2.BurnCaptionsRequest)
    video = await fetch_input(ctx, request.video_url, "input_video")
    await check_input_duration(ctx, video, "the captioned video")
    if request.subtitles:
        subtitles = ctx.workdir / "captions.txt"
        # Explicit UTF-8: the subtitle loader reads UTF-8 first, whatever the worker's locale.
        subtitles.write_text(request.subtitles, encoding="utf-8")
    else:
        subtitles = await fetch_input(ctx, request.subtitles_url, "captions", percent=4)
    out = ctx.workdir / "output.mp4"
    # No style in the request: an ASS file keeps its authored styles (SRT/VTT get the
    # library's default style either way).
    style = caption_style_of(request.style) if request.HasField("style") else None
    info = await burn_captions(
        video,
        subtitles,
        out,
        style=style,
        on_progress=stage_progress(ctx, 5, 95),
        timeout=ctx.settings.ffmpeg_timeout_seconds,
    )
    artifact = await store_output(
        ctx,
        out,
        role="video",
        filename=_output_name(request.output_filename, "captioned.mp4"),
        folder=request.path.strip("/"),
    )
    return JobResult(result=_video_result(artifact, info), artifacts=[artifact])


async def slideshow(ctx: JobContext) -> JobResult:
    """The ``video_img2vid`` job."""
    request = ctx.input(video_pb2.ImagesToVideoRequest)
    items = []
    pixels = 0
    for index, image in enumerate(request.images):
        path = await fetch_input(ctx, image.image_url, f"image_{index:04d}", percent=5 * index / len(request.images))
        pixels += await asyncio.to_thread(header_pixels, path)
        check_slideshow_pixels(pixels, ctx.settings)
        items.append((path, image.duration))
    if request.one_video_per_image:
        return await _video_per_image(ctx, request, items)
    out = ctx.workdir / "output.mp4"
    info = await images_to_video(
        items,
        out,
        width=request.width or 1280,
        height=request.height or 720,
        fps=request.fps or 25,
        background=request.background or "#000000",
        on_progress=stage_progress(ctx, 5, 95),
        timeout=ctx.settings.ffmpeg_timeout_seconds,
    )
    artifact = await store_output(
        ctx,
        out,
        role="video",
        filename=_output_name(request.output_filename, "slideshow.mp4"),
        folder=request.path.strip("/"),
    )
    result = _video_result(artifact, info)
    spans = slide_spans([image.duration for image in request.images], request.fps or 25)
    for image, (start, end) in zip(request.images, spans, strict=True):
        result.slides.add(id=image.id, image_url=image.image_url, start_seconds=start, end_seconds=end)
    return JobResult(result=result, artifacts=[artifact])


async def _video_per_image(
    ctx: JobContext, request: video_pb2.ImagesToVideoRequest, items: list[tuple[Path, float]]
) -> JobResult:
    """One video per image (``one_video_per_image``): <output_filename stem>_<n>.mp4
    (video_<n>.mp4 by default)."""
    stem = Path(_output_name(request.output_filename, "video.mp4")).stem
    result = video_pb2.VideoResult()
    artifacts = []
    share = 90 / len(items)
    for index, (image, item) in enumerate(zip(request.images, items, strict=True)):
        out = ctx.workdir / f"{stem}_{index + 1}.mp4"
        info = await images_to_video(
            [item],
            out,
            width=request.width or 1280,
            height=request.height or 720,
            fps=request.fps or 25,
            background=request.background or "#000000",
            on_progress=stage_progress(ctx, 5 + share * index, 5 + share * (index + 1)),
            timeout=ctx.settings.ffmpeg_timeout_seconds,
        )
        artifact = await store_output(ctx, out, role="video", filename=out.name, folder=request.path.strip("/"))
        artifacts.append(artifact)
        result.videos.add(
            id=image.id, image_url=image.image_url, video=artifact, duration_seconds=info.duration_seconds or 0.0
        )
        result.duration_seconds += info.duration_seconds or 0.0
        result.width, result.height, result.fps = info.width or 0, info.height or 0, info.fps or 0.0
    return JobResult(result=result, artifacts=artifacts)


async def mux_audio(ctx: JobContext) -> JobResult:
    """The ``video_add_audio`` job."""
    request = ctx.input(video_pb2.AddAudioRequest)
    video = await fetch_input(ctx, request.video_url, "input_video")
    audio = await fetch_input(ctx, request.audio_url, "input_audio", percent=4)
    await check_input_duration(ctx, video, "the video with its new audio")
    if (request.mode or "pad").lower() == "pad":  # pad: as long as the longer of the two
        await check_input_duration(ctx, audio, "the video padded to its audio")
    out = ctx.workdir / "output.mp4"
    info = await add_audio(
        video,
        audio,
        out,
        mode=cast(AudioFitMode, (request.mode or "pad").lower()),  # add_audio refuses other values
        replace=not request.keep_original_audio,
        volume=request.volume or 1.0,
        on_progress=stage_progress(ctx, 5, 95),
        timeout=ctx.settings.ffmpeg_timeout_seconds,
    )
    artifact = await store_output(
        ctx,
        out,
        role="video",
        filename=_output_name(request.output_filename, "with_audio.mp4"),
        folder=request.path.strip("/"),
    )
    return JobResult(result=_video_result(artifact, info), artifacts=[artifact])


async def analyze(providers: ProviderRouter, ctx: JobContext) -> JobResult:
    """The ``video_analysis`` job; ``providers`` (bound by the service) transcribe its
    speech and run its LLM score."""
    request = ctx.input(video_pb2.AnalyzeVideoRequest)
    video = await fetch_input(ctx, request.video_url, "input_video")
    subtitles = await fetch_input(ctx, request.subtitles_url, "subtitles", percent=3) if request.subtitles_url else None
    heard: list[TranscriptionResult] = []
    only = pin_for(providers, pinned_provider(request.provider), AUDIO_TRANSCRIPTION, analysis_operations(request))

    async def transcribe_speech(wav: Path) -> dict[str, Any]:
        # The analysis reports its own combined progress; this call only has to honour
        # the job's deadline and record whether a cancelled vendor call was confirmed.
        call = CallContext(timeout_seconds=ctx.job_timeout_seconds)
        try:
            outcome = await transcribe(
                providers,
                TranscriptionRequest(audio_path=str(wav)),
                ctx=call,
                strategy=request.strategy or None,
                only=only,
            )
        finally:
            if call.cancel_confirmed is not None:
                ctx.confirm_cancel(call.cancel_confirmed)
        heard.append(outcome)
        return {**outcome.transcript.to_dict(), "provider": outcome.provider, "model": outcome.model}

    local = analyze_video(
        video,
        ctx.workdir / "analysis",
        target_aspect_ratios=list(request.target_aspect_ratios) or ["9:16"],
        frame_count=request.frame_count or 3,
        transcribe=transcribe_speech if request.transcribe else None,
        subtitles_path=subtitles,
        on_progress=stage_progress(ctx, 5, 85),
        timeout=ctx.settings.ffmpeg_timeout_seconds,
    )
    calls: list[tuple[str, str, float]] = []
    if request.llm_score:
        # The LLM score is a vendor round trip of its own (upload, then wait for the
        # model), independent of the local steps: running both at once makes the job
        # as long as the slower one instead of their sum.
        report, scored = await asyncio.gather(local, llm_score(providers, ctx, request, video))
        report["llm_score"] = scored.score
        calls.append((scored.provider, scored.model, scored.cost_usd))
    else:
        report = await local
    calls[:0] = [(h.provider, h.model, h.cost_usd) for h in heard]
    provider, model, cost = combine_calls(calls)
    frames = []
    for index, frame in enumerate(report.get("frames") or []):
        path = Path(frame["path"])
        artifact = await ctx.artifacts.put_file(path, owner=ctx.owner, role="frame", filename=f"frame_{index:02d}.jpg")
        frame["artifact_id"] = artifact.artifact_id
        frame.pop("path", None)
        frames.append(artifact)
    result = video_pb2.VideoAnalysisResult(frames=frames)
    json_format.ParseDict({"fields": report}, result.report)
    return JobResult(result=result, artifacts=frames, provider=provider, model=model, cost_usd=cost)
