"""The OpenAI adapter through the real ``openai`` SDK against the loopback OpenAI fake."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path

import av
import pytest
from helpers.providers import SettingsFactory, cancel_after_call_reaches, wait_until
from mediatasks.core.errors import MediaTasksError
from mediatasks.providers.base import CallContext
from mediatasks.providers.contracts import (
    ImageGenerationRequest,
    TranscriptionRequest,
    TranslationRequest,
    VideoAnalysisRequest,
    VideoGenerationRequest,
)
from mediatasks.providers.vendors.openai_provider import OpenAIProvider
from mediatasks.testing.fake_vendors import FakeVendors
from PIL import Image


@pytest.fixture()
async def openai_provider(make_settings: SettingsFactory) -> AsyncIterator[OpenAIProvider]:
    provider = OpenAIProvider(make_settings(), poll_interval_seconds=0.05)
    yield provider
    await provider.aclose()


async def test_generate_image_returns_decodable_images_and_cost(
    openai_provider: OpenAIProvider, fakes: FakeVendors
) -> None:
    result = await openai_provider.generate_image(
        ImageGenerationRequest("a red fox", size="1536x1024", n=2, quality="low")
    )
    assert result.provider == "openai" and result.model == "gpt-image-2"
    assert len(result.images) == 2
    data, content_type = result.images[0]
    assert content_type == "image/png"
    assert Image.open(io.BytesIO(data)).size == (1536, 1024)
    assert result.cost_usd > 0
    (call,) = fakes.openai.calls
    assert call.headers["authorization"] == f"Bearer {fakes.openai.api_key}"
    assert call.json == {
        "prompt": "a red fox",
        "model": "gpt-image-2",
        "n": 2,
        "size": "1536x1024",
        "quality": "low",
        "output_format": "png",
    }


async def test_legacy_dalle_parameters_and_revised_prompt(openai_provider: OpenAIProvider, fakes: FakeVendors) -> None:
    result = await openai_provider.generate_image(
        ImageGenerationRequest("a fox", model="dall-e-3", quality="high", style="natural")
    )
    assert result.revised_prompt == "A detailed picture of a fox"
    assert result.cost_usd == pytest.approx(0.08)
    sent = fakes.openai.calls[0].json
    assert isinstance(sent, dict)
    assert (sent["quality"], sent["style"], sent["response_format"]) == (
        "hd",
        "natural",
        "b64_json",
    )


async def test_rate_limit_is_transient_then_the_retry_succeeds(
    openai_provider: OpenAIProvider, fakes: FakeVendors
) -> None:
    fakes.openai.fail(429, route="images", retry_after=0.25)
    with pytest.raises(MediaTasksError) as caught:
        await openai_provider.generate_image(ImageGenerationRequest("a fox"))
    error = caught.value
    assert error.retryable and error.reason == "PROVIDER_RATE_LIMITED"
    assert error.metadata["retry_after_seconds"] == "0.25"
    assert error.metadata["vendor_code"] == "rate_limit_exceeded"
    # The SDK's own retries are off: one request, one answer.
    assert fakes.openai.count("images") == 1
    result = await openai_provider.generate_image(ImageGenerationRequest("a fox"))
    assert len(result.images) == 1 and fakes.openai.count("images") == 2


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_transient(openai_provider: OpenAIProvider, fakes: FakeVendors, status: int) -> None:
    fakes.openai.fail(status, route="chat")
    with pytest.raises(MediaTasksError) as caught:
        await openai_provider.translate(TranslationRequest(("hi",), "es"))
    assert caught.value.retryable and caught.value.reason == "PROVIDER_UNAVAILABLE"
    assert caught.value.metadata["vendor_status"] == str(status)


async def test_content_policy_is_permanent_with_the_vendor_reason(
    openai_provider: OpenAIProvider, fakes: FakeVendors
) -> None:
    fakes.openai.reject_content(route="images")
    with pytest.raises(MediaTasksError) as caught:
        await openai_provider.generate_image(ImageGenerationRequest("something forbidden"))
    error = caught.value
    assert not error.retryable and error.reason == "CONTENT_POLICY_VIOLATION"
    assert "safety system" in error.message
    assert error.metadata["vendor_code"] == "content_policy_violation"


async def test_bad_request_and_bad_key_are_permanent(
    make_settings: SettingsFactory, fakes: FakeVendors, openai_provider: OpenAIProvider
) -> None:
    fakes.openai.fail(400, route="images", message="Invalid size '9x9'.")
    with pytest.raises(MediaTasksError) as caught:
        await openai_provider.generate_image(ImageGenerationRequest("a fox"))
    assert caught.value.reason == "PROVIDER_REJECTED" and not caught.value.retryable
    assert "Invalid size '9x9'." in caught.value.message
    wrong_key = OpenAIProvider(make_settings(openai_api_key="sk-wrong"))
    try:
        with pytest.raises(MediaTasksError) as caught:
            await wrong_key.generate_image(ImageGenerationRequest("a fox"))
    finally:
        await wrong_key.aclose()
    assert caught.value.reason == "PROVIDER_AUTH_FAILED" and not caught.value.retryable
    assert "MEDIATASKS_OPENAI_API_KEY" in caught.value.message


async def test_deadline_turns_a_hang_into_a_transient_timeout(
    make_settings: SettingsFactory, fakes: FakeVendors
) -> None:
    provider = OpenAIProvider(make_settings(provider_timeout_seconds=0.5))
    fakes.openai.hang(10, route="images")
    started = time.monotonic()
    try:
        with pytest.raises(MediaTasksError) as caught:
            await provider.generate_image(ImageGenerationRequest("a fox"))
    finally:
        await provider.aclose()
    assert time.monotonic() - started < 2.0
    assert caught.value.retryable and caught.value.reason == "PROVIDER_TIMEOUT"


async def test_a_tighter_caller_deadline_wins(openai_provider: OpenAIProvider, fakes: FakeVendors) -> None:
    fakes.openai.hang(10, route="chat")
    with pytest.raises(MediaTasksError) as caught:
        await openai_provider.translate(TranslationRequest(("hi",), "es"), CallContext(timeout_seconds=0.3))
    assert caught.value.reason == "PROVIDER_TIMEOUT"


async def test_cancellation_closes_the_request_without_vendor_confirmation(
    openai_provider: OpenAIProvider, fakes: FakeVendors
) -> None:
    fakes.openai.hang(10, route="images")
    ctx = CallContext()
    task = asyncio.create_task(openai_provider.generate_image(ImageGenerationRequest("a"), ctx))
    await cancel_after_call_reaches(task, lambda: fakes.openai.count("images") == 1)
    assert ctx.cancel_confirmed is False
    # The fake saw the connection close while it was still working on the call.
    await wait_until(lambda: fakes.openai.aborted == ["images"], timeout=3)


async def test_transcription_with_word_timings(
    openai_provider: OpenAIProvider, fakes: FakeVendors, audio_path: Path
) -> None:
    result = await openai_provider.transcribe(TranscriptionRequest(str(audio_path), language="en"))
    assert result.text == fakes.openai.transcript_text
    assert result.language == "en" and result.duration == pytest.approx(2.0, abs=0.05)
    assert [w.text for w in result.words] == fakes.openai.transcript_text.split()
    assert all(0 <= w.start < w.end <= 2.05 for w in result.words)
    assert 0 < result.words[0].confidence <= 1
    assert result.cost_usd == pytest.approx(2.0 / 60 * 0.006, rel=0.05)
    assert result.utterances == []
    fields = fakes.openai.calls[0].fields
    assert fields["model"] == "whisper-1" and fields["response_format"] == "verbose_json"
    assert fields["timestamp_granularities"] == "word,segment"
    assert fields["file"] == "tone.wav"


async def test_transcription_with_speaker_labels_uses_the_diarize_model(
    openai_provider: OpenAIProvider, fakes: FakeVendors, audio_path: Path
) -> None:
    result = await openai_provider.transcribe(TranscriptionRequest(str(audio_path), speaker_labels=True))
    assert [u.speaker for u in result.utterances] == ["A", "B"]
    assert " ".join(u.text for u in result.utterances) == fakes.openai.transcript_text
    assert [w.text for w in result.words] == fakes.openai.transcript_text.split()
    assert result.words[-1].end == pytest.approx(result.utterances[-1].end, abs=0.01)
    assert fakes.openai.calls[0].fields["model"] == "gpt-4o-transcribe-diarize"


async def test_translation_keeps_order_and_count(openai_provider: OpenAIProvider, fakes: FakeVendors) -> None:
    texts = tuple(f"line {i}" for i in range(130))  # more than one batch
    result = await openai_provider.translate(TranslationRequest(texts, "es"))
    assert result.texts == [f"[es] line {i}" for i in range(130)]
    assert fakes.openai.count("chat") == 2 and result.cost_usd > 0


async def test_translation_with_wrong_count_is_a_bad_response(
    openai_provider: OpenAIProvider, fakes: FakeVendors
) -> None:
    fakes.openai.chat_reply = lambda body: '{"translations": ["only one"]}'
    with pytest.raises(MediaTasksError) as caught:
        await openai_provider.translate(TranslationRequest(("a", "b"), "es"))
    assert caught.value.reason == "PROVIDER_BAD_RESPONSE" and caught.value.retryable


async def test_video_analysis_sends_frames_and_transcript(
    openai_provider: OpenAIProvider, fakes: FakeVendors, video_path: Path
) -> None:
    result = await openai_provider.analyze_video(VideoAnalysisRequest(str(video_path), transcript="three words here"))
    assert result.score["score"] == 7.5
    assert result.score["summary"] == "Reviewed 4 frames and 3 transcript words."
    assert set(result.score) >= {"creative_score", "strengths", "improvements", "detected_issues"}
    sent = fakes.openai.calls[0].json
    assert isinstance(sent, dict)
    assert sent["response_format"]["json_schema"]["name"] == "video_score"


async def test_video_analysis_of_a_corrupt_file_is_unsupported_media(
    openai_provider: OpenAIProvider, fakes: FakeVendors, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    with pytest.raises(MediaTasksError) as caught:
        await openai_provider.analyze_video(VideoAnalysisRequest(str(broken)))
    assert caught.value.reason == "UNSUPPORTED_MEDIA"
    assert fakes.openai.count("chat") == 0


async def test_video_generation_polls_and_downloads_an_mp4(
    openai_provider: OpenAIProvider, fakes: FakeVendors, tmp_path: Path
) -> None:
    progress: list[float] = []
    ctx = CallContext(on_progress=lambda percent, stage: progress.append(percent))
    video = await openai_provider.generate_video(
        VideoGenerationRequest("a dog on a beach", seconds=4, size="1280x720", output_path=str(tmp_path / "out.mp4")),
        ctx,
    )
    assert video.provider == "openai" and video.model == "sora-2"
    assert video.cost_usd == pytest.approx(0.4)
    assert ctx.vendor_job_id == video.vendor_job_id and video.vendor_job_id.startswith("video_")
    with av.open(str(video.path)) as container:
        assert float(container.duration) / 1_000_000 == pytest.approx(4.0, abs=0.2)
    assert fakes.openai.count("videos.retrieve") == fakes.openai.video_polls
    assert progress == sorted(progress) and progress[-1] >= 90


async def test_failed_video_job_for_moderation_is_a_content_policy_error(
    openai_provider: OpenAIProvider, fakes: FakeVendors
) -> None:
    fakes.openai.video_failure = ("moderation_blocked", "The prompt was blocked by moderation.")
    with pytest.raises(MediaTasksError) as caught:
        await openai_provider.generate_video(VideoGenerationRequest("x", seconds=4))
    assert caught.value.reason == "CONTENT_POLICY_VIOLATION"
    assert "blocked by moderation" in caught.value.message


async def test_cancelling_a_video_job_deletes_it_at_openai(openai_provider: OpenAIProvider, fakes: FakeVendors) -> None:
    fakes.openai.video_polls = 1000
    ctx = CallContext()
    task = asyncio.create_task(openai_provider.generate_video(VideoGenerationRequest("a dog", seconds=8), ctx))
    await cancel_after_call_reaches(task, lambda: fakes.openai.count("videos.retrieve") >= 2)
    assert ctx.cancel_confirmed is True
    assert fakes.openai.count("videos.delete") == 1
    assert fakes.openai.videos[ctx.vendor_job_id]["deleted"] is True


async def test_unsupported_video_length_is_invalid_input(openai_provider: OpenAIProvider) -> None:
    with pytest.raises(MediaTasksError) as caught:
        await openai_provider.generate_video(VideoGenerationRequest("x", seconds=5))
    assert caught.value.reason == "INVALID_INPUT"
