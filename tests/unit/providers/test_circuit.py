"""The circuit breaker on its own and inside the registry, on a controlled clock."""

from __future__ import annotations

import asyncio

import pytest
from mediatasks.core.errors import MediaTasksError, transient
from mediatasks.core.settings import Settings
from mediatasks.providers.base import IMAGE_GENERATION, CostModel, HealthStatus, Offering, Provider, ProviderSpec
from mediatasks.providers.circuit import CircuitBreaker, CircuitState
from mediatasks.providers.contracts import GeneratedImages
from mediatasks.providers.router import ProviderRouter
from mediatasks.providers.vendors import default_providers


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_then_half_opens_for_one_trial() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, reset_seconds=30, clock=clock)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED
    breaker.record_success()  # a success resets the count
    for _ in range(3):
        assert breaker.acquire()
        breaker.record_failure()
    assert breaker.state is CircuitState.OPEN and not breaker.can_accept()
    assert breaker.seconds_until_half_open() == pytest.approx(30)
    clock.now += 29.9
    assert not breaker.acquire()
    clock.now += 0.1
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.acquire()  # the one trial call
    assert not breaker.acquire() and not breaker.can_accept()
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED and breaker.consecutive_failures == 0


def test_failed_trial_reopens_for_a_full_period() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, reset_seconds=10, clock=clock)
    breaker.record_failure()
    clock.now += 10
    assert breaker.acquire()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert breaker.seconds_until_half_open() == pytest.approx(10)


def test_cancelled_trial_frees_the_slot() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, reset_seconds=1, clock=clock)
    breaker.record_failure()
    clock.now += 1
    assert breaker.acquire()
    breaker.release()
    assert breaker.acquire()


def _registry(clock: Clock) -> ProviderRouter:
    settings = Settings(
        openai_api_key="sk-a",
        stability_api_key="sk-b",
        circuit_failure_threshold=2,
        circuit_reset_seconds=30,
    )
    return ProviderRouter(settings, default_providers(settings), clock=clock)


async def test_open_circuit_takes_provider_out_of_selection_until_half_open() -> None:
    clock = Clock()
    reg = _registry(clock)
    outcomes: dict[str, list[bool]] = {"openai": [False, False, True], "stability": [True] * 5}
    calls: list[str] = []

    async def call(provider: Provider) -> GeneratedImages:
        calls.append(provider.name)
        if not outcomes[provider.name].pop(0):
            raise transient("PROVIDER_UNAVAILABLE", "boom")
        return GeneratedImages(images=[], provider=provider.name, model="m", cost_usd=0.0)

    for _ in range(2):
        with pytest.raises(MediaTasksError):
            await reg.run(IMAGE_GENERATION, call, "quality", failover=False)
    assert reg.breaker("openai").state is CircuitState.OPEN
    snapshot = {e["name"]: e for e in reg.snapshot()}
    assert snapshot["openai"]["circuit"] == "open" and snapshot["openai"]["healthy"] is False
    # Quality would pick OpenAI, but its circuit is open.
    result = await reg.run(IMAGE_GENERATION, call, "quality")
    assert result.provider == "stability"
    clock.now += 30
    assert reg.breaker("openai").state is CircuitState.HALF_OPEN
    result = await reg.run(IMAGE_GENERATION, call, "quality")
    assert result.provider == "openai"
    assert reg.breaker("openai").state is CircuitState.CLOSED
    assert calls == ["openai", "openai", "stability", "openai"]


async def test_all_circuits_open_is_transient_provider_unavailable() -> None:
    clock = Clock()
    reg = _registry(clock)
    for name in ("openai", "stability"):
        reg.breaker(name).record_failure()
        reg.breaker(name).record_failure()
    with pytest.raises(MediaTasksError) as caught:
        reg.select(IMAGE_GENERATION)
    assert caught.value.retryable and caught.value.reason == "PROVIDER_UNAVAILABLE"
    assert "openai circuit open (retry in 30s)" in caught.value.message


async def test_cancellation_propagates_and_is_not_a_failure() -> None:
    reg = _registry(Clock())
    started = asyncio.Event()

    async def slow(provider: Provider) -> GeneratedImages:
        started.set()
        await asyncio.sleep(30)
        raise AssertionError("not reached")

    task = asyncio.create_task(reg.run(IMAGE_GENERATION, slow, "quality"))
    await asyncio.wait_for(started.wait(), 5)
    assert reg.stats("openai").in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stats = reg.stats("openai")
    assert stats.in_flight == 0 and stats.failures == 0 and stats.calls == 0
    assert reg.breaker("openai").consecutive_failures == 0


class OfflineImageProvider(Provider):
    """A provider written in the test (the interface is meant to be implemented) whose
    own health check fails, like a local engine missing its binary."""

    spec = ProviderSpec(
        name="local-images",
        vendor="local",
        offerings=(Offering(IMAGE_GENERATION, "m", quality=1.0, speed=1.0, cost=CostModel(0.0, "image")),),
    )

    async def health(self) -> HealthStatus:
        return HealthStatus(False, "renderer binary missing")


async def test_unhealthy_provider_is_skipped_after_a_health_check() -> None:
    settings = Settings(stability_api_key="sk-b")
    reg = ProviderRouter(settings, [*default_providers(settings), OfflineImageProvider(settings)])
    assert reg.select(IMAGE_GENERATION, "quality").name == "local-images"  # not checked yet
    await reg.check_health(timeout=1)
    assert reg.select(IMAGE_GENERATION, "quality").name == "stability"
    entry = next(e for e in reg.snapshot() if e["name"] == "local-images")
    assert entry["healthy"] is False and entry["health_detail"] == "renderer binary missing"
