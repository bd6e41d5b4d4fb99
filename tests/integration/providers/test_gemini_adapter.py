"""The Gemini adapter through the real ``google-generativeai`` SDK (REST transport, File
API upload) and Veo's HTTP API, against the loopback Gemini fake."""

from __future__ import annotations

import asyncio
import io
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import av
import pytest
from helpers.providers import SettingsFactory, cancel_after_call_reaches, wait_until
from mediatasks.core.errors import MediaTasksError
from mediatasks.providers.base import CallContext
from mediatasks.providers.contracts import (
    ImageGenerationRequest,
    TranslationRequest,
    VideoAnalysisRequest,
    VideoGenerationRequest,
)
from mediatasks.providers.vendors.gemini_provider import GeminiProvider
from mediatasks.testing.fake_vendors import FakeVendors
from PIL import Image


@pytest.fixture()
async def gemini(make_settings: SettingsFactory) -> AsyncIterator[GeminiProvider]:
    provider = GeminiProvider(make_settings(), poll_interval_seconds=0.05)
    yield provider
    await provider.aclose()


async def test_video_analysis_uploads_waits_for_active_and_scores(
    gemini: GeminiProvider, fakes: FakeVendors, video_path: Path
) -> None:
    stages: list[str] = []
    ctx = CallContext(on_progress=lambda percent, stage: stages.append(stage))
    result = await gemini.analyze_video(VideoAnalysisRequest(str(video_path), transcript="hello from the clip"), ctx)
    fake = fakes.gemini
    assert result.provider == "gemini" and result.model == "gemini-2.5-flash"
    assert result.score["score"] == 7.5
    assert result.score["summary"] == "Reviewed 1 video(s), 2.0 s, and 4 transcript words."
    assert result.cost_usd > 0
    assert stages[:3] == ["uploading", "processing", "ai_analysis"]
    routes = fake.script.routes()
    # The SDK's resumable upload, then files.get until ACTIVE, then generateContent.
    assert routes[:3] == ["discovery", "upload.start", "upload.put"]
    assert routes.count("files.get") == fake.processing_polls
    assert routes[routes.index("generate") - 1] == "files.get"
    generate = next(c for c in fake.calls if c.route == "generate")
    assert generate.headers["x-goog-api-key"] == fake.api_key
    body = generate.json
    assert isinstance(body, dict)
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert set(config["responseSchema"]["properties"]) >= {"score", "creative_score"}
    file_part = body["contents"][0]["parts"][0]["fileData"]
    assert file_part["fileUri"].endswith(ctx.vendor_job_id.removeprefix("files/"))
    # The uploaded copy is deleted afterwards.
    await wait_until(lambda: fake.count("files.delete") == 1, timeout=5)
    assert fake.files == {}


async def test_file_that_fails_processing_is_unsupported_media(
    gemini: GeminiProvider, fakes: FakeVendors, video_path: Path
) -> None:
    fakes.gemini.file_failure = "Video codec not supported."
    with pytest.raises(MediaTasksError) as caught:
        await gemini.analyze_video(VideoAnalysisRequest(str(video_path)))
    assert caught.value.reason == "UNSUPPORTED_MEDIA" and not caught.value.retryable
    assert "Video codec not supported." in caught.value.message
    assert fakes.gemini.count("generate") == 0


async def test_upload_rate_limited_then_retry_succeeds(
    gemini: GeminiProvider, fakes: FakeVendors, video_path: Path
) -> None:
    fakes.gemini.fail(429, route="upload.start")
    with pytest.raises(MediaTasksError) as caught:
        await gemini.analyze_video(VideoAnalysisRequest(str(video_path)))
    assert caught.value.retryable and caught.value.reason == "PROVIDER_RATE_LIMITED"
    result = await gemini.analyze_video(VideoAnalysisRequest(str(video_path)))
    assert result.score["score"] == 7.5


async def test_generate_rate_limit_and_server_error_are_transient(gemini: GeminiProvider, fakes: FakeVendors) -> None:
    fakes.gemini.fail(429, route="generate")
    with pytest.raises(MediaTasksError) as caught:
        await gemini.translate(TranslationRequest(("hi",), "pt"))
    assert caught.value.reason == "PROVIDER_RATE_LIMITED"
    assert caught.value.metadata["vendor_code"] == "RESOURCE_EXHAUSTED"
    assert caught.value.message.startswith("gemini rate limit: Resource has been exhausted")
    fakes.gemini.fail(500, route="generate")
    with pytest.raises(MediaTasksError) as caught:
        await gemini.translate(TranslationRequest(("hi",), "pt"))
    assert caught.value.retryable and caught.value.reason == "PROVIDER_UNAVAILABLE"
    result = await gemini.translate(TranslationRequest(("hi", "there"), "pt"))
    assert result.texts == ["[pt] hi", "[pt] there"]
    # No hidden SDK retries: one request per call.
    assert fakes.gemini.count("generate") == 3


async def test_blocked_prompt_is_a_content_policy_error(gemini: GeminiProvider, fakes: FakeVendors) -> None:
    fakes.gemini.reject_content(route="generate")
    with pytest.raises(MediaTasksError) as caught:
        await gemini.translate(TranslationRequest(("hi",), "pt"))
    assert caught.value.reason == "CONTENT_POLICY_VIOLATION" and not caught.value.retryable
    assert caught.value.metadata["vendor_code"] == "SAFETY"


