"""Provider-backed video jobs: text-to-video and the LLM score of a video analysis.

Video length. Vendors make videos of a few fixed lengths only (Veo: 4, 6 or 8 s; Sora: 4,
8 or 12 s), so the requested ``duration`` (default 5 s) is *rounded up* to the shortest
length the chosen provider makes that is at least as long: 5 s becomes 6 s on Veo and
8 s on Sora; the video is never shorter than asked. At submit time a duration longer
than the longest video of every provider that could be chosen (the pinned provider, or
every configured one) is refused with ``INVALID_INPUT`` naming that limit, so whichever
provider the strategy or a failover picks later can make it.

The other fields are used, never ignored. ``style`` ("cinematic", "documentary", ...) is
said in the prompt, which is how Sora and Veo take a style. ``image_url`` is the image the
video starts from: only offerings with the ``image_input`` capability (Sora) take one, so
such a request routes to them alone and is refused at submit when none is configured or in
service. ``fps``: no vendor lets a client choose the frame rate, so a video whose rate
differs from the one asked is re-timed here with ffmpeg (frames repeated or dropped; the
length is kept) and the result reports the rate it has; without ``fps`` the vendor's rate
is kept.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from mediatasks.core.errors import invalid_input
from mediatasks.core.worker import JobContext, JobResult, fetch_input, stage_progress
from mediatasks.media.ffmpeg import MediaInfo, input_args, probe, run_ffmpeg
from mediatasks.providers.base import (
    AUDIO_TRANSCRIPTION,
    VIDEO_ANALYSIS,
    VIDEO_GENERATION,
    CallContext,
    Provider,
    unmet_requirement,
)
from mediatasks.providers.contracts import (
    DEFAULT_ANALYSIS_PROMPT,
    GeneratedVideo,
    VideoAnalysisRequest,
    VideoGenerationRequest,
    VideoGenerator,
)
from mediatasks.providers.jobs import check_provider_request, pinned_provider, run_provider_call
from mediatasks.providers.operations import analyze_video, check_transcription, pin_for
from mediatasks.providers.router import ProviderRouter
from mediatasks.v1 import video_pb2

_RESOLUTIONS = {"480p": "854x480", "720p": "1280x720", "1080p": "1920x1080"}
DEFAULT_SECONDS = 5.0  # the proto's documented default
MAX_SECONDS = 60.0
MAX_FPS = 120
MAX_STYLE_CHARS = 100
# A vendor video within this many frames per second of the asked rate is kept as it is.
FPS_TOLERANCE = 0.01


def _styled(prompt: str, style: str) -> str:
    return f"{prompt.strip()}\n\nVisual style: {style}." if style else prompt


def _wanted(request: video_pb2.GenerateVideoRequest, image_path: str | None = None) -> VideoGenerationRequest:
    if not request.prompt.strip():
        raise invalid_input("prompt is required", field="prompt")
    if request.duration and not 0 < request.duration <= MAX_SECONDS:
        raise invalid_input(f"duration must be between 0 and {MAX_SECONDS:.0f} seconds", field="duration")
    size = _RESOLUTIONS.get((request.resolution or "720p").lower(), request.resolution)
    if "x" not in size:
        raise invalid_input("resolution must be 480p, 720p, 1080p or WIDTHxHEIGHT", field="resolution")
    style = " ".join(request.style.split())
    if len(style) > MAX_STYLE_CHARS:
        raise invalid_input(f"style must be at most {MAX_STYLE_CHARS} characters", field="style")
    if request.fps and not 1 <= request.fps <= MAX_FPS:
        raise invalid_input(f"fps must be between 1 and {MAX_FPS}", field="fps")
    if request.image_url and image_path is None:
        image_path = request.image_url  # at submit: only whether there is an image counts
    return VideoGenerationRequest(
        prompt=_styled(request.prompt, style),
        seconds=int(math.ceil(request.duration or DEFAULT_SECONDS)),
        size=size,
        model=request.model or None,
        image_path=image_path,
    )


def supported_lengths(capabilities: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The video lengths (seconds) an offering makes, shortest first; ``None``: any."""
    durations = capabilities.get("durations")
    if durations is None or durations == "*":
        return None
    return tuple(sorted(int(float(d)) for d in durations))


