"""Provider adapters (one module per vendor) and typed entry points for job handlers.

Handlers build a registry once::

    registry = ProviderRegistry(settings, default_providers(settings))
    registry.ensure_available(IMAGE_GENERATION, request.requirements())  # at submit

and run a call with failover and accounting::

    ctx = CallContext(on_progress=report)
    images = await generate_image(registry, request, ctx=ctx, strategy="cost")

``only="stability"`` pins the provider a client named (no failover then).

Vendor SDKs are imported when their adapter module is, i.e. by :func:`default_providers`.
"""

from __future__ import annotations

from typing import cast

from mediatasks.core.providers import (
    AUDIO_TRANSCRIPTION,
    IMAGE_GENERATION,
    TRANSLATION,
    VIDEO_ANALYSIS,
    VIDEO_GENERATION,
    CallContext,
    Provider,
    ProviderRegistry,
    Strategy,
)
from mediatasks.core.settings import Settings
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

__all__ = [
    "analyze_video",
    "default_providers",
    "generate_image",
    "generate_video",
    "transcribe",
    "translate",
]


def default_providers(settings: Settings) -> list[Provider]:
    """Every provider the project ships, configured or not (the registry only picks
    configured ones, and its snapshot shows the others with the variables to set)."""
    from mediatasks.providers.assemblyai_provider import AssemblyAIProvider
    from mediatasks.providers.gemini_provider import GeminiProvider
    from mediatasks.providers.local import PocketSphinxProvider
    from mediatasks.providers.openai_provider import OpenAIProvider
    from mediatasks.providers.stability_provider import StabilityProvider

    return [
        OpenAIProvider(settings),
        StabilityProvider(settings),
        GeminiProvider(settings),
        AssemblyAIProvider(settings),
        PocketSphinxProvider(settings),
    ]


async def generate_image(
    registry: ProviderRegistry,
    request: ImageGenerationRequest,
    *,
    ctx: CallContext | None = None,
    strategy: Strategy | str | None = None,
    failover: bool = True,
    only: str | None = None,
) -> GeneratedImages:
    """Text to image on the provider the registry picks."""
    return await registry.run(
        IMAGE_GENERATION,
        lambda p: cast(ImageGenerator, p).generate_image(request, ctx),
        strategy,
        failover=failover,
        require=request.requirements(),
        ctx=ctx,
        only=only,
    )


async def transcribe(
    registry: ProviderRegistry,
    request: TranscriptionRequest,
    *,
    ctx: CallContext | None = None,
    strategy: Strategy | str | None = None,
    failover: bool = True,
    only: str | None = None,
) -> TranscriptionResult:
    """Speech to text on the provider the registry picks (PocketSphinx when offline)."""
    return await registry.run(
        AUDIO_TRANSCRIPTION,
        lambda p: cast(Transcriber, p).transcribe(request, ctx),
        strategy,
        failover=failover,
        require=request.requirements(),
        ctx=ctx,
        only=only,
    )


async def translate(
    registry: ProviderRegistry,
    request: TranslationRequest,
    *,
    ctx: CallContext | None = None,
    strategy: Strategy | str | None = None,
    failover: bool = True,
    only: str | None = None,
) -> TranslationResult:
    """Translate texts (subtitle cues) on the provider the registry picks."""
    return await registry.run(
        TRANSLATION,
        lambda p: cast(Translator, p).translate(request, ctx),
        strategy,
        failover=failover,
        require=request.requirements(),
        ctx=ctx,
        only=only,
    )


async def analyze_video(
    registry: ProviderRegistry,
    request: VideoAnalysisRequest,
    *,
    ctx: CallContext | None = None,
    strategy: Strategy | str | None = None,
    failover: bool = True,
    only: str | None = None,
) -> VideoAnalysisResult:
    """The structured LLM score of a video on the provider the registry picks."""
    return await registry.run(
        VIDEO_ANALYSIS,
        lambda p: cast(VideoAnalyzer, p).analyze_video(request, ctx),
        strategy,
        failover=failover,
        require=request.requirements(),
        ctx=ctx,
        only=only,
    )


async def generate_video(
    registry: ProviderRegistry,
    request: VideoGenerationRequest,
    *,
    ctx: CallContext | None = None,
    strategy: Strategy | str | None = None,
    failover: bool = True,
    only: str | None = None,
) -> GeneratedVideo:
    """Text to video on the provider the registry picks."""
    return await registry.run(
        VIDEO_GENERATION,
        lambda p: cast(VideoGenerator, p).generate_video(request, ctx),
        strategy,
        failover=failover,
        require=request.requirements(),
        ctx=ctx,
        only=only,
    )