async def test_invalid_key_is_an_auth_failure_for_sdk_and_upload_calls(
    make_settings: SettingsFactory, fakes: FakeVendors, video_path: Path
) -> None:
    provider = GeminiProvider(make_settings(gemini_api_key="bad-key"))
    try:
        for call in (
            provider.translate(TranslationRequest(("hi",), "pt")),
            provider.analyze_video(VideoAnalysisRequest(str(video_path))),
            provider.generate_video(VideoGenerationRequest("x", seconds=4)),
        ):
            with pytest.raises(MediaTasksError) as caught:
                await call
            assert caught.value.reason == "PROVIDER_AUTH_FAILED", caught.value
            assert "API key not valid" in caught.value.message
    finally:
        await provider.aclose()


async def test_hang_hits_the_deadline_even_in_a_blocking_sdk_call(
    make_settings: SettingsFactory, fakes: FakeVendors
) -> None:
    provider = GeminiProvider(make_settings(provider_timeout_seconds=0.5))
    fakes.gemini.hang(3, route="generate")
    started = time.monotonic()
    try:
        with pytest.raises(MediaTasksError) as caught:
            await provider.translate(TranslationRequest(("hi",), "pt"))
    finally:
        await provider.aclose()
    assert time.monotonic() - started < 1.5
    assert caught.value.retryable and caught.value.reason == "PROVIDER_TIMEOUT"


async def test_cancelling_analysis_returns_at_once_without_vendor_cancel(
    gemini: GeminiProvider, fakes: FakeVendors, video_path: Path
) -> None:
    fakes.gemini.processing_polls = 1000  # stays PROCESSING
    ctx = CallContext()
    task = asyncio.create_task(gemini.analyze_video(VideoAnalysisRequest(str(video_path)), ctx))
    await cancel_after_call_reaches(task, lambda: fakes.gemini.count("files.get") >= 2)
    assert ctx.cancel_confirmed is False
    # The uploaded copy is still cleaned up.
    await wait_until(lambda: fakes.gemini.count("files.delete") == 1, timeout=5)


async def test_translation(gemini: GeminiProvider, fakes: FakeVendors) -> None:
    result = await gemini.translate(TranslationRequest(("one", "two", "three"), "de", "en"))
    assert result.texts == ["[de] one", "[de] two", "[de] three"]
    assert result.provider == "gemini" and result.cost_usd > 0


async def test_image_generation_through_response_modalities(gemini: GeminiProvider, fakes: FakeVendors) -> None:
    result = await gemini.generate_image(ImageGenerationRequest("a lighthouse", n=2))
    assert len(result.images) == 2 and result.model == "gemini-2.5-flash-image"
    data, content_type = result.images[0]
    assert content_type == "image/png" and Image.open(io.BytesIO(data)).size == (1024, 1024)
    assert result.cost_usd == pytest.approx(0.078)
    body = fakes.gemini.calls[0].json
    assert isinstance(body, dict)
    assert body["generationConfig"]["responseModalities"] == [1, 2]  # TEXT, IMAGE


async def test_veo_video_generation(gemini: GeminiProvider, fakes: FakeVendors, tmp_path: Path) -> None:
    ctx = CallContext()
    video = await gemini.generate_video(
        VideoGenerationRequest(
            "waves at dusk",
            seconds=6,
            size="720x1280",
            negative_prompt="people",
            output_path=str(tmp_path / "veo.mp4"),
        ),
        ctx,
    )
    assert video.provider == "gemini" and video.content_type == "video/mp4"
    assert video.cost_usd == pytest.approx(2.4)
    assert ctx.vendor_job_id.startswith("models/veo-3.1-generate-preview/operations/")
    predict = fakes.gemini.calls[0].json
    assert predict == {
        "instances": [{"prompt": "waves at dusk"}],
        "parameters": {"aspectRatio": "9:16", "durationSeconds": 6, "negativePrompt": "people"},
    }
    with av.open(str(video.path)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (72, 128)  # the fake renders at 1/10 size
        assert float(container.duration) / 1_000_000 == pytest.approx(6.0, abs=0.2)


async def test_a_generated_video_bigger_than_memory_streams_to_its_file(
    gemini: GeminiProvider, fakes: FakeVendors, tmp_path: Path
) -> None:
    padding = 256 * 1024 * 1024
    fakes.gemini.video_padding_bytes = padding
    dest = tmp_path / "big.mp4"
    tracemalloc.start()
    try:
        video = await gemini.generate_video(VideoGenerationRequest("a long take", seconds=4, output_path=str(dest)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert video.path == dest and dest.stat().st_size > padding
    assert peak < 32 * 1024 * 1024  # the download passed through a chunk at a time


async def test_veo_filtered_output_is_a_content_policy_error(gemini: GeminiProvider, fakes: FakeVendors) -> None:
    fakes.gemini.reject_content(route="predict")
    with pytest.raises(MediaTasksError) as caught:
        await gemini.generate_video(VideoGenerationRequest("x", seconds=4))
    assert caught.value.reason == "CONTENT_POLICY_VIOLATION"
    assert "usage guidelines" in caught.value.message


async def test_cancelling_veo_cancels_the_operation_at_google(gemini: GeminiProvider, fakes: FakeVendors) -> None:
    fakes.gemini.operation_polls = 1000
    ctx = CallContext()
    task = asyncio.create_task(gemini.generate_video(VideoGenerationRequest("x", seconds=8), ctx))
    await cancel_after_call_reaches(task, lambda: fakes.gemini.count("operations.get") >= 2)
    assert ctx.cancel_confirmed is True
    assert fakes.gemini.count("operations.cancel") == 1
    operation_id = ctx.vendor_job_id.rsplit("/", 1)[-1]
    assert fakes.gemini.operations[operation_id]["cancelled"] is True