def fit_length(requested: int, lengths: Iterable[int] | None) -> int | None:
    """The shortest supported length at least ``requested``; ``None`` when every supported
    length is shorter. ``lengths`` ``None`` accepts any length."""
    if lengths is None:
        return requested
    longer = [length for length in lengths if length >= requested]
    return min(longer) if longer else None


def _candidate_lengths(
    providers: ProviderRouter, only: str | None, wanted: VideoGenerationRequest
) -> dict[str, tuple[int, ...] | None]:
    """Lengths made by each configured provider whose video offering is in service and
    can take ``wanted`` (a starting image, say)."""
    found: dict[str, tuple[int, ...] | None] = {}
    for status in providers.snapshot():
        if not status["configured"] or (only and status["name"] != only):
            continue
        for offering in status["offerings"]:
            if offering["task_type"] != VIDEO_GENERATION or not offering["available"]:
                continue
            # The pinned model was checked by check_provider_request; lengths are the offering's.
            require = {k: v for k, v in wanted.routing_requirements().items() if k != "model"}
            if unmet_requirement(offering["capabilities"], require) is None:
                found[status["name"]] = supported_lengths(offering["capabilities"])
    return found


def check_generation_request(request: video_pb2.GenerateVideoRequest, providers: ProviderRouter) -> str:
    """Submit-time check: some provider is configured, and the duration fits (see module)."""
    wanted = _wanted(request)
    provider = check_provider_request(
        providers, VIDEO_GENERATION, request.provider, wanted.routing_requirements(), strategy=request.strategy
    )
    for name, lengths in _candidate_lengths(providers, provider or None, wanted).items():
        if fit_length(wanted.seconds, lengths) is None:
            longest = max(lengths or (0,))
            raise invalid_input(
                f"duration {wanted.seconds} s is longer than {name} makes (at most {longest} s)",
                field="duration",
            )
    return provider


def analysis_operations(request: video_pb2.AnalyzeVideoRequest) -> tuple[str, ...]:
    """The provider operations a video analysis calls."""
    return (AUDIO_TRANSCRIPTION,) * request.transcribe + (VIDEO_ANALYSIS,) * request.llm_score


def check_analysis_request(request: video_pb2.AnalyzeVideoRequest, providers: ProviderRouter) -> str:
    """Submit-time check of an analysis's provider calls (transcript, LLM score): each is
    pinned to the named provider when it offers it (see ``pin_for``). Returns the pinned
    provider ("" when none)."""
    named = pinned_provider(request.provider)
    operations = analysis_operations(request)
    if request.transcribe:
        check_transcription(
            providers,
            None,
            only=pin_for(providers, named, AUDIO_TRANSCRIPTION, operations),
            strategy=request.strategy,
        )
    if request.llm_score:
        only = pin_for(providers, named, VIDEO_ANALYSIS, operations)
        check_provider_request(providers, VIDEO_ANALYSIS, only or "", strategy=request.strategy)
    return (named or "") if operations else ""


def fitted_request(provider: Provider, wanted: VideoGenerationRequest) -> VideoGenerationRequest:
    """``wanted`` with its length rounded up to one ``provider`` makes."""
    offering = provider.spec.offering(VIDEO_GENERATION)
    lengths = supported_lengths(offering.capabilities) if offering else None
    seconds = fit_length(wanted.seconds, lengths)
    if seconds is None:
        raise invalid_input(
            f"duration {wanted.seconds} s is longer than {provider.name} makes (at most {max(lengths or (0,))} s)",
            field="duration",
        )
    return replace(wanted, seconds=seconds)


