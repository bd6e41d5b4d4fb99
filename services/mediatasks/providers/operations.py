"""Typed entry points job handlers call: one per provider operation.

A service builds one router at start (:mod:`mediatasks.media_service` does)::

    router = ProviderRouter(settings, default_providers(settings))
    router.ensure_available(IMAGE_GENERATION, request.requirements())  # at submit

and a handler runs a call with failover and accounting::

    ctx = CallContext(on_progress=report)
    images = await generate_image(router, request, ctx=ctx, strategy="cost")

``only="stability"`` pins the provider a client named (no failover then).
"""

from __future__ import annotations

from typing import cast

from mediatasks.providers.base import (
    AUDIO_TRANSCRIPTION,
    IMAGE_GENERATION,
    TRANSLATION,
    VIDEO_ANALYSIS,
    VIDEO_GENERATION,
    CallContext,
    Strategy,
)
from mediatasks.providers.contracts import (
    GeneratedImages,
    GeneratedVideo,
    ImageGenerationRequest,
    ImageGenerator,
    Transcriber,
    TranscriptionRequest,
    TranscriptionResult,
    TranslationRequest,
    TranslationResult,
    Translator,
    VideoAnalysisRequest,
    VideoAnalysisResult,
    VideoAnalyzer,
    VideoGenerationRequest,
    VideoGenerator,
)
from mediatasks.providers.router import ProviderRouter

__all__ = [
    "analyze_video",
    "generate_image",
    "generate_video",
    "transcribe",
    "translate",
]


async def generate_image(
    router: ProviderRouter,
    request: ImageGenerationRequest,
    *,
    ctx: CallContext | None = None,
    strategy: Strategy | str | None = None,
    failover: bool = True,
    only: str | None = None,
) -> GeneratedImages:
    """Text to image on the provider the router picks."""
    return await router.run(
        IMAGE_GENERATION,
        lambda p: cast(ImageGenerator, p).generate_image(request, ctx),
        strategy,
        failover=failover,
        require=request.requirements(),
        ctx=ctx,
        only=only,
    )


async def transcribe(
    router: ProviderRouter,
    request: TranscriptionRequest,
    *,
    ctx: CallContext | None = None,
    strategy: Strategy | str | None = None,
    failover: bool = True,
    only: str | None = None,
) -> TranscriptionResult:
    """Speech to text on the provider the router picks (PocketSphinx when offline)."""
    return await router.run(
        AUDIO_TRANSCRIPTION,
        lambda p: cast(Transcriber, p).transcribe(request, ctx),
        strategy,
        failover=failover,
        require=request.requirements(),
        ctx=ctx,
        only=only,
    )


async def translate(
    router: ProviderRouter,
    request: TranslationRequest,
    *,
    ctx: CallContext | None = None,
    strategy: Strategy | str | None = None,
    failover: bool = True,
    only: str | None = None,
) -> TranslationResult:
    """Translate texts (subtitle cues) on the provider the router picks."""
    return await router.run(
        TRANSLATION,
        lambda p: cast(Translator, p).translate(request, ctx),
        strategy,
        failover=failover,
        require=request.requirements(),
        ctx=ctx,
        only=only,
    )


async def analyze_video(
    router: ProviderRouter,
    request: VideoAnalysisRequest,
    *,
    ctx: CallContext | None = None,
    strategy: Strategy | str | None = None,
    failover: bool = True,
    only: str | None = None,
) -> VideoAnalysisResult:
    """The structured LLM score of a video on the provider the router picks."""
    return await router.run(
        VIDEO_ANALYSIS,
        lambda p: cast(VideoAnalyzer, p).analyze_video(request, ctx),
        strategy,
        failover=failover,
        require=request.requirements(),
        ctx=ctx,
        only=only,
    )


async def generate_video(
    router: ProviderRouter,
    request: VideoGenerationRequest,
    *,
    ctx: CallContext | None = None,
    strategy: Strategy | str | None = None,
    failover: bool = True,
    only: str | None = None,
) -> GeneratedVideo:
    """Text to video on the provider the router picks."""
    return await router.run(
        VIDEO_GENERATION,
        lambda p: cast(VideoGenerator, p).generate_video(request, ctx),
        strategy,
        failover=failover,
        require=request.requirements(),
        ctx=ctx,
        only=only,
    )
