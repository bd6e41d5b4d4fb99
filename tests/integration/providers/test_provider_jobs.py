"""Provider-backed jobs as the media services run them, against the fake vendors: submit
checks (pinned providers, missing keys), video lengths rounded up to what the chosen
provider makes, subtitle translation keeping timings, and the provider status that each
service publishes to JetStream KV and the registry's ListProviders reads back."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import date
from functools import partial

import grpc
import nats
import pytest
from mediatasks.core import topology
from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.settings import Settings
from mediatasks.media.cues import Cue, CueRules
from mediatasks.providers.base import AUDIO_TRANSCRIPTION, IMAGE_GENERATION, TRANSLATION
from mediatasks.providers.contracts import VideoGenerationRequest
from mediatasks.providers.jobs import check_provider_request
from mediatasks.providers.router import ProviderRouter
from mediatasks.providers.status import ProviderStatusPublisher, provider_statuses, status_key
from mediatasks.providers.vendors.assemblyai_provider import AssemblyAIProvider
from mediatasks.providers.vendors.gemini_provider import GeminiProvider
from mediatasks.providers.vendors.openai_provider import OpenAIProvider
from mediatasks.providers.vendors.stability_provider import StabilityProvider
from mediatasks.providers.vendors.whisper_provider import WhisperProvider
from mediatasks.subtitle.handlers import generate_subtitles
from mediatasks.subtitle.translation import check_translation_request, rewrap, translate_cues
from mediatasks.testing.fake_vendors import FakeVendors, running_fakes, settings_from_env
from mediatasks.testing.jobs import JobEnvironment
from mediatasks.v1 import subtitle_pb2, tasks_pb2, tasks_pb2_grpc, video_pb2
from mediatasks.video.generation import check_generation_request, fit_length, generate_fitted_video

BEFORE_SORA_SHUTDOWN = date(2026, 6, 1)


@pytest.fixture(scope="module")
def fakes() -> Iterator[FakeVendors]:
    with running_fakes() as vendors:
        yield vendors


@pytest.fixture(autouse=True)
def fresh_fakes(fakes: FakeVendors) -> FakeVendors:
    fakes.reset()
    fakes.gemini.operation_polls = 1
    fakes.openai.video_polls = 1
    return fakes


def settings_for(fakes: FakeVendors, *vendors: str, **overrides: object) -> Settings:
    """Settings with the keys of ``vendors`` only (none: no cloud keys at all)."""
    env: dict[str, str] = {}
    for fake in fakes.all():
        if fake.name in vendors:
            env.update(fake.env())
    values: dict[str, object] = {**settings_from_env(env), "provider_timeout_seconds": 15.0}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def registry_for(settings: Settings, **kwargs: object) -> ProviderRouter:
    providers = [
        OpenAIProvider(settings, poll_interval_seconds=0.05),
        StabilityProvider(settings),
        GeminiProvider(settings, poll_interval_seconds=0.05),
        AssemblyAIProvider(settings, poll_interval_seconds=0.05),
        WhisperProvider(settings),
    ]
    return ProviderRouter(settings, providers, **kwargs)  # type: ignore[arg-type]


def refusal(call) -> MediaTasksError:
    with pytest.raises(MediaTasksError) as raised:
        call()
    return raised.value


# --- submit-time checks ------------------------------------------------------------------


def test_pinned_provider_without_key_is_refused_naming_its_own_variable(fakes):
    registry = registry_for(settings_for(fakes, "openai"))
    error = refusal(lambda: check_provider_request(registry, IMAGE_GENERATION, "stability"))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "PROVIDER_NOT_CONFIGURED"
    assert error.metadata["settings"] == "MEDIATASKS_STABILITY_API_KEY"
    assert "MEDIATASKS_STABILITY_API_KEY" in error.message
    # Unpinned, the configured OpenAI can run it; pinned to it, too.
    assert check_provider_request(registry, IMAGE_GENERATION, "") == ""
    assert check_provider_request(registry, IMAGE_GENERATION, " OpenAI ") == "openai"


def test_no_configured_provider_names_every_variable_and_bad_names_are_invalid(fakes):
    registry = registry_for(settings_for(fakes))
    error = refusal(lambda: check_provider_request(registry, IMAGE_GENERATION, ""))
    assert error.reason == "PROVIDER_NOT_CONFIGURED"
    assert set(error.metadata["settings"].split(",")) == {
        "MEDIATASKS_OPENAI_API_KEY",
        "MEDIATASKS_STABILITY_API_KEY",
        "MEDIATASKS_GEMINI_API_KEY",
    }
    pinned = refusal(lambda: check_provider_request(registry, AUDIO_TRANSCRIPTION, "assemblyai"))
    assert pinned.metadata["settings"] == "MEDIATASKS_ASSEMBLYAI_API_KEY"
    # Offline transcription needs no key.
    assert check_provider_request(registry, AUDIO_TRANSCRIPTION, "") == ""
    unknown = refusal(lambda: check_provider_request(registry, AUDIO_TRANSCRIPTION, "nope"))
    assert unknown.reason == "INVALID_INPUT"
    strategy = refusal(lambda: check_provider_request(registry, AUDIO_TRANSCRIPTION, "", strategy="fastest"))
    assert strategy.reason == "INVALID_INPUT" and "fastest" in strategy.message


def test_translation_is_checked_only_when_the_job_translates(fakes):
    keyless = registry_for(settings_for(fakes))
    same = subtitle_pb2.GenerateSubtitlesRequest(text="hi", target_language="EN-us")
    assert check_translation_request(same, keyless) == ""
    wanted = subtitle_pb2.GenerateSubtitlesRequest(text="hi", target_language="es")
    error = refusal(lambda: check_translation_request(wanted, keyless))
    assert error.reason == "PROVIDER_NOT_CONFIGURED"
    assert set(error.metadata["settings"].split(",")) == {
        "MEDIATASKS_OPENAI_API_KEY",
        "MEDIATASKS_GEMINI_API_KEY",
    }
    keyed = registry_for(settings_for(fakes, "openai"))
    assert check_translation_request(wanted, keyed) == ""
    pinned = subtitle_pb2.GenerateSubtitlesRequest(text="hi", target_language="es", provider="gemini")
    assert refusal(lambda: check_translation_request(pinned, keyed)).metadata["settings"] == (
        "MEDIATASKS_GEMINI_API_KEY"
    )


# --- video lengths -------------------------------------------------------------------------


def test_fit_length_rounds_up_to_a_supported_length():
    assert fit_length(5, (4, 6, 8)) == 6
    assert fit_length(4, (4, 6, 8)) == 4
    assert fit_length(1, (8, 4, 12)) == 4
    assert fit_length(9, (4, 6, 8)) is None
    assert fit_length(9, None) == 9


def test_video_duration_longer_than_every_provider_makes_is_refused_at_submit(fakes):
    registry = registry_for(settings_for(fakes, "gemini"))
    ok = video_pb2.GenerateVideoRequest(prompt="a kite", duration=5)
    assert check_generation_request(ok, registry) == ""
    too_long = video_pb2.GenerateVideoRequest(prompt="a kite", duration=9)
    error = refusal(lambda: check_generation_request(too_long, registry))
    assert error.reason == "INVALID_INPUT" and "at most 8 s" in error.message
    # While Sora is in service, 10 s fits it but not Veo: unpinned it is refused (the
    # strategy might pick Veo), pinned to OpenAI it is accepted.
    both = registry_for(settings_for(fakes, "gemini", "openai"), today=lambda: BEFORE_SORA_SHUTDOWN)
    ten = video_pb2.GenerateVideoRequest(prompt="a kite", duration=10)
    assert "gemini" in refusal(lambda: check_generation_request(ten, both)).message
    pinned = video_pb2.GenerateVideoRequest(prompt="a kite", duration=10, provider="openai")
    assert check_generation_request(pinned, both) == "openai"


async def test_five_second_video_is_made_at_the_next_length_of_the_chosen_provider(fakes):
    registry = registry_for(settings_for(fakes, "gemini"))
    try:
        video = await asyncio.wait_for(
            generate_fitted_video(registry, VideoGenerationRequest(prompt="a kite", seconds=5)),
            timeout=30,
        )
    finally:
        await registry.aclose()
    assert (video.provider, video.seconds) == ("gemini", 6.0)
    predict = [call for call in fakes.gemini.calls if call.route == "predict"]
    assert len(predict) == 1
    assert predict[0].json["parameters"]["durationSeconds"] == 6
    assert video.cost_usd == pytest.approx(6 * 0.40)

    sora = registry_for(settings_for(fakes, "openai"), today=lambda: BEFORE_SORA_SHUTDOWN)
    try:
        video = await asyncio.wait_for(
            generate_fitted_video(sora, VideoGenerationRequest(prompt="a kite", seconds=5)),
            timeout=30,
        )
    finally:
        await sora.aclose()
    assert (video.provider, video.seconds) == ("openai", 8.0)
    created = [call for call in fakes.openai.calls if call.route == "videos.create"]
    assert len(created) == 1
    sent = created[0].fields.get("seconds") or (created[0].json or {}).get("seconds")
    assert str(sent) == "8"


# --- translation ---------------------------------------------------------------------------


def test_rewrap_keeps_fitting_text_and_balances_the_rest():
    rules = CueRules(max_chars_per_line=20, max_lines=2)
    assert rewrap("short line\nanother", rules) == "short line\nanother"
    wrapped = rewrap("[es] una frase muy larga\nque sigue", rules)  # first line: 24 chars
    assert wrapped == "[es] una frase muy\nlarga que sigue"
    # Too long for two lines of 20: still two lines, as even as the words allow.
    long = rewrap(" ".join(["palabra"] * 9), rules)
    assert len(long.split("\n")) == 2


async def test_translated_cues_keep_their_times(fakes):
    registry = registry_for(settings_for(fakes, "openai", "gemini"))
    cues = [
        Cue(0.5, 2.25, "Call me back\nwhen you can."),
        Cue(2.4, 4.0, "The train leaves at noon."),
        Cue(4.1, 6.9, "See you there."),
    ]
    try:
        translated = await asyncio.wait_for(
            translate_cues(registry, cues, "es", source="en", rules=CueRules()), timeout=30
        )
    finally:
        await registry.aclose()
    assert translated.provider == "openai" and translated.cost_usd > 0
    assert [(c.start, c.end) for c in translated.cues] == [(c.start, c.end) for c in cues]
    assert [c.text for c in translated.cues] == [
        "[es] Call me back\nwhen you can.",
        "[es] The train leaves at noon.",
        "[es] See you there.",
    ]
    assert fakes.openai.count("chat") == 1
    assert [c.text for c in cues][0] == "Call me back\nwhen you can."  # inputs untouched


async def test_a_subtitle_job_translates_through_the_router_its_service_binds(fakes, nats_url):
    settings = settings_for(fakes, "openai", nats_url=nats_url)
    registry = registry_for(settings)
    nc = await nats.connect(nats_url)
    env = JobEnvironment(settings, ArtifactStore(nc.jetstream(), settings), owner=f"tr-{uuid.uuid4().hex[:6]}")
    request = subtitle_pb2.GenerateSubtitlesRequest(text="See you there.", target_language="es")
    try:
        done = await asyncio.wait_for(env.run(partial(generate_subtitles, registry), request), timeout=30)
    finally:
        await registry.aclose()
        await nc.close()
    result = done.result
    assert isinstance(result, subtitle_pb2.SubtitleResult)
    assert (done.provider, result.language) == ("openai", "es") and done.cost_usd > 0
    assert "[es] See you there." in result.content
    assert fakes.openai.count("chat") == 1
    assert env.cancel_confirmed is False  # run_provider_call records the call's answer


# --- provider status ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def by_name(statuses) -> dict[str, tasks_pb2.ProviderStatus]:
    return {status.name: status for status in statuses}


def test_status_follows_configuration_and_the_circuit_breaker(fakes):
    clock = Clock()
    settings = settings_for(fakes, "openai", circuit_failure_threshold=2, circuit_reset_seconds=30.0)
    registry = registry_for(settings, clock=clock)
    image = by_name(provider_statuses(registry, "image"))
    assert set(image) == {"openai", "stability", "gemini"}  # the image generators only
    assert image["openai"].health == "healthy" and image["openai"].configured
    assert image["openai"].task_types == [IMAGE_GENERATION]
    assert image["stability"].health == "unconfigured" and not image["stability"].configured
    assert "MEDIATASKS_STABILITY_API_KEY" in image["stability"].settings
    assert set(by_name(provider_statuses(registry, "audio"))) == {
        "openai",
        "assemblyai",
        "whisper",
    }
    # Subtitles from speech transcribe, so the subtitle service lists transcribers too.
    subtitle = by_name(provider_statuses(registry, "subtitle"))
    assert subtitle["openai"].task_types == [AUDIO_TRANSCRIPTION, TRANSLATION]
    assert subtitle["whisper"].task_types == [AUDIO_TRANSCRIPTION]

    breaker = registry.breaker("openai")
    breaker.record_failure()
    breaker.record_failure()
    assert by_name(provider_statuses(registry, "image"))["openai"].health == "open_circuit"
    clock.now += 31
    assert by_name(provider_statuses(registry, "image"))["openai"].health == "half_open"
    breaker.record_success()
    assert by_name(provider_statuses(registry, "image"))["openai"].health == "healthy"


async def test_published_status_is_listed_by_the_registry_and_removed_on_stop(
    fakes, nats_url, registry_service, api_key
):
    service = f"itest{uuid.uuid4().hex[:8]}"
    registry = registry_for(settings_for(fakes, "openai"))
    nc = await nats.connect(nats_url)
    publisher = ProviderStatusPublisher(nc.jetstream(), registry, service, interval=5.0, check_every=0.1)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}")
    stub = tasks_pb2_grpc.TaskRegistryStub(channel)
    metadata = (("x-api-key", api_key),)

    async def listed() -> dict[str, tasks_pb2.ProviderStatus]:
        response = await stub.ListProviders(tasks_pb2.ListProvidersRequest(), metadata=metadata, timeout=10)
        return {p.name: p for p in response.providers if p.service == service}

    async def wait_listed(predicate, timeout: float = 10.0) -> dict[str, tasks_pb2.ProviderStatus]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = await listed()
            if predicate(found):
                return found
            assert asyncio.get_running_loop().time() < deadline, f"never listed: {found}"
            await asyncio.sleep(0.1)

    running = asyncio.create_task(publisher.run())
    try:
        found = await wait_listed(lambda f: len(f) == 5)
        assert found["openai"].configured and found["openai"].health == "healthy"
        assert found["assemblyai"].health == "unconfigured"
        assert found["assemblyai"].settings == [
            "MEDIATASKS_ASSEMBLYAI_API_KEY",
            "MEDIATASKS_ASSEMBLYAI_BASE_URL",
        ]

        # The stored value is the snake_case proto JSON, under <service>.<provider>.
        kv = await nc.jetstream().key_value(topology.PROVIDERS_BUCKET)
        stored = json.loads((await kv.get(status_key(service, "openai"))).value)
        assert stored["name"] == "openai" and stored["service"] == service
        assert "task_types" in stored

        # A change (the circuit opening) shows within a check, not a full interval.
        for _ in range(registry.breaker("openai").threshold):
            registry.breaker("openai").record_failure()
        found = await wait_listed(lambda f: f["openai"].health == "open_circuit", timeout=3.0)
    finally:
        await publisher.stop()
        await asyncio.wait_for(running, timeout=5)
        await registry.aclose()
    await wait_listed(lambda f: not f, timeout=5.0)
    await channel.close()
    await nc.close()


async def test_every_live_provider_is_listed_while_services_rewrite_their_statuses(nats_url, registry_service, api_key):
    """Services rewrite every status every few seconds; a listing taken meanwhile still has
    them all (a listing that ended early left a live provider out of /providers)."""
    service = f"race{uuid.uuid4().hex[:8]}"
    names = [f"p{index}" for index in range(8)]
    nc = await nats.connect(nats_url)
    kv = await topology.ensure_kv(nc.jetstream(), topology.PROVIDERS_BUCKET, ttl=topology.PROVIDERS_TTL_SECONDS)
    values = {
        name: json.dumps({"name": name, "service": service, "configured": True, "health": "healthy"}).encode()
        for name in names
    }
    for name in names:
        await kv.put(status_key(service, name), values[name])
    stopping = asyncio.Event()

    async def rewrite() -> None:
        while not stopping.is_set():
            for name in names:
                await kv.put(status_key(service, name), values[name])
            await asyncio.sleep(0)

    writer = asyncio.create_task(rewrite())
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{registry_service.port}")
    stub = tasks_pb2_grpc.TaskRegistryStub(channel)
    try:
        for _ in range(60):
            response = await stub.ListProviders(
                tasks_pb2.ListProvidersRequest(), metadata=(("x-api-key", api_key),), timeout=10
            )
            listed = sorted(p.name for p in response.providers if p.service == service)
            assert listed == names
        # A deleted status is not listed.
        stopping.set()
        await writer
        await kv.delete(status_key(service, "p0"))
        response = await stub.ListProviders(
            tasks_pb2.ListProvidersRequest(), metadata=(("x-api-key", api_key),), timeout=10
        )
        assert sorted(p.name for p in response.providers if p.service == service) == names[1:]
    finally:
        stopping.set()
        await writer
        for name in names:
            await kv.delete(status_key(service, name))
        await channel.close()
        await nc.close()
