"""Selection math of the provider registry, over the real provider specs (no network).

The registry is given the shipped providers with dummy keys; the calls run through
``registry.run`` are plain test coroutines, so nothing contacts a vendor: what is under
test is which provider the registry picks, and what it records.
"""

from __future__ import annotations

import json
from datetime import date

import grpc
import pytest
from mediatasks.core.errors import MediaTasksError, transient
from mediatasks.core.settings import Settings
from mediatasks.providers.base import (
    AUDIO_TRANSCRIPTION,
    IMAGE_GENERATION,
    TRANSLATION,
    VIDEO_GENERATION,
    CallContext,
    Provider,
    Strategy,
    unmet_requirement,
)
from mediatasks.providers.contracts import GeneratedImages
from mediatasks.providers.router import ProviderRouter, rank_key
from mediatasks.providers.vendors import default_providers

ALL_KEYS = {
    "openai_api_key": "sk-unit-openai",
    "stability_api_key": "sk-unit-stability",
    "gemini_api_key": "unit-gemini",
    "assemblyai_api_key": "unit-assemblyai",
}


def registry(**overrides: object) -> ProviderRouter:
    today = overrides.pop("today", None)
    defaults = overrides.pop("default_strategies", None)
    settings = Settings(**{**ALL_KEYS, **overrides})  # type: ignore[arg-type]
    kwargs: dict[str, object] = {}
    if today is not None:
        kwargs["today"] = lambda: today
    return ProviderRouter(
        settings,
        default_providers(settings),
        default_strategies=defaults,  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def image_result(provider: Provider, cost: float = 0.01) -> GeneratedImages:
    return GeneratedImages(images=[], provider=provider.name, model="m", cost_usd=cost)


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (Strategy.QUALITY, "openai"),  # 0.92 vs gemini 0.85 vs stability 0.75
        (Strategy.SPEED, "stability"),  # 0.8 vs gemini 0.7 vs openai 0.5
        (Strategy.COST, "stability"),  # $0.004 vs $0.039 vs $0.042 per image
    ],
)
def test_static_strategies_pick_by_offering_scores(strategy: Strategy, expected: str) -> None:
    assert registry().select(IMAGE_GENERATION, strategy).name == expected


def test_transcription_quality_prefers_assemblyai_and_cost_prefers_offline() -> None:
    reg = registry()
    assert reg.select(AUDIO_TRANSCRIPTION, "quality").name == "assemblyai"
    assert reg.select(AUDIO_TRANSCRIPTION, "cost").name == "whisper"
    assert reg.select(AUDIO_TRANSCRIPTION, "speed").name == "openai"


def test_default_strategy_comes_from_settings_then_per_task_type() -> None:
    assert registry(provider_strategy="cost").select(IMAGE_GENERATION).name == "stability"
    reg = registry(provider_strategy="cost", default_strategies={TRANSLATION: "quality"})
    assert reg.select(TRANSLATION).name == "openai"
    assert reg.select(IMAGE_GENERATION).name == "stability"
    assert reg.default_strategy(TRANSLATION) is Strategy.QUALITY


def test_unknown_strategy_is_a_client_error() -> None:
    with pytest.raises(MediaTasksError) as caught:
        registry().select(IMAGE_GENERATION, "cheapest")
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "load_balance" in caught.value.message


async def test_reliability_strategy_follows_recent_success_rate() -> None:
    reg = registry()

    async def fail_at_openai(provider: Provider) -> GeneratedImages:
        if provider.name == "openai":
            raise transient("PROVIDER_UNAVAILABLE", "openai is down")
        return image_result(provider)

    # Before any call every provider scores 0.5: ties fall back to quality.
    assert reg.select(IMAGE_GENERATION, "reliability").name == "openai"
    for _ in range(3):
        result = await reg.run(IMAGE_GENERATION, fail_at_openai, "quality")
        assert result.provider == "gemini"  # failed over from openai each time
    assert reg.stats("openai").reliability() == pytest.approx(1 / 5)
    assert reg.stats("gemini").reliability() == pytest.approx(4 / 5)
    assert reg.select(IMAGE_GENERATION, "reliability").name == "gemini"


async def test_load_balance_rotates_and_prefers_idle_providers() -> None:
    reg = registry()
    picks = [reg.select(IMAGE_GENERATION, "load_balance").name for _ in range(6)]
    assert sorted(picks[:3]) == ["gemini", "openai", "stability"]
    assert picks[3:] == picks[:3]
    # A provider with a call in flight is chosen last.
    reg.stats("gemini").in_flight = 1
    reg.stats("openai").in_flight = 1
    assert reg.select(IMAGE_GENERATION, "load_balance").name == "stability"


