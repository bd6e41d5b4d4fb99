"""Provider-backed video jobs: text-to-video and the LLM score of a video analysis."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from mediatasks.core.errors import invalid_input
from mediatasks.core.provider_jobs import check_provider_request, run_provider_call
from mediatasks.core.providers import VIDEO_ANALYSIS, VIDEO_GENERATION, ProviderRegistry
from mediatasks.core.worker import JobContext, JobResult
from mediatasks.providers import analyze_video, generate_video
from mediatasks.providers.contracts import DEFAULT_ANALYSIS_PROMPT, VideoAnalysisRequest, VideoGenerationRequest
from mediatasks.video.ffmpeg import probe
from mediatasks.v1 import video_pb2

_RESOLUTIONS = {"480p": "854x480", "720p": "1280x720", "1080p": "1920x1080"}


def _wanted(request: video_pb2.GenerateVideoRequest) -> VideoGenerationRequest:
    if not request.prompt.strip():
        raise invalid_input("prompt is required", field="prompt")
    if request.duration and not 0 < request.duration <= 60:
        raise invalid_input("duration must be between 0 and 60 seconds", field="duration")
    size = _RESOLUTIONS.get((request.resolution or "720p").lower(), request.resolution)
    if "x" not in size:
        raise invalid_input("resolution must be 480p, 720p, 1080p or WIDTHxHEIGHT", field="resolution")
    return VideoGenerationRequest(
        prompt=request.prompt, seconds=int(math.ceil(request.duration or 4)), size=size, model=request.model or None
    )


def check_generation_request(request: video_pb2.GenerateVideoRequest, providers: ProviderRegistry) -> str:
    return check_provider_request(providers, VIDEO_GENERATION, request.provider, _wanted(request).requirements())


def check_llm_score_request(request: video_pb2.AnalyzeVideoRequest, providers: ProviderRegistry) -> str:
    return check_provider_request(providers, VIDEO_ANALYSIS, request.provider)


async def generate(ctx: JobContext) -> JobResult:
    request: video_pb2.GenerateVideoRequest = ctx.input(video_pb2.GenerateVideoRequest)
    wanted = _wanted(request)
    video = await run_provider_call(
        ctx,
        lambda call: generate_video(
            ctx.providers, wanted, ctx=call, strategy=request.strategy or None, only=request.provider or None
        ),
    )
    path = ctx.workdir / "generated.mp4"
    path.write_bytes(video.data)
    info = probe(path)  # a vendor answer that is not a video fails the job here, with a reason
    artifact = await ctx.artifacts.put_file(path, owner=ctx.owner, role="video", filename="generated.mp4")
    result = video_pb2.VideoResult(
        video=artifact, duration_seconds=info.duration_seconds or 0.0, width=info.width or 0,
        height=info.height or 0, fps=info.fps or 0.0,
    )
    return JobResult(result=result, artifacts=[artifact], provider=video.provider, model=video.model,
                     cost_usd=video.cost_usd)


@dataclass
class LlmScore:
    score: dict
    provider: str
    model: str
    cost_usd: float


async def llm_score(ctx: JobContext, request: video_pb2.AnalyzeVideoRequest, video: Path) -> LlmScore:
    prompt = DEFAULT_ANALYSIS_PROMPT + (f"\n\n{request.prompt}" if request.prompt else "")
    wanted = VideoAnalysisRequest(video_path=str(video), prompt=prompt)
    outcome = await run_provider_call(
        ctx,
        lambda call: analyze_video(
            ctx.providers, wanted, ctx=call, strategy=request.strategy or None, only=request.provider or None
        ),
        low=5, high=85,
    )
    return LlmScore(outcome.score, outcome.provider, outcome.model, outcome.cost_usd)
