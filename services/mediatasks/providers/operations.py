"""Typed entry points job handlers call: one per provider operation.

A service builds one router at start (:mod:`mediatasks.media_service` does)::

    router = ProviderRouter(settings, default_providers(settings))
    router.ensure_available(IMAGE_GENERATION, request.requirements())  # at submit

and a handler runs a call with failover and accounting::

    ctx = CallContext(on_progress=report)
    images = await generate_image(router, request, ctx=ctx, strategy="cost")

``only="stability"`` pins the provider a client named (no failover then). A job that calls
several operations (subtitles from speech that are then translated, a video analysis with a
transcript and an LLM score) pins each operation the named provider offers and routes the
others (:func:`pin_for`).

Every job that needs speech to text (transcription, subtitles from speech, the transcript of
a video analysis) goes through :func:`transcribe`, so language, strategy, failover, cost and
the circuit breaker apply the same way to all of them; :func:`check_transcription` is its
submit-time check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from mediatasks.core.errors import MediaTasksError
from mediatasks.providers.base import (
    AUDIO_TRANSCRIPTION,
    IMAGE_GENERATION,
    TRANSLATION,
    VIDEO_ANALYSIS,
    VIDEO_GENERATION,
    CallContext,
    Strategy,
    normalize_language,
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
    "check_transcription",
    "combine_calls",
    "generate_image",
    "generate_video",
    "pin_for",
    "transcribe",
    "translate",
]


def pin_for(router: ProviderRouter, name: str | None, operation: str, job_operations: Sequence[str] = ()) -> str | None:
    """The provider to pin ``operation`` of a job to, given the name a client pinned.

    The pin holds for every operation the named provider offers; an operation it does not
    offer is routed as usual when the provider offers another of ``job_operations`` (a
    job's speech transcribed by AssemblyAI, its translation by whoever translates). When
    it offers none of them, or the name is unknown, the name is returned as it is, so the
    router refuses it with the reason.
    """
    if not name:
        return None
    try:
        spec = router.get(name).spec
    except KeyError:
        return name
    if spec.offering(operation) is not None:
        return name
    if any(spec.offering(other) is not None for other in job_operations if other != operation):
        return None
    return name


def combine_calls(calls: Sequence[tuple[str, str, float]], default: str = "local") -> tuple[str, str, float]:
    """The ``(provider, model, cost_usd)`` a job that made several provider calls records:
    providers and models in the order they ran, each once, joined by ``+`` (subtitles
    transcribed by Whisper and translated by OpenAI: ``whisper+openai``), and the total
    cost; ``default`` names a job that called none."""
    providers = "+".join(dict.fromkeys(p for p, _, _ in calls if p)) or default
    models = "+".join(dict.fromkeys(m for _, m, _ in calls if m))
    return providers, models, round(sum(c for _, _, c in calls), 6)


def check_transcription(
    router: ProviderRouter,
    language: str | None,
    *,
    only: str | None = None,
    speaker_labels: bool = False,
    word_timestamps: bool = False,
    strategy: str | None = None,
    model: str | None = None,
) -> None:
    """Refuse at submit a speech-to-text request no configured provider can run.

    A language that only unconfigured providers speak is FAILED_PRECONDITION
    ``PROVIDER_NOT_CONFIGURED`` naming the variables to set (and saying which language
    asked for them); an unknown strategy or provider name is ``INVALID_INPUT``.
    """
    if strategy:
        Strategy.parse(strategy)
    require = TranscriptionRequest.submit_requirements(
        language, speaker_labels=speaker_labels, word_timestamps=word_timestamps, model=model
    )
    try:
        router.ensure_available(AUDIO_TRANSCRIPTION, require, only=only)
    except MediaTasksError as error:
        if language and error.reason == "PROVIDER_NOT_CONFIGURED" and error.metadata.get("settings"):
            code = normalize_language(language)
            names = error.metadata["settings"].replace(",", " or ")
            offline = router.settings.env_name("whisper_model_path")
            error.message = (
                f"no configured provider transcribes language {code!r}: set {names} "
                f"(or {offline} to a multilingual Whisper model)"
            )
            error.metadata["language"] = code
        raise


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
    """Speech to text on the provider the router picks (Whisper when offline)."""
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
    """Text to video on the provider the router picks (the request's length as it is; the
    video job rounds it up per provider, :mod:`mediatasks.video.generation`)."""
    return await router.run(
        VIDEO_GENERATION,
        lambda p: cast(VideoGenerator, p).generate_video(request, ctx),
        strategy,
        failover=failover,
        require=request.requirements(),
        ctx=ctx,
        only=only,
    )
