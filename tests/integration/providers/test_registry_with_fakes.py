"""The provider registry running the real adapters against the fake vendors: strategy
selection, cross-vendor failover, the circuit breaker, offline transcription, snapshot."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path

import pytest
from helpers.providers import SPEECH, SettingsFactory
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.settings import Settings
from mediatasks.providers.base import AUDIO_TRANSCRIPTION, IMAGE_GENERATION, VIDEO_GENERATION, CallContext
from mediatasks.providers.contracts import (
    ImageGenerationRequest,
    TranscriptionRequest,
    TranslationRequest,
    VideoAnalysisRequest,
    VideoGenerationRequest,
)
from mediatasks.providers.operations import (
    analyze_video,
    generate_image,
    generate_video,
    transcribe,
    translate,
)
from mediatasks.providers.router import ProviderRouter
from mediatasks.providers.vendors import default_providers
from mediatasks.providers.vendors.assemblyai_provider import AssemblyAIProvider
from mediatasks.providers.vendors.gemini_provider import GeminiProvider
from mediatasks.providers.vendors.openai_provider import OpenAIProvider
from mediatasks.providers.vendors.stability_provider import StabilityProvider
from mediatasks.providers.vendors.whisper_provider import WhisperProvider
from mediatasks.testing.fake_vendors import FakeVendors

RegistryFactory = Callable[..., ProviderRouter]


def fast_providers(settings: Settings) -> list:
    """The shipped providers, with short poll intervals for the fakes."""
    return [
        OpenAIProvider(settings, poll_interval_seconds=0.05),
        StabilityProvider(settings),
        GeminiProvider(settings, poll_interval_seconds=0.05),
        AssemblyAIProvider(settings, poll_interval_seconds=0.05),
        WhisperProvider(settings),
    ]


@pytest.fixture()
async def make_registry(make_settings: SettingsFactory) -> AsyncIterator[RegistryFactory]:
    made: list[ProviderRouter] = []

    def build(*, today: date | None = None, **settings_overrides: object) -> ProviderRouter:
        settings = make_settings(**settings_overrides)
        kwargs = {"today": (lambda: today)} if today else {}
        registry = ProviderRouter(settings, fast_providers(settings), **kwargs)  # type: ignore[arg-type]
        made.append(registry)
        return registry

    yield build
    for registry in made:
        await registry.aclose()


@pytest.mark.parametrize(
    ("strategy", "vendor"),
    [("quality", "openai"), ("speed", "stability"), ("cost", "stability")],
)
async def test_strategy_decides_which_vendor_gets_the_call(
    make_registry: RegistryFactory, fakes: FakeVendors, strategy: str, vendor: str
) -> None:
    registry = make_registry()
    result = await generate_image(registry, ImageGenerationRequest("a boat"), strategy=strategy)
    assert result.provider == vendor
    called = {fake.name: len(fake.calls) for fake in fakes.all()}
    assert called[vendor] == 1
    assert sum(called.values()) == 1


async def test_default_strategy_from_settings(make_registry: RegistryFactory, fakes: FakeVendors) -> None:
    registry = make_registry(provider_strategy="cost")
    result = await generate_image(registry, ImageGenerationRequest("a boat"))
    assert result.provider == "stability"


async def test_transient_failure_fails_over_to_another_vendor(
    make_registry: RegistryFactory, fakes: FakeVendors
) -> None:
    registry = make_registry()
    fakes.openai.fail(503, route="images")
    ctx = CallContext()
    result = await generate_image(registry, ImageGenerationRequest("a boat"), ctx=ctx)
    # quality order: openai (fails) -> gemini (another vendor) succeeds.
    assert ctx.attempts == ["openai", "gemini"] and result.provider == "gemini"
    assert fakes.openai.count("images") == 1 and fakes.gemini.count("generate") == 1
    snapshot = {entry["name"]: entry for entry in registry.snapshot()}
    assert snapshot["openai"]["failures"] == 1
    assert snapshot["openai"]["last_error"]["reason"] == "PROVIDER_UNAVAILABLE"
    assert snapshot["gemini"]["successes"] == 1
    assert snapshot["gemini"]["cost_usd_total"] == pytest.approx(0.039)


async def test_transcription_fails_over_from_assemblyai_to_openai(
    make_registry: RegistryFactory, fakes: FakeVendors, audio_path: Path
) -> None:
    registry = make_registry()
    fakes.assemblyai.fail(429, route="upload")
    ctx = CallContext()
    result = await transcribe(registry, TranscriptionRequest(str(audio_path), speaker_labels=True), ctx=ctx)
    assert ctx.attempts == ["assemblyai", "openai"]
    assert result.provider == "openai" and [u.speaker for u in result.utterances] == ["A", "B"]


async def test_timeout_fails_over_too(make_registry: RegistryFactory, fakes: FakeVendors) -> None:
    registry = make_registry()
    fakes.openai.hang(10, route="chat")
    ctx = CallContext(timeout_seconds=0.5)
    result = await translate(registry, TranslationRequest(("hello",), "fr"), ctx=ctx)
    assert ctx.attempts == ["openai", "gemini"] and result.texts == ["[fr] hello"]


async def test_a_pinned_provider_is_used_and_not_failed_over(
    make_registry: RegistryFactory, fakes: FakeVendors
) -> None:
    registry = make_registry()
    result = await generate_image(registry, ImageGenerationRequest("a"), only="stability")
    assert result.provider == "stability" and fakes.openai.calls == []
    fakes.stability.fail(503)
    with pytest.raises(MediaTasksError) as caught:
        await generate_image(registry, ImageGenerationRequest("a"), only="stability")
    assert caught.value.retryable and fakes.openai.calls == [] and fakes.gemini.calls == []


async def test_permanent_error_does_not_fail_over(make_registry: RegistryFactory, fakes: FakeVendors) -> None:
    registry = make_registry()
    fakes.openai.reject_content(route="images")
    with pytest.raises(MediaTasksError) as caught:
        await generate_image(registry, ImageGenerationRequest("forbidden"))
    assert caught.value.reason == "CONTENT_POLICY_VIOLATION"
    assert fakes.gemini.calls == [] and fakes.stability.calls == []


async def test_no_other_vendor_means_the_transient_error_reaches_the_worker(
    make_registry: RegistryFactory, fakes: FakeVendors
) -> None:
    registry = make_registry(only=("openai",))
    fakes.openai.fail(429, route="images", retry_after=3)
    with pytest.raises(MediaTasksError) as caught:
        await generate_image(registry, ImageGenerationRequest("a boat"))
    assert caught.value.retryable and caught.value.reason == "PROVIDER_RATE_LIMITED"
    assert caught.value.metadata["retry_after_seconds"] == "3"


async def test_circuit_opens_after_repeated_failures_and_half_opens_later(
    make_registry: RegistryFactory, fakes: FakeVendors
) -> None:
    registry = make_registry(circuit_failure_threshold=2, circuit_reset_seconds=0.4)
    fakes.openai.fail(500, route="images", times=2)
    for _ in range(2):
        with pytest.raises(MediaTasksError):
            await generate_image(registry, ImageGenerationRequest("a"), failover=False)
    assert fakes.openai.count("images") == 2
    assert registry.breaker("openai").state.value == "open"
    # While open, quality picks the next best vendor and OpenAI gets no traffic.
    result = await generate_image(registry, ImageGenerationRequest("a"), failover=False)
    assert result.provider == "gemini" and fakes.openai.count("images") == 2
    await asyncio.sleep(0.45)
    assert registry.breaker("openai").state.value == "half_open"
    # The half-open trial fails: open again, for another full period.
    fakes.openai.fail(503, route="images")
    with pytest.raises(MediaTasksError):
        await generate_image(registry, ImageGenerationRequest("a"), failover=False)
    assert registry.breaker("openai").state.value == "open"
    await asyncio.sleep(0.45)
    result = await generate_image(registry, ImageGenerationRequest("a"), failover=False)
    assert result.provider == "openai"
    assert registry.breaker("openai").state.value == "closed"
    assert fakes.openai.count("images") == 4


async def test_sora_is_skipped_after_its_shutdown_date(make_registry: RegistryFactory, fakes: FakeVendors) -> None:
    request = VideoGenerationRequest("a kite", seconds=4)
    before = make_registry(today=date(2026, 9, 1))
    assert (await generate_video(before, request, strategy="cost")).provider == "openai"
    after = make_registry(today=date(2026, 11, 24))
    assert (await generate_video(after, request, strategy="cost")).provider == "gemini"


async def test_video_analysis_prefers_gemini_and_fails_over_to_openai(
    make_registry: RegistryFactory, fakes: FakeVendors, video_path: Path
) -> None:
    registry = make_registry()
    result = await analyze_video(registry, VideoAnalysisRequest(str(video_path)))
    assert result.provider == "gemini"
    fakes.gemini.fail(503, route="upload.start")
    ctx = CallContext()
    result = await analyze_video(registry, VideoAnalysisRequest(str(video_path)), ctx=ctx)
    assert ctx.attempts == ["gemini", "openai"] and result.provider == "openai"
    assert result.score["summary"].startswith("Reviewed 4 frames")


async def test_offline_transcription_when_no_vendor_is_configured(
    make_registry: RegistryFactory, fakes: FakeVendors
) -> None:
    registry = make_registry(only=())
    registry.ensure_available(AUDIO_TRANSCRIPTION)
    with pytest.raises(MediaTasksError) as caught:
        registry.ensure_available(IMAGE_GENERATION)
    assert caught.value.reason == "PROVIDER_NOT_CONFIGURED"
    with pytest.raises(MediaTasksError):
        registry.ensure_available(VIDEO_GENERATION)
    speech = SPEECH / "call_me_back.wav"
    expected = (SPEECH / "call_me_back.txt").read_text().strip()
    progress: list[float] = []
    ctx = CallContext(on_progress=lambda percent, stage: progress.append(percent))
    result = await transcribe(registry, TranscriptionRequest(str(speech)), ctx=ctx)
    assert result.provider == "whisper" and result.cost_usd == 0.0
    assert result.model == "whisper-tiny.en"
    assert result.text == expected
    assert progress[-1] == 100.0
    assert all(fake.calls == [] for fake in fakes.all())


async def test_snapshot_after_traffic(make_registry: RegistryFactory, fakes: FakeVendors) -> None:
    registry = make_registry(only=("openai", "stability"))
    await registry.check_health()
    await generate_image(registry, ImageGenerationRequest("a"), strategy="cost")
    await generate_image(registry, ImageGenerationRequest("b"), strategy="cost")
    fakes.stability.fail(503)
    await generate_image(registry, ImageGenerationRequest("c"), strategy="cost")  # -> openai
    entries = {entry["name"]: entry for entry in registry.snapshot()}
    stability, openai, gemini = entries["stability"], entries["openai"], entries["gemini"]
    assert (stability["calls"], stability["successes"], stability["failures"]) == (3, 2, 1)
    assert stability["success_rate"] == pytest.approx(2 / 3)
    assert stability["latency_ms_mean"] > 0 and stability["latency_ms_p95"] > 0
    assert stability["cost_usd_total"] == pytest.approx(0.008)
    assert openai["cost_usd_total"] > 0 and openai["healthy"] is True
    assert gemini["configured"] is False
    assert gemini["health_detail"] == "not configured: set MEDIATASKS_GEMINI_API_KEY"
    assert entries["whisper"]["healthy"] is True
    dumped = json.dumps(list(entries.values()))
    assert fakes.openai.api_key not in dumped and fakes.stability.api_key not in dumped


def test_default_providers_cover_every_task_type() -> None:
    names = [p.name for p in default_providers(Settings())]
    assert names == ["openai", "stability", "gemini", "assemblyai", "whisper"]