async def generate_fitted_video(
    registry: ProviderRouter,
    wanted: VideoGenerationRequest,
    *,
    ctx: CallContext | None = None,
    strategy: str | None = None,
    only: str | None = None,
) -> GeneratedVideo:
    """Text to video on the provider the registry picks (failing over like every provider
    call), the length rounded up to one that provider makes."""

    async def call(provider: Provider) -> GeneratedVideo:
        generator = cast(VideoGenerator, provider)
        return await generator.generate_video(fitted_request(provider, wanted), ctx)

    return await registry.run(
        VIDEO_GENERATION, call, strategy, ctx=ctx, only=only, require=wanted.routing_requirements()
    )


async def retime(source: Path, target: Path, fps: int, seconds: float, *, ctx: JobContext) -> MediaInfo:
    """``source`` re-encoded at ``fps`` frames per second (frames repeated or dropped, the
    length and the audio kept); the new file's facts."""
    await run_ffmpeg(
        [*input_args(source), "-map", "0:v:0", "-map", "0:a:0?", "-vf", f"fps={fps}",
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
         "-c:a", "copy", "-movflags", "+faststart", str(target)],
        expected_duration=seconds,
        on_progress=stage_progress(ctx, 90, 96),
        stage="retiming",
        timeout=ctx.settings.ffmpeg_timeout_seconds,
    )  # fmt: skip
    return probe(target)


async def generate(providers: ProviderRouter, ctx: JobContext) -> JobResult:
    """The ``video_generation`` job (the service binds ``providers``)."""
    request = ctx.input(video_pb2.GenerateVideoRequest)
    image = await fetch_input(ctx, request.image_url, "input_image") if request.image_url else None
    # The provider streams the video into the job's directory as it downloads.
    path = ctx.workdir / "generated.mp4"
    wanted = replace(_wanted(request, str(image) if image else None), output_path=str(path))
    video = await run_provider_call(
        ctx,
        lambda call: generate_fitted_video(
            providers,
            wanted,
            ctx=call,
            strategy=request.strategy or None,
            only=pinned_provider(request.provider),
        ),
    )
    if video.seconds != wanted.seconds:
        ctx.log(f"{wanted.seconds} s asked; {video.provider} made {video.seconds:g} s")
    path = video.path
    info = probe(path)  # a vendor answer that is not a video fails the job here, with a reason
    if request.fps and abs((info.fps or 0.0) - request.fps) > FPS_TOLERANCE:
        ctx.log(f"{video.provider} made {info.fps or 0:g} fps; re-timed to the {request.fps} fps asked")
        retimed = ctx.workdir / "retimed.mp4"
        info = await retime(path, retimed, request.fps, info.duration_seconds or video.seconds, ctx=ctx)
        path = retimed
    artifact = await ctx.artifacts.put_file(path, owner=ctx.owner, role="video", filename="generated.mp4")
    result = video_pb2.VideoResult(
        video=artifact,
        duration_seconds=info.duration_seconds or 0.0,
        width=info.width or 0,
        height=info.height or 0,
        fps=info.fps or 0.0,
    )
    return JobResult(
        result=result,
        artifacts=[artifact],
        provider=video.provider,
        model=video.model,
        cost_usd=video.cost_usd,
    )


@dataclass
class LlmScore:
    score: dict
    provider: str
    model: str
    cost_usd: float


async def llm_score(
    providers: ProviderRouter, ctx: JobContext, request: video_pb2.AnalyzeVideoRequest, video: Path
) -> LlmScore:
    """The structured LLM score of ``video`` (the ``llm_score`` part of an analysis)."""
    prompt = DEFAULT_ANALYSIS_PROMPT + (f"\n\n{request.prompt}" if request.prompt else "")
    wanted = VideoAnalysisRequest(video_path=str(video), prompt=prompt)
    only = pin_for(providers, pinned_provider(request.provider), VIDEO_ANALYSIS, analysis_operations(request))
    outcome = await run_provider_call(
        ctx,
        lambda call: analyze_video(
            providers,
            wanted,
            ctx=call,
            strategy=request.strategy or None,
            only=only,
        ),
        low=5,
        high=85,
    )
    return LlmScore(outcome.score, outcome.provider, outcome.model, outcome.cost_usd)
