"""The AssemblyAI adapter through the real ``assemblyai`` SDK against its loopback fake."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from helpers.providers import SettingsFactory, cancel_after_call_reaches, wait_until
from mediatasks.core.errors import MediaTasksError
from mediatasks.providers.base import CallContext
from mediatasks.providers.contracts import TranscriptionRequest
from mediatasks.providers.vendors.assemblyai_provider import AssemblyAIProvider
from mediatasks.testing.fake_vendors import FakeVendors


@pytest.fixture()
async def assemblyai(make_settings: SettingsFactory) -> AsyncIterator[AssemblyAIProvider]:
    provider = AssemblyAIProvider(make_settings(), poll_interval_seconds=0.05)
    yield provider
    await provider.aclose()


async def test_transcribes_with_words_language_and_speakers(
    assemblyai: AssemblyAIProvider, fakes: FakeVendors, audio_path: Path
) -> None:
    ctx = CallContext()
    result = await assemblyai.transcribe(TranscriptionRequest(str(audio_path), speaker_labels=True), ctx)
    fake = fakes.assemblyai
    assert result.provider == "assemblyai" and result.model == "universal"
    assert result.text == fake.transcript_text
    assert [w.text for w in result.words] == fake.transcript_text.split()
    # Milliseconds on the wire, seconds in the result.
    assert result.words[-1].end == pytest.approx(2.0, abs=0.25)
    assert result.words[0].confidence == pytest.approx(0.93)
    assert result.language == "en" and result.duration == pytest.approx(2.0)
    assert [u.speaker for u in result.utterances] == ["A", "B"]
    assert result.cost_usd == pytest.approx(2.0 / 3600 * 0.17, rel=0.01)
    assert ctx.vendor_job_id in fake.transcripts
    upload, create, *polls = fake.calls
    assert (upload.route, create.route) == ("upload", "transcript.create")
    assert upload.headers["authorization"] == fake.api_key
    assert upload.body_bytes == audio_path.stat().st_size
    assert create.json == {
        "audio_url": create.json["audio_url"],  # type: ignore[index]
        "speaker_labels": True,
        "language_detection": True,
    }
    assert len(polls) == fake.polls_until_complete


async def test_explicit_language_and_model_are_sent(
    assemblyai: AssemblyAIProvider, fakes: FakeVendors, audio_path: Path
) -> None:
    result = await assemblyai.transcribe(TranscriptionRequest(str(audio_path), language="es-ES", model="slam-1"))
    create = fakes.assemblyai.calls[1].json
    assert isinstance(create, dict)
    assert create["language_code"] == "es" and create["speech_models"] == ["slam-1"]
    assert "language_detection" not in create
    assert result.language == "es" and result.model == "slam-1" and result.utterances == []


async def test_rate_limit_then_retry_succeeds(
    assemblyai: AssemblyAIProvider, fakes: FakeVendors, audio_path: Path
) -> None:
    fakes.assemblyai.fail(429, route="transcript.create", retry_after=2)
    with pytest.raises(MediaTasksError) as caught:
        await assemblyai.transcribe(TranscriptionRequest(str(audio_path)))
    assert caught.value.retryable and caught.value.reason == "PROVIDER_RATE_LIMITED"
    assert "Too many requests" in caught.value.message
    result = await assemblyai.transcribe(TranscriptionRequest(str(audio_path)))
    assert result.text == fakes.assemblyai.transcript_text


async def test_server_error_while_polling_is_transient(
    assemblyai: AssemblyAIProvider, fakes: FakeVendors, audio_path: Path
) -> None:
    fakes.assemblyai.fail(503, route="transcript.get")
    with pytest.raises(MediaTasksError) as caught:
        await assemblyai.transcribe(TranscriptionRequest(str(audio_path)))
    assert caught.value.retryable and caught.value.reason == "PROVIDER_UNAVAILABLE"


async def test_failed_transcript_of_non_audio_is_unsupported_media(
    assemblyai: AssemblyAIProvider, fakes: FakeVendors, audio_path: Path
) -> None:
    fakes.assemblyai.transcript_error = (
        "Transcoding failed. File does not appear to contain audio. File type is text/plain."
    )
    with pytest.raises(MediaTasksError) as caught:
        await assemblyai.transcribe(TranscriptionRequest(str(audio_path)))
    assert caught.value.reason == "UNSUPPORTED_MEDIA" and not caught.value.retryable
    assert "does not appear to contain audio" in caught.value.message


async def test_wrong_key_is_a_permanent_auth_failure(
    make_settings: SettingsFactory, fakes: FakeVendors, audio_path: Path
) -> None:
    provider = AssemblyAIProvider(make_settings(assemblyai_api_key="wrong"))
    try:
        with pytest.raises(MediaTasksError) as caught:
            await provider.transcribe(TranscriptionRequest(str(audio_path)))
    finally:
        await provider.aclose()
    assert caught.value.reason == "PROVIDER_AUTH_FAILED" and not caught.value.retryable
    assert fakes.assemblyai.count("transcript.create") == 0


async def test_hanging_poll_hits_the_deadline(
    make_settings: SettingsFactory, fakes: FakeVendors, audio_path: Path
) -> None:
    provider = AssemblyAIProvider(make_settings(provider_timeout_seconds=0.6), poll_interval_seconds=0.05)
    fakes.assemblyai.hang(10, route="transcript.get")
    started = time.monotonic()
    try:
        with pytest.raises(MediaTasksError) as caught:
            await provider.transcribe(TranscriptionRequest(str(audio_path)))
    finally:
        await provider.aclose()
    assert time.monotonic() - started < 2.0
    assert caught.value.retryable and caught.value.reason == "PROVIDER_TIMEOUT"


async def test_cancellation_stops_polling_and_reports_no_vendor_cancel(
    assemblyai: AssemblyAIProvider, fakes: FakeVendors, audio_path: Path
) -> None:
    fakes.assemblyai.hang(10, route="transcript.get")
    ctx = CallContext()
    task = asyncio.create_task(assemblyai.transcribe(TranscriptionRequest(str(audio_path)), ctx))
    await cancel_after_call_reaches(task, lambda: fakes.assemblyai.count("transcript.get") == 1)
    # AssemblyAI has no cancel endpoint: the job may still finish (and bill) there.
    assert ctx.cancel_confirmed is False and ctx.vendor_job_id
    await wait_until(lambda: fakes.assemblyai.aborted == ["transcript.get"], timeout=3)


async def test_missing_file_is_invalid_input(assemblyai: AssemblyAIProvider, fakes: FakeVendors) -> None:
    with pytest.raises(MediaTasksError) as caught:
        await assemblyai.transcribe(TranscriptionRequest("/nonexistent/audio.wav"))
    assert caught.value.reason == "INVALID_INPUT"
    assert fakes.assemblyai.calls == []