def test_rank_key_orders_ties_by_name() -> None:
    reg = registry()
    offering = reg.get("openai").spec.offering(IMAGE_GENERATION)
    assert offering is not None
    stats = reg.stats("openai")
    assert rank_key(Strategy.QUALITY, offering, stats, "a") < rank_key(Strategy.QUALITY, offering, stats, "b")


def test_unconfigured_task_type_names_the_variables_to_set() -> None:
    reg = ProviderRouter(Settings(), default_providers(Settings()))
    with pytest.raises(MediaTasksError) as caught:
        reg.ensure_available(IMAGE_GENERATION)
    error = caught.value
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "PROVIDER_NOT_CONFIGURED"
    assert error.metadata["settings"].split(",") == [
        "MEDIATASKS_OPENAI_API_KEY",
        "MEDIATASKS_STABILITY_API_KEY",
        "MEDIATASKS_GEMINI_API_KEY",
    ]
    with pytest.raises(MediaTasksError) as caught:
        reg.ensure_available(VIDEO_GENERATION)
    assert "MEDIATASKS_GEMINI_API_KEY" in caught.value.message


def test_transcription_is_always_available_offline_but_not_with_speaker_labels() -> None:
    reg = ProviderRouter(Settings(), default_providers(Settings()))
    reg.ensure_available(AUDIO_TRANSCRIPTION)
    assert reg.select(AUDIO_TRANSCRIPTION).name == "whisper"
    with pytest.raises(MediaTasksError) as caught:
        reg.ensure_available(AUDIO_TRANSCRIPTION, {"speaker_labels": True})
    assert caught.value.metadata["settings"] == "MEDIATASKS_OPENAI_API_KEY,MEDIATASKS_ASSEMBLYAI_API_KEY"
    with pytest.raises(MediaTasksError) as caught:
        reg.ensure_available(AUDIO_TRANSCRIPTION, {"language": "pt-BR"})
    assert caught.value.reason == "PROVIDER_NOT_CONFIGURED"


def test_requirement_nobody_meets_is_invalid_input() -> None:
    with pytest.raises(MediaTasksError) as caught:
        registry().ensure_available(IMAGE_GENERATION, {"size": "333x333"})
    assert caught.value.reason == "INVALID_INPUT"
    assert "stability: size 333x333 not supported" in caught.value.message


def test_requirements_filter_candidates() -> None:
    reg = registry()
    # Only Stability offers negative prompts as a parameter and 1216x832.
    assert reg.select(IMAGE_GENERATION, "quality", require={"size": "1216x832"}).name == "stability"
    names = {p.name for p, _ in reg.candidates(AUDIO_TRANSCRIPTION, require={"language": "es"})}
    assert names == {"openai", "assemblyai"}


@pytest.mark.parametrize(
    ("capabilities", "require", "unmet"),
    [
        ({"languages": ["en"]}, {"language": "en-US"}, None),
        ({"languages": ["en"]}, {"language": "es"}, "language es not supported"),
        ({"languages": "*"}, {"language": "es"}, None),
        ({"max_file_bytes": 10}, {"file_bytes": 11}, "file_bytes 11 exceeds 10"),
        ({"max_file_bytes": 10}, {"file_bytes": None}, None),
        ({"speaker_labels": False}, {"speaker_labels": True}, "speaker_labels not supported"),
        ({}, {"speaker_labels": False}, None),
        ({"durations": ["4", "8"]}, {"seconds": 8}, None),
        ({"durations": ["4", "8"]}, {"seconds": 6}, "seconds 6 not supported"),
    ],
)
def test_unmet_requirement(capabilities: dict, require: dict, unmet: str | None) -> None:
    assert unmet_requirement(capabilities, require) == unmet


def test_unknown_requirement_key_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown provider requirement"):
        unmet_requirement({}, {"colour": "blue"})


def test_sunset_offering_is_not_chosen_after_its_date() -> None:
    before = registry(today=date(2026, 9, 1))
    assert before.select(VIDEO_GENERATION, "cost").name == "openai"  # $0.10/s vs $0.40/s
    after = registry(today=date(2026, 9, 25))
    assert after.select(VIDEO_GENERATION, "cost").name == "gemini"
    only_openai = ProviderRouter(
        Settings(openai_api_key="sk-x"),
        default_providers(Settings(openai_api_key="sk-x")),
        today=lambda: date(2026, 9, 25),
    )
    with pytest.raises(MediaTasksError) as caught:
        only_openai.ensure_available(VIDEO_GENERATION)
    assert caught.value.metadata["settings"] == "MEDIATASKS_GEMINI_API_KEY"


