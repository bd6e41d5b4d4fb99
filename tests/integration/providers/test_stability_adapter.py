"""The Stability adapter through the real ``stability-sdk`` (gRPC) against a loopback
server built on the SDK's own generated servicer."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator

import pytest
from helpers.providers import SettingsFactory, cancel_after_call_reaches, wait_until
from mediatasks.core.errors import MediaTasksError
from mediatasks.providers.base import CallContext
from mediatasks.providers.contracts import ImageGenerationRequest
from mediatasks.providers.vendors.stability_provider import StabilityProvider
from mediatasks.testing.fake_vendors import FakeVendors
from PIL import Image


@pytest.fixture()
async def stability(make_settings: SettingsFactory) -> AsyncIterator[StabilityProvider]:
    provider = StabilityProvider(make_settings())
    yield provider
    await provider.aclose()


async def test_generates_images_with_negative_prompt_seed_and_style(
    stability: StabilityProvider, fakes: FakeVendors
) -> None:
    ctx = CallContext()
    result = await stability.generate_image(
        ImageGenerationRequest("a castle", size="1216x832", n=2, negative_prompt="fog", seed=7, style="anime"),
        ctx,
    )
    assert result.provider == "stability" and result.model == "stable-diffusion-xl-1024-v1-0"
    assert result.seeds == [7, 8] and result.cost_usd == pytest.approx(0.008)
    for data, content_type in result.images:
        assert content_type == "image/png"
        assert Image.open(io.BytesIO(data)).size == (1216, 832)
    (call,) = fakes.stability.calls
    assert call.json == {
        "engine_id": "stable-diffusion-xl-1024-v1-0",
        "prompts": [("a castle", 1.0), ("fog", -1.0)],
        "width": 1216,
        "height": 832,
        "samples": 2,
        "seed": [7],
    }
    assert ctx.vendor_job_id  # the request id sent to Stability


async def test_resource_exhausted_then_retry_succeeds(stability: StabilityProvider, fakes: FakeVendors) -> None:
    fakes.stability.fail(429)
    with pytest.raises(MediaTasksError) as caught:
        await stability.generate_image(ImageGenerationRequest("a castle"))
    assert caught.value.retryable and caught.value.reason == "PROVIDER_RATE_LIMITED"
    assert caught.value.metadata["vendor_code"] == "RESOURCE_EXHAUSTED"
    result = await stability.generate_image(ImageGenerationRequest("a castle"))
    assert len(result.images) == 1 and fakes.stability.count("generate") == 2


@pytest.mark.parametrize(("status", "reason"), [(503, "PROVIDER_UNAVAILABLE"), (500, "PROVIDER_UNAVAILABLE")])
async def test_unavailable_and_internal_are_transient(
    stability: StabilityProvider, fakes: FakeVendors, status: int, reason: str
) -> None:
    fakes.stability.fail(status)
    with pytest.raises(MediaTasksError) as caught:
        await stability.generate_image(ImageGenerationRequest("a castle"))
    assert caught.value.retryable and caught.value.reason == reason


async def test_filtered_prompt_is_a_content_policy_error(stability: StabilityProvider, fakes: FakeVendors) -> None:
    fakes.stability.reject_content()
    with pytest.raises(MediaTasksError) as caught:
        await stability.generate_image(ImageGenerationRequest("something forbidden"))
    assert caught.value.reason == "CONTENT_POLICY_VIOLATION" and not caught.value.retryable
    assert caught.value.metadata["vendor_code"] == "FILTER"


@pytest.mark.parametrize(("status", "reason"), [(400, "PROVIDER_REJECTED"), (401, "PROVIDER_AUTH_FAILED")])
async def test_invalid_argument_and_unauthenticated_are_permanent(
    stability: StabilityProvider, fakes: FakeVendors, status: int, reason: str
) -> None:
    fakes.stability.fail(status)
    with pytest.raises(MediaTasksError) as caught:
        await stability.generate_image(ImageGenerationRequest("a castle"))
    assert not caught.value.retryable and caught.value.reason == reason


async def test_deadline_ends_a_hanging_stream(make_settings: SettingsFactory, fakes: FakeVendors) -> None:
    provider = StabilityProvider(make_settings(provider_timeout_seconds=0.5))
    fakes.stability.hang(10)
    started = time.monotonic()
    try:
        with pytest.raises(MediaTasksError) as caught:
            await provider.generate_image(ImageGenerationRequest("a castle"))
    finally:
        await provider.aclose()
    assert time.monotonic() - started < 1.5
    assert caught.value.retryable and caught.value.reason == "PROVIDER_TIMEOUT"


async def test_cancellation_cancels_the_rpc(stability: StabilityProvider, fakes: FakeVendors) -> None:
    fakes.stability.hang(10)
    ctx = CallContext()
    task = asyncio.create_task(stability.generate_image(ImageGenerationRequest("a castle"), ctx))
    await cancel_after_call_reaches(task, lambda: fakes.stability.count("generate") == 1)
    # The server saw the RPC cancelled; Stability sends no confirmation of its own.
    await wait_until(lambda: fakes.stability.aborted == ["generate"], timeout=3)
    assert ctx.cancel_confirmed is False


async def test_size_that_is_not_a_multiple_of_64_is_invalid_input(
    stability: StabilityProvider, fakes: FakeVendors
) -> None:
    with pytest.raises(MediaTasksError) as caught:
        await stability.generate_image(ImageGenerationRequest("a castle", size="1000x1000"))
    assert caught.value.reason == "INVALID_INPUT" and fakes.stability.calls == []
