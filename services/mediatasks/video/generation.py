"""Provider-backed video jobs: text-to-video and the LLM score of a video analysis.

Video length. Vendors make videos of a few fixed lengths only (Veo: 4, 6 or 8 s; Sora: 4,
8 or 12 s), so the requested ``duration`` (default 5 s) is *rounded up* to the shortest
length the chosen provider makes that is at least as long: 5 s becomes 6 s on Veo and
8 s on Sora; the video is never shorter than asked. At submit time a duration longer
than the longest video of every provider that could be chosen (the pinned provider, or
every configured one) is refused with ``INVALID_INPUT`` naming that limit, so whichever
provider the strategy or a failover picks later can make it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from mediatasks.core.errors import invalid_input
from mediatasks.core.worker import JobContext, JobResult
from mediatasks.media.ffmpeg import probe
from mediatasks.providers.base import VIDEO_ANALYSIS, VIDEO_GENERATION, CallContext, Provider
from mediatasks.providers.contracts import (
    DEFAULT_ANALYSIS_PROMPT,
    GeneratedVideo,
    VideoAnalysisRequest,
    VideoGenerationRequest,
    VideoGenerator,
)
from mediatasks.providers.jobs import check_provider_request, pinned_provider, run_provider_call
from mediatasks.providers.operations import analyze_video
from mediatasks.providers.router import ProviderRouter
from mediatasks.v1 import video_pb2

_RESOLUTIONS = {"480p": "854x480", "720p": "1280x720", "1080p": "1920x1080"}
DEFAULT_SECONDS = 5.0  # the proto's documented default
MAX_SECONDS = 60.0


def _wanted(request: video_pb2.GenerateVideoRequest) -> VideoGenerationRequest:
    if not request.prompt.strip():
        raise invalid_input("prompt is required", field="prompt")
    if request.duration and not 0 < request.duration <= MAX_SECONDS:
        raise invalid_input(f"duration must be between 0 and {MAX_SECONDS:.0f} seconds", field="duration")
    size = _RESOLUTIONS.get((request.resolution or "720p").lower(), request.resolution)
    if "x" not in size:
        raise invalid_input("resolution must be 480p, 720p, 1080p or WIDTHxHEIGHT", field="resolution")
    return VideoGenerationRequest(
        prompt=request.prompt,
        seconds=int(math.ceil(request.duration or DEFAULT_SECONDS)),
        size=size,
        model=request.model or None,
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


def _candidate_lengths(providers: ProviderRouter, only: str | None) -> dict[str, tuple[int, ...] | None]:
    """Lengths made by each configured provider whose video offering is in service."""
    found: dict[str, tuple[int, ...] | None] = {}
    for status in providers.snapshot():
        if not status["configured"] or (only and status["name"] != only):
            continue
        for offering in status["offerings"]:
            if offering["task_type"] == VIDEO_GENERATION and offering["available"]:
                found[status["name"]] = supported_lengths(offering["capabilities"])
    return found


def check_generation_request(request: video_pb2.GenerateVideoRequest, providers: ProviderRouter) -> str:
    """Submit-time check: some provider is configured, and the duration fits (see module)."""
    wanted = _wanted(request)
    provider = check_provider_request(providers, VIDEO_GENERATION, request.provider, strategy=request.strategy)
    for name, lengths in _candidate_lengths(providers, provider or None).items():
        if fit_length(wanted.seconds, lengths) is None:
            longest = max(lengths or (0,))
            raise invalid_input(
                f"duration {wanted.seconds} s is longer than {name} makes (at most {longest} s)",
                field="duration",
            )
    return provider


def check_llm_score_request(request: video_pb2.AnalyzeVideoRequest, providers: ProviderRouter) -> str:
    return check_provider_request(providers, VIDEO_ANALYSIS, request.provider, strategy=request.strategy)


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

    return await registry.run(VIDEO_GENERATION, call, strategy, ctx=ctx, only=only)


async def generate(providers: ProviderRouter, ctx: JobContext) -> JobResult:
    """The ``video_generation`` job (the service binds ``providers``)."""
    request = ctx.input(video_pb2.GenerateVideoRequest)
    wanted = _wanted(request)
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
    path = ctx.workdir / "generated.mp4"
    path.write_bytes(video.data)
    info = probe(path)  # a vendor answer that is not a video fails the job here, with a reason
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
    outcome = await run_provider_call(
        ctx,
        lambda call: analyze_video(
            providers,
            wanted,
            ctx=call,
            strategy=request.strategy or None,
            only=pinned_provider(request.provider),
        ),
        low=5,
        high=85,
    )
    return LlmScore(outcome.score, outcome.provider, outcome.model, outcome.cost_usd)