async def test_failover_goes_to_another_vendor_and_records_attempts() -> None:
    reg = registry()
    ctx = CallContext()
    seen: list[str] = []

    async def call(provider: Provider) -> GeneratedImages:
        seen.append(provider.name)
        if provider.name != "stability":
            raise transient("PROVIDER_RATE_LIMITED", f"{provider.name} says slow down")
        return image_result(provider, cost=0.004)

    result = await reg.run(IMAGE_GENERATION, call, "quality", ctx=ctx)
    assert seen == ["openai", "gemini", "stability"]
    assert ctx.attempts == seen and ctx.provider == "stability"
    assert result.provider == "stability"
    assert reg.stats("stability").cost_usd == pytest.approx(0.004)
    assert reg.stats("openai").failures == 1


async def test_permanent_error_never_fails_over() -> None:
    reg = registry()
    seen: list[str] = []

    async def call(provider: Provider) -> GeneratedImages:
        seen.append(provider.name)
        raise MediaTasksError(grpc.StatusCode.INVALID_ARGUMENT, "CONTENT_POLICY_VIOLATION", "no")

    with pytest.raises(MediaTasksError) as caught:
        await reg.run(IMAGE_GENERATION, call, "quality")
    assert caught.value.reason == "CONTENT_POLICY_VIOLATION"
    assert seen == ["openai"]
    # A refused prompt says nothing bad about the provider.
    assert reg.stats("openai").failures == 0 and reg.stats("openai").rejected == 1
    assert reg.breaker("openai").consecutive_failures == 0


async def test_without_failover_or_other_vendors_the_transient_error_is_raised() -> None:
    reg = registry()
    seen: list[str] = []

    async def call(provider: Provider) -> GeneratedImages:
        seen.append(provider.name)
        raise transient("PROVIDER_UNAVAILABLE", "down")

    with pytest.raises(MediaTasksError) as caught:
        await reg.run(IMAGE_GENERATION, call, "quality", failover=False)
    assert caught.value.retryable and seen == ["openai"]
    seen.clear()
    with pytest.raises(MediaTasksError) as caught:
        await reg.run(IMAGE_GENERATION, call, "quality")
    # Every vendor tried once; the last vendor's own error is what the worker sees.
    assert seen == ["openai", "gemini", "stability"]
    assert caught.value.reason == "PROVIDER_UNAVAILABLE" and caught.value.message == "down"


def test_snapshot_reports_configuration_without_secrets() -> None:
    reg = registry(gemini_api_key="")
    snapshot = {entry["name"]: entry for entry in reg.snapshot()}
    assert set(snapshot) == {"openai", "stability", "gemini", "assemblyai", "whisper"}
    gemini = snapshot["gemini"]
    assert gemini["configured"] is False and gemini["healthy"] is False
    assert {"name": "MEDIATASKS_GEMINI_API_KEY", "required": True, "set": False} in gemini["settings"]
    assert snapshot["openai"]["configured"] is True
    # The offline model needs no variable; its knobs are listed as optional.
    assert snapshot["whisper"]["configured"] is True
    assert not any(variable["required"] for variable in snapshot["whisper"]["settings"])
    dumped = json.dumps(reg.snapshot())
    for secret in ALL_KEYS.values():
        assert secret not in dumped
    sora = next(o for o in snapshot["openai"]["offerings"] if o["task_type"] == VIDEO_GENERATION)
    assert sora["available_until"] == "2026-09-24"


def test_only_pins_the_named_provider() -> None:
    reg = registry()
    assert reg.select(IMAGE_GENERATION, "quality", only="stability").name == "stability"
    with pytest.raises(MediaTasksError) as caught:
        reg.ensure_available(IMAGE_GENERATION, only="midjourney")
    assert caught.value.reason == "INVALID_INPUT" and caught.value.metadata["field"] == "provider"
    with pytest.raises(MediaTasksError) as caught:
        reg.ensure_available(IMAGE_GENERATION, only="assemblyai")
    assert "assemblyai does not run image_generation" in caught.value.message
    unconfigured = registry(gemini_api_key="")
    with pytest.raises(MediaTasksError) as caught:
        unconfigured.ensure_available(IMAGE_GENERATION, only="gemini")
    assert caught.value.metadata["settings"] == "MEDIATASKS_GEMINI_API_KEY"
    with pytest.raises(MediaTasksError) as caught:
        reg.ensure_available(IMAGE_GENERATION, {"size": "1216x832"}, only="openai")
    assert caught.value.reason == "INVALID_INPUT"


async def test_only_never_fails_over() -> None:
    reg = registry()
    seen: list[str] = []

    async def call(provider: Provider) -> GeneratedImages:
        seen.append(provider.name)
        raise transient("PROVIDER_UNAVAILABLE", "down")

    with pytest.raises(MediaTasksError) as caught:
        await reg.run(IMAGE_GENERATION, call, only="gemini")
    assert seen == ["gemini"] and caught.value.message == "down"
